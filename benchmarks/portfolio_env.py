"""``env.mode: portfolio``: env steps/s next to the single-symbol env, and does the agent find the one good asset?

``--part speed``: a synthetic 5-asset basket of one year of 5m bars (5m/1h/4h features, window 32), the portfolio env
with random Box weights (a new random weight vector every step, so nearly every step trades all five), against the
single-symbol ``TradingEnv`` with random discrete actions on the basket's first asset, both with a market order every
bar (``env.decision_every=1``); rounds alternate between the two, best and median of ``--repeats``.

``--part jit``: the numba kernels' warm-up, in fresh processes on a small 5-asset basket: the first step of a new env
with an empty numba cache (every kernel compiled) and then with that cache filled (loaded), as every worker and test
process pays one or the other.

``--part learning``: a 3-asset synthetic basket where only the first asset carries a planted signal (its ``signal``
feature announces its next bar's return; the other two have none). PPO (continuous weights) trains on the train split;
the deterministic policy then runs over the TEST split and we compare its mean |weight| per asset. The claim: more
weight on the signal asset than on each of the others.

    python benchmarks/portfolio_env.py [--part speed|jit|learning|both] [--timesteps 30000]

Writes benchmarks/out/portfolio_env.json (a run of one part keeps the other part's last figures).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv

from bot.config import BotConfig, load_config
from bot.data import build_dataset, build_universe
from bot.env import PortfolioEnv, make_env
from bot.evaluation.portfolio_eval import portfolio_baselines, run_policy
from bot.training.portfolio import model_actor

OUT = Path(__file__).resolve().parent / "out" / "portfolio_env.json"
CLASSIC = ["env.decision_every=1", "portfolio.order_type=market", "env.episode_length=1024"]


def _rates(env: Any, actions: list[Any], repeats: int) -> list[float]:
    rates = []
    for _ in range(repeats):
        env.reset(seed=0)
        start = time.perf_counter()
        for a in actions:
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                env.reset()
        rates.append(len(actions) / (time.perf_counter() - start))
    return rates


def speed(steps: int, repeats: int) -> dict[str, Any]:
    """Steps/s of the 5-symbol portfolio env and of the single-symbol env, interleaved rounds."""
    basket = ["data.source=synthetic", "data.synthetic.assets=5", "data.synthetic.n_bars=105120", *CLASSIC]
    cfg = load_config(None, [*basket, "env.mode=portfolio", "env.action_type=continuous", "training.algo=ppo"])
    universe = build_universe(cfg)
    portfolio = PortfolioEnv(cfg, universe, split="all", seed=0)
    single_cfg = load_config(None, ["data.source=synthetic", "data.synthetic.n_bars=105120", *CLASSIC])
    single = make_env(single_cfg, split="all", seed=0, dataset=build_dataset(single_cfg))
    rng = np.random.default_rng(0)
    weights = list(rng.uniform(-1.0, 1.0, (steps, 5)).astype(np.float32))
    levels = rng.integers(0, 3, steps).tolist()
    rounds: dict[str, list[float]] = {"portfolio_5": [], "single": []}
    for _ in range(repeats):
        rounds["portfolio_5"] += _rates(portfolio, weights, 1)
        rounds["single"] += _rates(single, levels, 1)
    out = {k: {"best": max(v), "median": statistics.median(v)} for k, v in rounds.items()}
    out["bars"] = len(universe)
    return out


_FIRST_STEP = """
import json, time
start = time.perf_counter()
from bot.config import load_config
from bot.data import build_universe
from bot.env import PortfolioEnv
cfg = load_config(None, ["data.source=synthetic", "data.synthetic.assets=5", "data.synthetic.n_bars=20000",
                         "env.mode=portfolio", "env.action_type=continuous", "training.algo=ppo", "env.window=8"])
env = PortfolioEnv(cfg, build_universe(cfg), split="all", seed=0)
ready = time.perf_counter()
env.reset(seed=0)
env.step(env.action_space.sample())
print(json.dumps({"import_and_build_s": ready - start, "first_reset_and_step_s": time.perf_counter() - ready}))
"""


def jit_warmup() -> dict[str, Any]:
    """Seconds to the first env step in a fresh process: with an empty numba cache, then with it filled."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for name in ("cold_cache", "warm_cache"):
            start = time.perf_counter()
            cmd = [sys.executable, "-c", _FIRST_STEP]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            out[name] = {**json.loads(done.stdout), "process_s": time.perf_counter() - start}
    return out


def learning_config(timesteps: int) -> BotConfig:
    return load_config(
        None,
        [
            "data.source=synthetic",
            "data.synthetic.assets=3",
            "data.synthetic.n_bars=20000",
            "data.synthetic.signal_strengths=[0.8, 0, 0]",
            "data.synthetic.correlation=0.3",
            "data.timeframes=[5m]",
            "features.indicators=[log_return, signal]",
            "portfolio.taker_fee=0.0002",
            "portfolio.slippage_bps=0",
            "portfolio.slippage_range_frac=0",
            "portfolio.order_type=market",
            "env.mode=portfolio",
            "env.action_type=continuous",
            "env.window=4",
            "env.episode_length=512",
            "env.decision_every=1",
            "training.algo=ppo",
            f"training.total_timesteps={timesteps}",
        ],
    )


def learning(timesteps: int, seed: int) -> dict[str, Any]:
    """Train PPO on the basket's train split and measure its weights on the test split."""
    cfg = learning_config(timesteps)
    universe = build_universe(cfg)
    venv = DummyVecEnv([lambda i=i: PortfolioEnv(cfg, universe, "train", worker_id=i) for i in range(4)])
    venv.seed(seed)
    model = PPO("MultiInputPolicy", venv, n_steps=256, batch_size=256, seed=seed, verbose=0, device="cpu")
    start = time.perf_counter()
    model.learn(timesteps)
    train_s = time.perf_counter() - start
    eval_cfg = cfg.model_copy(deep=True)
    eval_cfg.env.random_start = False
    eval_cfg.env.max_drawdown = 1.0
    test = PortfolioEnv(eval_cfg, universe, "test")
    run = run_policy(test, model_actor(model, None))
    baselines = {r.name: r.metrics["total_return"] for r in portfolio_baselines(test)}
    weight = run.mean_abs_weight
    return {
        "timesteps": timesteps,
        "train_s": train_s,
        "symbols": list(universe.symbols),
        "mean_abs_weight_test": weight.tolist(),
        "signal_asset_has_most_weight": bool(weight[0] > weight[1:].max()),
        "test_total_return": run.metrics["total_return"],
        "test_sharpe": run.metrics["sharpe"],
        "attribution_test": run.attribution.tolist(),
        "baseline_total_return_test": baselines,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["speed", "jit", "learning", "both"], default="both")
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timesteps", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    # one part's run keeps the other part's last figures
    result: dict[str, Any] = json.loads(OUT.read_text()) if OUT.is_file() else {}
    result["time"] = datetime.now(UTC).isoformat(timespec="seconds")
    result["machine"] = f"{platform.machine()}, {platform.python_version()}"
    if args.part in ("speed", "both"):
        result["speed"] = speed(args.steps, args.repeats)
        print(json.dumps(result["speed"], indent=1))
    if args.part == "jit":
        result["jit"] = jit_warmup()
        print(json.dumps(result["jit"], indent=1))
    if args.part in ("learning", "both"):
        result["learning"] = learning(args.timesteps, args.seed)
        print(json.dumps(result["learning"], indent=1))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
