"""Memory (PSS) of the trainer's worker processes on a year of real 5m candles: what each extra worker adds.

PSS (proportional set size, ``/proc/<pid>/smaps_rollup``) splits every shared page among the processes that map it,
so the sum over processes is the machine's real cost: pages the forkserver preloaded (torch, numpy) or the shared
dataset block count once, private copies count per worker. The script builds the training VecEnv (``ParallelVecEnv``
of the trainer, default start method) for 2 and for 4 workers, resets and steps it, and sums the PSS of the main
process, the forkserver and the workers; the extra cost per worker is the difference divided by 2. Each set-up runs
in a fresh process, ``--repeats`` times, and the median is reported (the main process's heap varies by some 20 MB
from run to run). Writes benchmarks/out/worker_memory_k<envs per worker>[_copies].json.

    python benchmarks/worker_memory.py [--envs-per-worker 4] [--steps 64] [--repeats 3] [--copies]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv

from bot.config import BotConfig, load_config
from bot.data import Dataset, Universe, build_dataset
from bot.training.trainer import build_train_env, env_factory
from bot.training.vec_env import ParallelVecEnv

OUT = Path(__file__).resolve().parent / "out" / "worker_memory_k{k}{copies}.json"
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "binance_spot_2023" / "BTC_USDT-5m.csv.gz"


def pss_mb(pid: int) -> float:
    """PSS of one process in MB (10^6 bytes)."""
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no Pss line for pid {pid}")


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (the forkserver and, under it, the workers)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *_children(int(child))]
    return found


def start_train_env(cfg: BotConfig, data: Dataset | Universe, copies: bool) -> tuple[VecEnv, ParallelVecEnv]:
    """The trainer's training VecEnv over ``data`` (shared block), or with ``copies`` one pickled copy per worker.

    :return: the outer VecEnv and the ParallelVecEnv of the workers.
    """
    if copies:
        t = cfg.training
        assert isinstance(t.n_workers, int)  # the benchmarks set it
        inner = ParallelVecEnv(env_factory(cfg, data), t.n_workers, t.n_envs_per_worker)
        return inner, inner
    env, inner, _ = build_train_env(cfg, data, None)
    return env, inner


def step_workers(env: VecEnv, inner: ParallelVecEnv, steps: int) -> list[int]:
    """Reset, take ``steps`` random steps, let freed pages settle; the workers' process ids."""
    env.reset()
    rng = np.random.default_rng(0)
    for _ in range(steps):
        env.step(rng.integers(0, env.action_space.n, env.num_envs))  # type: ignore[attr-defined]
    time.sleep(0.5)
    return [w.process.pid for w in inner._workers if w.process.pid is not None]  # type: ignore[union-attr]


def measure(n_workers: int, envs_per_worker: int, steps: int, copies: bool) -> dict[str, Any]:
    """PSS of the main process and of every child after building, resetting and stepping the training VecEnv.

    :param copies: give each worker its own pickled copy of the dataset (what the trainer did before
        :class:`~bot.training.shared_dataset.SharedDataset`), for comparison.
    """
    cfg = load_config(
        None,
        [
            "data.source=file",
            f"data.path={DATA}",
            f"training.n_workers={n_workers}",
            f"training.n_envs_per_worker={envs_per_worker}",
        ],
    )
    dataset = build_dataset(cfg)
    env, inner = start_train_env(cfg, dataset, copies)
    try:
        workers = step_workers(env, inner, steps)
        others = [pid for pid in _children(os.getpid()) if pid not in workers]
        return {
            "n_workers": n_workers,
            "main_mb": pss_mb(os.getpid()),
            "workers_mb": [pss_mb(pid) for pid in workers],
            "helpers_mb": [pss_mb(pid) for pid in others],  # forkserver, resource tracker
            "bars": len(dataset.market),
            "features": int(dataset.obs_features.shape[1]),
        }
    finally:
        env.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs-per-worker", type=int, default=4)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--copies", action="store_true", help="one pickled dataset copy per worker (the old way)")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)  # internal: one set-up, JSON on stdout
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.envs_per_worker, args.steps, args.copies)))
        return
    samples: dict[int, list[dict[str, Any]]] = {2: [], 4: []}
    for _ in range(args.repeats):
        for n_workers in samples:
            # a fresh process per set-up, so one does not leave memory behind in the next
            cmd = [sys.executable, __file__, "--measure", str(n_workers), "--steps", str(args.steps)]
            cmd += ["--envs-per-worker", str(args.envs_per_worker), *(["--copies"] if args.copies else [])]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            run = json.loads(done.stdout.splitlines()[-1])
            run["total_mb"] = run["main_mb"] + sum(run["workers_mb"]) + sum(run["helpers_mb"])
            samples[n_workers].append(run)
    runs = [sorted(samples[n], key=lambda r: r["total_mb"])[len(samples[n]) // 2] for n in samples]  # the medians
    per_worker = (runs[1]["total_mb"] - runs[0]["total_mb"]) / 2
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "envs_per_worker": args.envs_per_worker,
        "dataset": "a pickled copy per worker" if args.copies else "shared read-only block",
        "repeats": args.repeats,
        "runs": runs,
        "all_totals_mb": {n: [r["total_mb"] for r in samples[n]] for n in samples},
        "extra_worker_pss_mb": per_worker,
    }
    out = Path(str(OUT).format(k=args.envs_per_worker, copies="_copies" if args.copies else ""))
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    for run in runs:
        workers = ", ".join(f"{mb:.0f}" for mb in run["workers_mb"])
        print(
            f"{run['n_workers']} workers: total PSS {run['total_mb']:.0f} MB (main {run['main_mb']:.0f},"
            f" workers {workers}, helpers {sum(run['helpers_mb']):.0f})"
        )
    print(f"extra PSS per worker: {per_worker:.0f} MB ({runs[0]['bars']} bars x {runs[0]['features']} features)")


if __name__ == "__main__":
    main()
