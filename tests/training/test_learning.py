"""Learning is real: on the synthetic market with a planted signal, a CI-sized PPO run beats the random policy clearly
on the validation split (the benchmark benchmarks/learning.py measures how close it gets to the oracle)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from stable_baselines3 import PPO

from bot.config import BotConfig, load_config
from bot.data import build_dataset
from bot.training.trainer import train
from bot.training.validation import make_validation_env, run_validation

#: a small, fee-free planted-signal market: the signal announces the sign of the next bar's return.
PLANTED = [
    "data.source=synthetic",
    "data.synthetic.n_bars=6000",
    "data.synthetic.signal_strength=0.8",
    "data.timeframes=[5m]",
    "features.indicators=[log_return, signal]",
    "portfolio.taker_fee=0",
    "portfolio.slippage_bps=0",
    "portfolio.slippage_range_frac=0",
    "portfolio.order_type=market",  # the signal announces the next bar: fills at its open, decisions every bar
    "env.decision_every=1",
    "env.window=4",
    "env.episode_length=256",
    "training.n_workers=1",
    "training.n_envs_per_worker=8",
    "training.total_timesteps=4096",
    "training.torch_threads=1",
    "training.eval_freq=0",
    "training.checkpoint_freq=0",
    "training.ppo.learning_rate=0.001",
    "training.ppo.n_steps=64",
    "training.ppo.batch_size=128",
    "training.ppo.net_arch=[32, 32]",
    "run_name=learn",
]


def _random_policy_returns(cfg: BotConfig, n_runs: int) -> list[float]:
    dataset = build_dataset(cfg)
    env = make_validation_env(cfg, dataset)
    rng = np.random.default_rng(0)
    totals = []
    for _ in range(n_runs):
        log_return = 0.0
        for episode in env.get_wrapper_attr("evaluation_episodes"):
            env.reset(options={"start_index": episode.start, "end_index": episode.stop})
            done = False
            while not done:
                _, _, terminated, truncated, info = env.step(int(rng.integers(0, 3)))
                log_return += float(np.log1p(info["return"]))
                done = terminated or truncated
        totals.append(float(np.expm1(log_return)))
    return totals


def test_ppo_beats_the_random_policy_on_a_planted_signal(tmp_path: Path) -> None:
    cfg = load_config(None, [*PLANTED, f"training.checkpoint_dir={tmp_path}"])
    (tmp_path / "learn").mkdir()
    dataset = build_dataset(cfg)
    outcome = train(cfg, dataset, tmp_path / "learn")  # no CLI objects needed: no events, nobody stops it
    model = PPO.load(tmp_path / "learn" / "model.zip", device="cpu")
    learned = run_validation(model, make_validation_env(cfg, dataset), None, cfg.data.base_timeframe)
    assert outcome.validation is not None and outcome.validation.total_return == learned.total_return
    random_returns = _random_policy_returns(cfg, n_runs=5)
    assert learned.total_return > 0.2, learned
    assert learned.total_return > max(random_returns) + 0.2, (learned, random_returns)
