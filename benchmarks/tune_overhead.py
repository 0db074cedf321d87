"""Ray Tune overhead: N small trials through ``bot tune`` vs the same trials run one after the other with ``bot train``.

Three measurements, all on the same tiny synthetic config (one in-process worker per trial, validation every
``--steps / 4`` env steps, as the tune trials report):

1. ``sequential_train_s``: ``python -m bot train`` N times, one after the other (seeds 1..N), wall time in total;
2. ``tune_one_at_a_time_s``: ``python -m bot tune`` over the same N seeds (a ``grid`` on ``seed``), ``--max-concurrent
   1``: the overhead of Ray and Tune itself is ``tune_one_at_a_time_s / sequential_train_s - 1`` (target <= 10 %);
3. ``tune_concurrent_s``: the same experiment with ``--max-concurrent C`` and ``C`` trials fitted to the cores
   (``--cpus-per-trial cores / C``), its trials per hour, and the peak memory (PSS of the driver and every process
   under it: Ray's GCS, raylet, workers and the trials) next to the size of the dataset every trial shares.

Each size of ``--steps`` runs ``--rounds`` rounds of (1) then (2), interleaved; with ``--baseline DIR`` (a ``git
worktree`` of an older commit) every round also times that checkout's ``bot tune``, so old and new see the same
load. ``--costs`` first times Ray's fixed costs alone: ``import ray``, ``ray.init`` as ``bot tune`` starts it, an
actor's import of torch and SB3, N empty trials with and without actor reuse, ``ray.shutdown``.

Writes benchmarks/out/tune_overhead.json. Runs unchanged on a bigger machine, e.g.
``python benchmarks/tune_overhead.py --trials 8 --concurrent 8 --steps 20000`` on 16 cores (8 concurrent vs 1).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out" / "tune_overhead.json"


def _overrides(steps: int, n_bars: int, checkpoint_dir: Path) -> list[str]:
    return [
        f"data.synthetic.n_bars={n_bars}",
        "data.timeframes=[5m]",
        "features.indicators=[log_return, rsi, macd]",
        "env.window=8",
        "env.episode_length=128",
        f"training.checkpoint_dir={checkpoint_dir}",
        "training.n_workers=1",
        "training.n_envs_per_worker=2",
        f"training.total_timesteps={steps}",
        "training.checkpoint_freq=0",
        f"training.eval_freq={steps // 4}",
        "training.ppo.n_steps=64",
        "training.ppo.batch_size=64",
        "training.ppo.n_epochs=2",
        "training.ppo.net_arch=[32, 32]",
        "training.torch_threads=1",
        "logging.console=false",
    ]


def _set_args(overrides: list[str]) -> list[str]:
    return [arg for o in overrides for arg in ("--set", o)]


class PeakMemory:
    """Samples the summed PSS of a process and all its descendants every ``every_s`` seconds, keeping the peak."""

    def __init__(self, pid: int, every_s: float = 0.5) -> None:
        self.root = psutil.Process(pid)
        self.every_s = every_s
        self.peak_bytes = 0
        self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            total = 0
            for proc in procs:
                try:
                    total += proc.memory_full_info().pss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            if total > self.peak_bytes:
                self.peak_bytes, self.peak_processes = total, len(procs)

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join()


def _run(command: list[str], label: str, measure_memory: bool = False,
         cwd: Path = ROOT) -> tuple[float, PeakMemory | None]:
    """Run ``command`` in ``cwd`` (a baseline checkout: its own ``bot`` package, in the driver and Ray's workers)."""
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    start = time.monotonic()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    memory = PeakMemory(proc.pid) if measure_memory else None
    _, stderr = proc.communicate()
    if memory is not None:
        memory.stop()
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed (exit {proc.returncode}):\n{stderr[-4000:]}")
    print(f"{label}: {elapsed:.1f} s")
    return elapsed, memory


def _dataset_bytes(overrides: list[str]) -> int:
    from bot.config import load_config
    from bot.data import build_dataset

    return len(pickle.dumps(build_dataset(load_config(ROOT / "config" / "demo.yaml", overrides)), protocol=5))


def _ray_costs(n_trials: int) -> dict[str, float]:
    """Where Tune's fixed seconds go, measured in this process: ``import ray``, ``ray.init`` as ``bot tune`` starts it,
    an actor's import of torch + SB3 + the trainer, ``n_trials`` empty trials one at a time with and without actor
    reuse, and ``ray.shutdown``."""
    costs: dict[str, float] = {}
    start = time.monotonic()
    import ray
    from ray import tune

    from bot.tune.experiment import start_ray

    costs["import_ray_tune_s"] = time.monotonic() - start
    start = time.monotonic()
    start_ray(None, os.cpu_count())
    costs["ray_init_s"] = time.monotonic() - start

    @ray.remote
    class Importer:
        def imports(self) -> float:
            begin = time.monotonic()
            import stable_baselines3  # noqa: F401
            import torch  # noqa: F401

            import bot.training  # noqa: F401

            return time.monotonic() - begin

    start = time.monotonic()
    costs["actor_import_torch_sb3_trainer_s"] = ray.get(Importer.remote().imports.remote())  # type: ignore[attr-defined]
    costs["actor_start_and_import_s"] = time.monotonic() - start

    def empty(config: dict[str, Any]) -> None:
        tune.report({"x": 1.0})

    with tempfile.TemporaryDirectory(prefix="tune-costs-") as tmp:
        for reuse in (False, True):
            start = time.monotonic()
            tune.Tuner(empty, param_space={"s": tune.grid_search(list(range(n_trials)))},
                       tune_config=tune.TuneConfig(reuse_actors=reuse, max_concurrent_trials=1),
                       run_config=tune.RunConfig(storage_path=tmp, name=f"reuse_{reuse}", verbose=0)).fit()
            costs[f"empty_trials_reuse_{str(reuse).lower()}_s"] = time.monotonic() - start
    start = time.monotonic()
    ray.shutdown()
    costs["ray_shutdown_s"] = time.monotonic() - start
    return {k: round(v, 2) for k, v in costs.items()}


def _machine() -> str:
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"{psutil.virtual_memory().total / 1024**3:.0f} GiB")


