"""Scaling with workers: ours (N workers x K envs) vs SB3 SubprocVecEnv(N) and DummyVecEnv(N), raw rollout and PPO.

Every set-up steps the same real ``TradingEnv`` on the same real candles (BTC/USDT 5m, three months, 5m + 1h
features, the project's default env unless ``--set`` says otherwise). For N in 1, 2, 4, 8, 16 (up to the cores):

- **raw**: env-steps/s of the VecEnv alone with random actions (``--raw-steps`` VecEnv steps after a warm-up);
- **PPO**: env-steps/s of ``PPO.learn`` (collection + updates; rollouts of about 2,048 samples, batch 256, 4 epochs)
  for the policies [128, 128] and [1024, 1024, 1024], on the CPU and, when torch sees one, on CUDA.

Ours with N=1 steps its K envs in-process through the same batching code. The learner's torch threads follow
``training.torch_threads: 0`` (``bot.training.resources.learner_threads``) for each layout, the same for SB3's
set-ups of that N. Process start-up is excluded from every figure. On a shared machine compare ratios from one run.

    python benchmarks/scaling.py             # the full matrix; writes benchmarks/out/scaling.json and scaling.png
    python benchmarks/scaling.py --quick     # N = 1, 2, both policies, short runs (a smoke test of the script)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import stable_baselines3
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv, VecMonitor

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.config import BotConfig, load_config  # noqa: E402
from bot.data import build_dataset  # noqa: E402
from bot.data.types import Dataset  # noqa: E402
from bot.env import make_env  # noqa: E402
from bot.training.resources import learner_threads  # noqa: E402
from bot.training.shared_dataset import SharedDataset  # noqa: E402
from bot.training.trainer import TradingEnvFactory  # noqa: E402
from bot.training.vec_env import ParallelVecEnv  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "binance_spot_2023" / "BTC_USDT-5m.csv.gz"
OUT = REPO / "benchmarks" / "out" / "scaling.json"
ROLLOUT = 2048
POLICIES = {"[128, 128]": [128, 128], "[1024, 1024, 1024]": [1024, 1024, 1024]}
WORKER_COUNTS = (1, 2, 4, 8, 16)


def bench_config(data: Path, overrides: list[str]) -> BotConfig:
    """Three months of real candles, 5m + 1h features, the default env, then ``overrides``."""
    return load_config(
        None,
        [
            "data.source=file",
            f"data.path={data}",
            "data.start=2023-01-01",
            "data.end=2023-04-01",
            "data.timeframes=[5m, 1h]",
            *overrides,
        ],
    )


class _SB3EnvFn:
    """Picklable env constructor for SB3's vec envs (one TradingEnv on the shared dataset)."""

    def __init__(self, cfg: BotConfig, dataset: Dataset) -> None:
        self.cfg, self.dataset = cfg, dataset

    def __call__(self) -> Any:
        return make_env(self.cfg, dataset=self.dataset)


#: set-up families, as the JSON and the plot name them
FAMILIES = ("ours", "SB3 SubprocVecEnv", "SB3 DummyVecEnv")


def setups(cfg: BotConfig, dataset: Dataset, n: int, k: int) -> dict[str, Callable[[], VecEnv]]:
    """The three set-ups for N = ``n`` by family: ours N x K, SB3 SubprocVecEnv(N), SB3 DummyVecEnv(N)."""
    ours = TradingEnvFactory(cfg, SharedDataset(dataset) if n > 1 else dataset)
    env_fn = _SB3EnvFn(cfg, dataset)
    return {
        "ours": lambda: ParallelVecEnv(ours, n, k),
        "SB3 SubprocVecEnv": lambda: SubprocVecEnv([env_fn] * n, start_method="forkserver"),
        "SB3 DummyVecEnv": lambda: DummyVecEnv([env_fn] * n),
    }


def raw_rate(venv: VecEnv, n_steps: int) -> float:
    """Env-steps/s of ``venv`` with random actions, after 10 warm-up steps."""
    venv.reset()
    rng = np.random.default_rng(0)
    n_actions = int(venv.action_space.n)  # type: ignore[attr-defined]
    actions = rng.integers(0, n_actions, (n_steps + 10, venv.num_envs))
    for a in actions[:10]:
        venv.step(a)
    started = time.perf_counter()
    for a in actions[10:]:
        venv.step(a)
    return n_steps * venv.num_envs / (time.perf_counter() - started)


