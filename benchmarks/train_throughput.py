"""PPO env-steps/s of our ParallelVecEnv (N workers x K envs) vs SB3's DummyVecEnv and SubprocVecEnv, same env.

The env is the real TradingEnv on three months of real BTC/USDT 5m candles (5m + 1h features). For each set-up the
script times ``PPO.learn`` over a fixed number of env steps (rollout collection + updates, rollouts of ~2,048
samples, so the learner's work per sample is the same everywhere), and separately the raw VecEnv step rate with
random actions (no learner). Process start-up is excluded (for ``ours auto``, the layout of
``training.n_workers: auto`` over 8 envs, so is its probe). The machine is shared, so every set-up is measured
``--repeats`` times, interleaved round-robin, and the best and the median are reported (ratios use the best).
"step messages" set-ups send every step as a pickled pipe message (``shared_step=False``, how workers stepped before
issue 18) instead of through the shared step buffer with a one-byte wake-up, so one run compares the two.
Writes benchmarks/out/train_throughput.json.

    python benchmarks/train_throughput.py [--timesteps 8192] [--repeats 3]
    python benchmarks/train_throughput.py --raw-only --repeats 5   # the raw rollout only (no PPO)
    python benchmarks/train_throughput.py --transport --repeats 15 --raw-steps 2000   # step buffer vs messages
    python benchmarks/train_throughput.py --threads --timesteps 4096 --repeats 2   # learner threads per layout
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv, VecMonitor

from bot.config import BotConfig, load_config
from bot.data import build_dataset
from bot.data.types import Dataset
from bot.env import make_env
from bot.training.layout import choose_layout
from bot.training.trainer import TradingEnvFactory
from bot.training.vec_env import ParallelVecEnv

OUT = Path(__file__).resolve().parent / "out" / "train_throughput.json"
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "binance_spot_2023" / "BTC_USDT-5m.csv.gz"
ROLLOUT = 2048


def bench_config() -> BotConfig:
    """Real candles, 5m + 1h features, the default env."""
    return load_config(
        None,
        [
            "data.source=file",
            f"data.path={DATA}",
            "data.start=2023-01-01",
            "data.end=2023-04-01",
            "data.timeframes=[5m, 1h]",
            "training.torch_threads=1",
        ],
    )


def _setups(cfg: BotConfig, dataset: Dataset) -> dict[str, Callable[[], VecEnv]]:
    def sb3_fn() -> Any:
        return make_env(cfg, dataset=dataset)

    factory = TradingEnvFactory(cfg, dataset)
    setups: dict[str, Callable[[], VecEnv]] = {}
    auto_cfg = load_config(None, ["training.n_workers=auto", "training.n_envs=8"])
    layout = choose_layout(cfg.model_copy(update={"training": auto_cfg.training}), factory)
    print(f"auto layout: {layout.n_workers} x {layout.n_envs_per_worker} envs ({layout.reason})")
    # auto next to the in-process set-up it resolves to on small machines, so that both meet the same load
    for n, k in ((1, 1), (1, 4), (1, 8), ("auto", 8), (2, 1), (2, 4), (2, 8)):
        if n == "auto":
            setups["ours auto (8 envs)"] = lambda: ParallelVecEnv(factory, layout.n_workers, layout.n_envs_per_worker)
        else:
            setups[f"ours N={n} K={k}"] = lambda n=n, k=k: ParallelVecEnv(factory, n, k)  # type: ignore[misc]
    for k in (4, 8):
        setups[f"ours N=2 K={k} step messages"] = lambda k=k: ParallelVecEnv(  # type: ignore[misc]
            factory, 2, k, shared_step=False
        )
    setups["SB3 DummyVecEnv(8)"] = lambda: DummyVecEnv([sb3_fn] * 8)
    setups["SB3 SubprocVecEnv(2)"] = lambda: SubprocVecEnv([sb3_fn] * 2, start_method="forkserver")
    setups["SB3 SubprocVecEnv(8)"] = lambda: SubprocVecEnv([sb3_fn] * 8, start_method="forkserver")
    return setups


def raw_steps_per_s(venv: VecEnv, n_steps: int) -> float:
    """VecEnv steps x envs per second with random actions."""
    venv.reset()
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 3, (n_steps, venv.num_envs))
    started = time.perf_counter()
    for a in actions:
        venv.step(a)
    return n_steps * venv.num_envs / (time.perf_counter() - started)


def ppo_steps_per_s(venv: VecEnv, timesteps: int, net_arch: list[int] | None = None) -> float:
    """Env steps per second of ``PPO.learn`` (collection + updates); ``net_arch`` default [128, 128]."""
    n_steps = max(8, ROLLOUT // venv.num_envs)
    model = PPO(
        "MultiInputPolicy",
        VecMonitor(venv),
        n_steps=n_steps,
        batch_size=256,
        n_epochs=4,
        seed=0,
        device="cpu",
        policy_kwargs={"net_arch": net_arch or [128, 128]},
    )
    started = time.perf_counter()
    model.learn(timesteps)
    return model.num_timesteps / (time.perf_counter() - started)


THREAD_POLICIES = {"[128, 128]": [128, 128], "[1024, 1024, 1024]": [1024, 1024, 1024]}


def thread_sweep(cfg: BotConfig, dataset: Dataset, timesteps: int, repeats: int) -> dict[str, Any]:
    """PPO env-steps/s per (policy, layout, learner threads), interleaved: what ``training.torch_threads: 0`` picks.

    Thread counts 1, 2, 4 ... up to the cores; layouts: the 8 envs in-process (N=1 K=8) and in 2 workers (N=2 K=4).
    """
    factory = TradingEnvFactory(cfg, dataset)
    cores = os.cpu_count() or 1
    threads = [t for t in (1, 2, 4, 8, 16, 32, 64) if t <= cores]
    layouts = {"N=1 K=8": (1, 8), "N=2 K=4": (2, 4)}
    samples: dict[str, list[float]] = {}
    for repeat in range(repeats):
        for policy, net_arch in THREAD_POLICIES.items():
            for layout, (n, k) in layouts.items():
                for n_threads in threads:
                    th.set_num_threads(n_threads)
                    name = f"{policy} {layout} threads={n_threads}"
                    venv = ParallelVecEnv(factory, n, k)
                    try:
                        rate = ppo_steps_per_s(venv, timesteps, net_arch)
                    finally:
                        venv.close()
                    samples.setdefault(name, []).append(rate)
                    print(f"[{repeat + 1}/{repeats}] {name:40s} PPO {rate:7.0f} env-steps/s", flush=True)
    th.set_num_threads(1)
    return {
        name: {"ppo_steps_per_s_best": round(max(r), 1), "ppo_steps_per_s_median": round(float(np.median(r)), 1)}
        for name, r in samples.items()
    }


def transport_pairs(cfg: BotConfig, dataset: Dataset, repeats: int, raw_steps: int) -> dict[str, Any]:
    """Raw env-steps/s of 2 workers x K envs with the step buffer and with pickled step messages, back to back.

    Each repeat measures both transports in turn (the order alternates), so a pair meets the same load; the median of
    the per-pair ratios is the figure that a busy machine moves least.
    """
    factory = TradingEnvFactory(cfg, dataset)
    out: dict[str, Any] = {}
    for k in (4, 8):
        rates: dict[str, list[float]] = {"buffer": [], "messages": []}
        for repeat in range(repeats):
            order = ("buffer", "messages") if repeat % 2 == 0 else ("messages", "buffer")
            for transport in order:
                venv = ParallelVecEnv(factory, 2, k, shared_step=transport == "buffer")
                try:
                    rates[transport].append(raw_steps_per_s(venv, raw_steps))
                finally:
                    venv.close()
            print(
                f"[{repeat + 1}/{repeats}] N=2 K={k} buffer {rates['buffer'][-1]:8.0f} messages"
                f" {rates['messages'][-1]:8.0f} env-steps/s",
                flush=True,
            )
        ratios = [b / m for b, m in zip(rates["buffer"], rates["messages"], strict=True)]
        out[f"N=2 K={k}"] = {
            **{f"{t}_best": round(max(r), 1) for t, r in rates.items()},
            **{f"{t}_median": round(float(np.median(r)), 1) for t, r in rates.items()},
            "pair_ratio_median": round(float(np.median(ratios)), 3),
            "pair_ratio_min": round(min(ratios), 3),
            "pair_ratio_max": round(max(ratios), 3),
        }
        print(f"N=2 K={k}: {out[f'N=2 K={k}']}")
    return out


def _summary(samples: dict[str, list[float]]) -> dict[str, float]:
    """Best and median of each measure that was taken."""
    out = {}
    for measure, key in (("ppo", "ppo_steps_per_s"), ("raw", "raw_env_steps_per_s")):
        if samples[measure]:
            out[f"{key}_best"] = round(max(samples[measure]), 1)
            out[f"{key}_median"] = round(float(np.median(samples[measure])), 1)
    return out


def _raw_ratios(results: dict[str, dict[str, float]]) -> dict[str, float]:
    """The step buffer against pickled step messages, and 2 workers against one process, in raw env-steps/s."""

    def raw(name: str) -> float:
        return results[name]["raw_env_steps_per_s_best"]

    return {
        "raw ours N=2 K=4: step buffer / step messages": raw("ours N=2 K=4") / raw("ours N=2 K=4 step messages"),
        "raw ours N=2 K=8: step buffer / step messages": raw("ours N=2 K=8") / raw("ours N=2 K=8 step messages"),
        "raw ours N=2 K=4 / ours N=1 K=8 (8 envs each)": raw("ours N=2 K=4") / raw("ours N=1 K=8"),
        "raw ours N=2 K=4 step messages / ours N=1 K=8": raw("ours N=2 K=4 step messages") / raw("ours N=1 K=8"),
    }


def _ppo_ratios(results: dict[str, dict[str, float]]) -> dict[str, float]:
    def best(name: str) -> float:
        return results[name]["ppo_steps_per_s_best"]

    def median(name: str) -> float:
        return results[name]["ppo_steps_per_s_median"]

    best_two = max(best(f"ours N=2 K={k}") for k in (1, 4, 8))
    best_one = max(best(f"ours N=1 K={k}") for k in (1, 4, 8))
    # where auto resolves to an in-process layout the two are one layout measured twice: the medians say more
    median_one = max(median(f"ours N=1 K={k}") for k in (1, 4, 8))
    return {
        "ours auto / best ours N=1 (default layout vs best in-process)": best("ours auto (8 envs)") / best_one,
        "ours auto / best ours N=1, medians": median("ours auto (8 envs)") / median_one,
        "ours N=2 K=4 / ours N=1 K=8 (8 envs each)": best("ours N=2 K=4") / best("ours N=1 K=8"),
        "best ours N=2 / best ours N=1": best_two / best_one,
        "best ours N=2 / SB3 SubprocVecEnv(2)": best_two / best("SB3 SubprocVecEnv(2)"),
        "ours N=2 K=4 / SB3 SubprocVecEnv(8) (8 envs each)": best("ours N=2 K=4") / best("SB3 SubprocVecEnv(8)"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=8192)
    parser.add_argument("--raw-steps", type=int, default=1000, help="VecEnv steps for the raw rate")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--raw-only", action="store_true", help="measure the raw rollout only, no PPO")
    parser.add_argument(
        "--transport", action="store_true", help="only step buffer vs step messages (writes out/train_transport.json)"
    )
    parser.add_argument(
        "--threads", action="store_true", help="only the learner-thread sweep (writes out/train_threads.json)"
    )
    args = parser.parse_args()
    if args.transport:
        th.set_num_threads(1)
        cfg = bench_config()
        pairs = transport_pairs(cfg, build_dataset(cfg), args.repeats, args.raw_steps)
        report = {"raw_steps": args.raw_steps, "repeats": args.repeats, "cpu_count": os.cpu_count(), "results": pairs}
        path = OUT.with_name("train_transport.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=1))
        print(f"wrote {path}")
        return
    if args.threads:
        cfg = bench_config()
        sweep = thread_sweep(cfg, build_dataset(cfg), args.timesteps, args.repeats)
        report = {"timesteps": args.timesteps, "repeats": args.repeats, "cpu_count": os.cpu_count(), "results": sweep}
        path = OUT.with_name("train_threads.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=1))
        print(f"wrote {path}")
        return
    th.set_num_threads(1)  # the learner gets one core; workers the other(s)
    cfg = bench_config()
    dataset = build_dataset(cfg)
    setups = _setups(cfg, dataset)
    samples: dict[str, dict[str, list[float]]] = {name: {"ppo": [], "raw": []} for name in setups}
    for repeat in range(args.repeats):
        for name, make in setups.items():
            venv = make()
            try:
                samples[name]["raw"].append(raw_steps_per_s(venv, args.raw_steps))
                if not args.raw_only:
                    samples[name]["ppo"].append(ppo_steps_per_s(venv, args.timesteps))
            finally:
                venv.close()
            print(f"[{repeat + 1}/{args.repeats}] {name:30s} raw {samples[name]['raw'][-1]:8.0f} steps/s", flush=True)
    results = {name: _summary(s) for name, s in samples.items()}
    print(f"{'set-up':30s} {'PPO best':>9s} {'median':>9s} {'raw best':>10s} {'median':>9s}")
    for name, r in results.items():
        ppo = [
            f"{r[key]:9.0f}" if key in r else f"{'-':>9s}" for key in ("ppo_steps_per_s_best", "ppo_steps_per_s_median")
        ]
        print(
            f"{name:30s} {' '.join(ppo)} {r['raw_env_steps_per_s_best']:10.0f} {r['raw_env_steps_per_s_median']:9.0f}"
        )
    ratios = _raw_ratios(results) | ({} if args.raw_only else _ppo_ratios(results))
    for name, value in ratios.items():
        print(f"{name}: {value:.2f}x")
    report = {
        "timesteps": 0 if args.raw_only else args.timesteps,
        "raw_steps": args.raw_steps,
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "bars": len(dataset.market),
        "results": results,
        "ratios": ratios,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