def _one_size(args: argparse.Namespace, steps: int, work: Path) -> dict[str, Any]:
    """The three measurements at ``steps`` env steps per trial, rounds interleaved (train, tune, baseline tune)."""
    overrides = _overrides(steps, args.n_bars, work / f"checkpoints_{steps}")
    space = work / "seeds.yaml"
    space.write_text(f"seed: {{grid: {list(range(1, args.trials + 1))}}}\n", encoding="utf-8")
    tune_args = ["tune", "--space", str(space), "--trials", "1", "--scheduler", "fifo", *_set_args(overrides)]
    sequential: list[float] = []
    one_at_a_time: list[float] = []
    baseline: list[float] = []
    memory_one: PeakMemory | None = None
    for r in range(args.rounds):
        total = 0.0
        for seed in range(1, args.trials + 1):
            elapsed, _ = _run([sys.executable, "-m", "bot", "train", "--no-progress", "--seed", str(seed),
                               *_set_args(overrides)], f"[{steps}] bot train seed {seed}")
            total += elapsed
        sequential.append(total)
        elapsed, memory_one = _run([sys.executable, "-m", "bot", *tune_args, "--storage", str(work / "tune_runs"),
                                    "--name", f"one_{steps}_{r}", "--max-concurrent", "1"],
                                   f"[{steps}] bot tune, 1 at a time", measure_memory=True)
        one_at_a_time.append(elapsed)
        if args.baseline is not None:
            elapsed, _ = _run([sys.executable, "-m", "bot", *tune_args, "--storage", str(work / "tune_runs_base"),
                               "--name", f"one_{steps}_{r}", "--max-concurrent", "1"],
                              f"[{steps}] baseline bot tune, 1 at a time", cwd=args.baseline)
            baseline.append(elapsed)
    best_train, best_tune = min(sequential), min(one_at_a_time)
    result: dict[str, Any] = {
        "steps_per_trial": steps,
        "sequential_train_s": [round(x, 2) for x in sequential],
        "tune_one_at_a_time_s": [round(x, 2) for x in one_at_a_time],
        "tune_overhead_best_of_rounds": round(best_tune / best_train - 1.0, 4),
        "tune_overhead_per_round": [round(t / s - 1.0, 4) for t, s in zip(one_at_a_time, sequential, strict=True)],
        "peak_pss_one_at_a_time_mib": round(memory_one.peak_bytes / 1024**2, 1) if memory_one else None,
    }
    if baseline:
        result["baseline_tune_one_at_a_time_s"] = [round(x, 2) for x in baseline]
        result["baseline_tune_overhead_best_of_rounds"] = round(min(baseline) / best_train - 1.0, 4)
    if args.concurrent > 1:
        cpus = max(0.01, round((os.cpu_count() or 1) / args.concurrent, 2))
        concurrent, memory_many = _run(
            [sys.executable, "-m", "bot", *tune_args, "--storage", str(work / "tune_runs"), "--name", f"many_{steps}",
             "--max-concurrent", str(args.concurrent), "--cpus-per-trial", str(cpus)],
            f"[{steps}] bot tune, {args.concurrent} at a time", measure_memory=True,
        )
        assert memory_many is not None and memory_one is not None
        result.update({
            "concurrent": args.concurrent,
            "tune_concurrent_s": round(concurrent, 2),
            "trials_per_hour_sequential_train": round(3600 * args.trials / best_train, 1),
            "trials_per_hour_concurrent": round(3600 * args.trials / concurrent, 1),
            "speedup_concurrent_vs_sequential_train": round(best_train / concurrent, 2),
            "peak_pss_concurrent_mib": round(memory_many.peak_bytes / 1024**2, 1),
            "peak_processes_concurrent": memory_many.peak_processes,
            "pss_per_extra_concurrent_trial_mib": round(
                (memory_many.peak_bytes - memory_one.peak_bytes) / max(1, args.concurrent - 1) / 1024**2, 1),
            "dataset_pickle_mib": round(_dataset_bytes(overrides) / 1024**2, 2),
        })
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4, help="trials N (seeds 1..N)")
    parser.add_argument("--steps", type=int, nargs="+", default=[4096], help="env steps per trial (one or more sizes)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of train / tune / baseline tune, interleaved")
    parser.add_argument("--concurrent", type=int, default=4, help="concurrent trials C of the third measurement "
                        "(0 or 1: not measured)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a checkout of an older commit (git worktree): its `bot tune` is timed in every round too")
    parser.add_argument("--costs", action="store_true", help="also time Ray's start, actor start and shutdown alone")
    parser.add_argument("--n-bars", type=int, default=20000, help="bars of the synthetic market")
    parser.add_argument("--label", default="", help="free text saved with the figures (machine load etc.)")
    args = parser.parse_args()

    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "load_average_at_start": os.getloadavg(),
        "label": args.label,
        "trials": args.trials,
        "rounds": args.rounds,
        "baseline": str(args.baseline) if args.baseline else None,
    }
    if args.costs:
        result["ray_costs"] = _ray_costs(args.trials)
        print(json.dumps(result["ray_costs"], indent=1))
    with tempfile.TemporaryDirectory(prefix="tune-bench-") as tmp:
        result["sizes"] = [_one_size(args, steps, Path(tmp)) for steps in args.steps]
    result["load_average_at_end"] = os.getloadavg()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