def ppo_rate(venv: VecEnv, timesteps: int, net_arch: list[int], device: str) -> float:
    """Env-steps/s of ``PPO.learn`` over ``timesteps`` (collection + updates), model construction excluded."""
    model = PPO(
        "MultiInputPolicy",
        VecMonitor(venv),
        n_steps=max(8, ROLLOUT // venv.num_envs),
        batch_size=256,
        n_epochs=4,
        seed=0,
        device=device,
        policy_kwargs={"net_arch": net_arch},
    )
    started = time.perf_counter()
    model.learn(timesteps)
    return model.num_timesteps / (time.perf_counter() - started)


def threads_for(cfg: BotConfig, n: int, net_arch: list[int]) -> int:
    """The learner threads the trainer would take for this layout and policy."""
    layout = [f"training.n_workers={n}", f"training.ppo.net_arch={json.dumps(net_arch)}", "training.torch_threads=0"]
    return learner_threads(cfg.model_copy(update={"training": load_config(None, layout).training}))


def measure(cfg: BotConfig, dataset: Dataset, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every (N, set-up, kind, policy, device) figure, set-ups of one N taken one after the other."""
    cores = os.cpu_count() or 1
    counts = [n for n in WORKER_COUNTS if n <= min(cores, args.max_workers)]
    if args.quick:
        counts = counts[:2]
    rows: list[dict[str, Any]] = []
    for n in counts:
        for family, make in setups(cfg, dataset, n, args.envs_per_worker).items():
            name = f"ours {n}x{args.envs_per_worker}" if family == "ours" else f"{family}({n})"
            venv = make()
            try:
                rate = raw_rate(venv, args.raw_steps)
                base = {"family": family, "setup": name, "n": n, "n_envs": venv.num_envs}
                rows.append({**base, "kind": "raw", "steps_per_s": rate})
                print(f"N={n:2d} {name:26s} raw {rate:10,.0f} env-steps/s", flush=True)
                for policy, net_arch in POLICIES.items():
                    th.set_num_threads(threads_for(cfg, n, net_arch))
                    for device in args.devices:
                        rate = ppo_rate(venv, args.timesteps, net_arch, device)
                        row = {**base, "kind": "ppo", "policy": policy, "device": device}
                        rows.append({**row, "threads": th.get_num_threads(), "steps_per_s": rate})
                        print(f"N={n:2d} {name:26s} PPO {policy:18s} {device:4s} {rate:10,.0f} env-steps/s", flush=True)
            finally:
                venv.close()
    return rows


def ratios(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Ours / SB3 SubprocVecEnv(N) and / DummyVecEnv(N) for every N, kind, policy and device."""

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return r["family"], r["n"], r["kind"], r.get("policy"), r.get("device")

    index = {key(r): float(r["steps_per_s"]) for r in rows}
    out: dict[str, float] = {}
    for (family, n, kind, policy, device), rate in index.items():
        if family != "ours":
            continue
        label = f"N={n} {kind}" + (f" {policy} {device}" if kind == "ppo" else "")
        for peer in FAMILIES[1:]:
            other = index.get((peer, n, kind, policy, device))
            if other:
                out[f"{label}: ours / {peer.removeprefix('SB3 ')}({n})"] = rate / other
    return out


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """Raw and PPO env-steps/s against N, one line per set-up family (and policy/device for PPO)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_raw, ax_ppo) = plt.subplots(1, 2, figsize=(13, 5))
    lines: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for r in rows:
        key = (r["kind"], r["family"] + ("" if r["kind"] == "raw" else f" {r['policy']} {r['device']}"))
        lines.setdefault(key, []).append((r["n"], r["steps_per_s"]))
    for (kind, label), points in sorted(lines.items()):
        ax = ax_raw if kind == "raw" else ax_ppo
        xs, ys = zip(*sorted(points), strict=True)
        ax.plot(xs, ys, marker="o", label=label, linestyle="-" if label.startswith("ours") else "--")
    for ax, name in ((ax_raw, "raw rollout, random actions"), (ax_ppo, "PPO.learn")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("N (worker processes / SB3 envs)")
        ax.set_ylabel("env-steps/s")
        ax.set_title(name)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    gpu = th.cuda.get_device_name(0) if th.cuda.is_available() else None
    return {
        "cores": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "gpu": gpu,
        "python": platform.python_version(),
        "torch": th.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "load_average": list(os.getloadavg()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="5m OHLCV file covering 2023-01..2023-03")
    parser.add_argument("--quick", action="store_true", help="N = 1, 2 and short runs")
    parser.add_argument("--envs-per-worker", type=int, default=4, help="K of our set-ups")
    parser.add_argument("--max-workers", type=int, default=max(WORKER_COUNTS), help="largest N")
    parser.add_argument("--raw-steps", type=int, default=None, help="VecEnv steps of the raw rate (default 500)")
    parser.add_argument("--timesteps", type=int, default=None, help="PPO env steps per figure (default 8192)")
    parser.add_argument("--devices", nargs="+", choices=["cpu", "cuda"], default=None, help="default: cpu (+ cuda)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=OUT, help="JSON output; the PNG goes beside it")
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"data file {args.data} not found; pass --data or clone ../shared beside the repo", file=sys.stderr)
        return 2
    if args.envs_per_worker < 1 or args.max_workers < 1:
        print("--envs-per-worker and --max-workers must be >= 1", file=sys.stderr)
        return 2
    if args.devices is None:
        args.devices = ["cpu", "cuda"] if th.cuda.is_available() else ["cpu"]
    elif "cuda" in args.devices and not th.cuda.is_available():
        print("--devices cuda: torch sees no CUDA device here; drop cuda or run where one is", file=sys.stderr)
        return 2
    args.raw_steps = args.raw_steps or (100 if args.quick else 500)
    args.timesteps = args.timesteps or (1024 if args.quick else 8192)
    cfg = bench_config(args.data, args.overrides)
    dataset = build_dataset(cfg)
    started = time.perf_counter()
    rows = measure(cfg, dataset, args)
    peers = ratios(rows)
    result: dict[str, Any] = {
        "benchmark": "scaling",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {
            "quick": args.quick,
            "envs_per_worker": args.envs_per_worker,
            "raw_steps": args.raw_steps,
            "ppo_timesteps": args.timesteps,
            "devices": args.devices,
            "overrides": args.overrides,
            "bars": len(dataset.market),
        },
        "seconds": round(time.perf_counter() - started, 1),
        "results": rows,
        "ratios": peers,
    }
    for label, value in peers.items():
        print(f"{label}: {value:.2f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    png = args.out.with_suffix(".png")
    info = machine()
    plot(rows, png, f"scaling on {info['cores']} cores, {info['gpu'] or 'no GPU'}, {result['date']}")
    print(f"wrote {args.out} and {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
