"""PPO env-steps/s with ``training.overlap`` on and off, paired, on the same worker layouts (issue 18).

The env is the real TradingEnv on three months of real BTC/USDT 5m candles (as ``train_throughput.py``). For each
layout (N worker processes x K envs) and policy, every repeat times ``learn`` of plain SB3 PPO and of
:class:`bot.training.overlap.OverlapPPO` back to back (the order alternates), on one VecEnv started once, so a pair
meets the same load; the median of the per-pair ratios (overlap / off) is the figure a busy machine moves least.
Worker start-up is excluded. Writes benchmarks/out/overlap_<policies>.json.

    python benchmarks/overlap.py [--timesteps 8192] [--repeats 5] [--policies small,large]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.vec_env import VecEnv, VecMonitor

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.train_throughput import ROLLOUT, bench_config
from bot.config import TrainingConfig
from bot.data import build_dataset
from bot.training.algorithms import build_model
from bot.training.trainer import TradingEnvFactory
from bot.training.vec_env import ParallelVecEnv

OUT = Path(__file__).resolve().parent / "out"
POLICIES = {"small": [128, 128], "large": [1024, 1024, 1024]}
LAYOUTS = ((2, 4), (2, 8))


def ppo_rate(venv: VecEnv, overlap: bool, net_arch: list[int], timesteps: int) -> float:
    """Env steps per second of one ``learn`` call (rollouts of ~2,048 samples, 4 epochs of 256-sample batches)."""
    ppo = {"n_steps": max(8, ROLLOUT // venv.num_envs), "batch_size": 256, "n_epochs": 4, "net_arch": net_arch}
    model = build_model(TrainingConfig(overlap=overlap, ppo=ppo), venv, seed=0, device="cpu", tensorboard_log=None)
    started = time.perf_counter()
    model.learn(timesteps)
    return model.num_timesteps / (time.perf_counter() - started)


def pairs(factory: TradingEnvFactory, n: int, k: int, net_arch: list[int], args: argparse.Namespace) -> dict[str, Any]:
    """Overlap off and on, back to back per repeat, on one VecEnv of ``n`` workers x ``k`` envs."""
    rates: dict[str, list[float]] = {"off": [], "on": []}
    venv = VecMonitor(ParallelVecEnv(factory, n, k))
    try:
        for repeat in range(args.repeats):
            for mode in ("off", "on") if repeat % 2 == 0 else ("on", "off"):
                rates[mode].append(ppo_rate(venv, mode == "on", net_arch, args.timesteps))
            print(f"  [{repeat + 1}/{args.repeats}] off {rates['off'][-1]:7.0f}  on {rates['on'][-1]:7.0f} env-steps/s",
                  flush=True)
    finally:
        venv.close()
    ratios = [on / off for on, off in zip(rates["on"], rates["off"], strict=True)]
    return {
        **{f"{mode}_median": round(float(np.median(r)), 1) for mode, r in rates.items()},
        **{f"{mode}_best": round(max(r), 1) for mode, r in rates.items()},
        "pair_ratio_median": round(float(np.median(ratios)), 3),
        "pair_ratio_min": round(min(ratios), 3),
        "pair_ratio_max": round(max(ratios), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=8192, help="env steps per learn call")
    parser.add_argument("--repeats", type=int, default=5, help="pairs per layout and policy")
    parser.add_argument("--policies", default="small", help=f"comma-separated of {sorted(POLICIES)}")
    parser.add_argument("--threads", type=int, default=1, help="learner torch threads (the default for [128, 128])")
    args = parser.parse_args()
    unknown = set(args.policies.split(",")) - set(POLICIES)
    if unknown:
        parser.error(f"--policies: unknown {sorted(unknown)}; choose from {sorted(POLICIES)}")
    th.set_num_threads(args.threads)
    cfg = bench_config()
    factory = TradingEnvFactory(cfg, build_dataset(cfg))
    results: dict[str, Any] = {}
    for policy in args.policies.split(","):
        for n, k in LAYOUTS:
            name = f"N={n} K={k} {policy} {POLICIES[policy]}"
            print(name, flush=True)
            results[name] = pairs(factory, n, k, POLICIES[policy], args)
            print(f"  {results[name]}", flush=True)
    report = {
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(), "device": "cpu"},
        "date": datetime.now(UTC).isoformat(timespec="minutes"),
        "args": vars(args),
        "results": results,
    }
    out = OUT / f"overlap_{args.policies.replace(',', '_')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
