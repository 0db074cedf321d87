"""Does PPO learn the planted signal? The trained agent's return vs the oracle's (``oracle_positions``).

Trains PPO with 2 worker processes on a fee-free synthetic market whose ``signal`` feature announces the sign of the
next bar's return, then runs the best checkpoint (by validation Sharpe) and the oracle through the same env over the
TEST split (never seen in training or model selection). The claim: the agent reaches >= 80 % of the oracle's log
return. Writes benchmarks/out/learning.json.

    python benchmarks/learning.py [--timesteps 40000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bot.config import BotConfig, load_config
from bot.data import build_dataset, generate_synthetic
from bot.data.synthetic import oracle_positions
from bot.training.checkpoints import load_checkpoint
from bot.training.events import EventWriter
from bot.training.progress import StopFlag
from bot.training.trainer import train
from bot.training.validation import make_validation_env

OUT = Path(__file__).resolve().parent / "out" / "learning.json"
TARGET = 0.8


def planted_config(timesteps: int, checkpoint_dir: Path) -> BotConfig:
    """The planted-signal market and a PPO set-up sized for a few minutes on 2 cores."""
    return load_config(
        None,
        [
            "data.source=synthetic",
            "data.synthetic.n_bars=20000",
            "data.synthetic.signal_strength=0.8",
            "data.timeframes=[5m]",
            "features.indicators=[log_return, signal]",
            "portfolio.taker_fee=0",
            "portfolio.slippage_bps=0",
            "portfolio.slippage_range_frac=0",
            "env.window=4",
            "env.episode_length=512",
            "training.n_workers=2",
            "training.n_envs_per_worker=4",
            f"training.total_timesteps={timesteps}",
            f"training.eval_freq={timesteps // 4}",
            "training.checkpoint_freq=0",
            "training.ppo.learning_rate=0.001",
            "training.ppo.n_steps=128",
            "training.ppo.batch_size=256",
            "training.ppo.net_arch=[64, 64]",
            f"training.checkpoint_dir={checkpoint_dir}",
            "run_name=learning",
        ],
    )


def _run_policy(env: Any, choose: Any) -> float:
    """Sum of per-bar log returns of ``choose(obs, env) -> action`` over every evaluation episode of ``env``."""
    total = 0.0
    for episode in env.get_wrapper_attr("evaluation_episodes"):
        obs, _ = env.reset(options={"start_index": episode.start, "end_index": episode.stop})
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(choose(obs, env))
            total += float(np.log1p(info["return"]))
            done = terminated or truncated
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=40_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = planted_config(args.timesteps, Path(tmp))
        dataset = build_dataset(cfg)
        run_dir = Path(tmp) / "learning"
        run_dir.mkdir()
        started = time.perf_counter()
        train(cfg, dataset, run_dir, resume=False, events=EventWriter(None), stop=StopFlag(), show_progress=False)
        train_s = time.perf_counter() - started
        model = load_checkpoint(run_dir, "best", schema_hash=dataset.schema_hash).model
    oracle = oracle_positions(generate_synthetic(cfg.data.synthetic, cfg.data.base_timeframe))
    env = make_validation_env(cfg, dataset, split="test")
    agent_log = _run_policy(env, lambda obs, _env: model.predict(obs, deterministic=True)[0])
    oracle_log = _run_policy(env, lambda _obs, e: int(oracle[e.get_wrapper_attr("current_row")]) + 1)
    rng = np.random.default_rng(0)
    random_log = _run_policy(env, lambda _obs, _env: int(rng.integers(0, 3)))
    ratio = agent_log / oracle_log
    result = {
        "timesteps": args.timesteps,
        "train_seconds": round(train_s, 1),
        "split": "test",
        "bars": len(dataset.splits["test"]),
        "agent_log_return": agent_log,
        "oracle_log_return": oracle_log,
        "random_log_return": random_log,
        "agent_over_oracle": ratio,
        "target": TARGET,
        "met": bool(ratio >= TARGET),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
