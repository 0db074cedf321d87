"""The batched MLP inference gives exactly the actions of ``model.predict(deterministic=True)`` on real runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from stable_baselines3.common.vec_env import DummyVecEnv

from bot.config import BotConfig, load_config
from bot.data import FeatureScaler, build_dataset
from bot.data.types import Dataset
from bot.env import TradingEnv, make_env
from bot.evaluation.backtest import decision_rows, evaluation_config, run_agent
from bot.training.algorithms import build_model
from bot.training.checkpoints import SCALER, load_checkpoint
from bot.training.fast_mlp import FastMlpPolicy
from bot.training.policy import Obs, PredictPolicy, make_policy
from tests.support.market_builder import simple_dataset


class _Compare:
    """Acts with the plain policy and checks that the fast one agrees at every step."""

    def __init__(self, fast: FastMlpPolicy, plain: PredictPolicy) -> None:
        self.fast, self.plain, self.steps = fast, plain, 0

    def act(self, obs: Obs, row: int) -> Any:
        expected = self.plain.act(obs, row)
        assert int(self.fast.act(obs, row)) == int(expected), f"row {row}"
        self.steps += 1
        return expected

    def reset(self) -> None:
        self.fast.reset()
        self.plain.reset()


def _compare_on(env: TradingEnv, model: Any, vecnormalize: Any) -> _Compare:
    fast = make_policy(
        model, vecnormalize, env.dataset.obs_features, env.window, decision_rows(env), env.action_masks
    )
    assert isinstance(fast, FastMlpPolicy)
    compare = _Compare(fast, PredictPolicy(model, vecnormalize, env.action_masks))
    result = run_agent(env, compare)
    # one decision per env.decision_every bars of each gap-free run (the last one may be shorter)
    every = env.cfg.env.decision_every
    decisions = sum(-(-e.n_steps // every) for e in env.evaluation_episodes)
    assert sum(e.n_steps for e in env.evaluation_episodes) == result.metrics.n_bars - 1
    assert compare.steps == decisions > 30
    return compare


def test_fast_path_matches_predict_on_a_trained_checkpoint(tiny_run: Path) -> None:
    loaded = load_checkpoint(tiny_run, "best")
    assert loaded.vecnormalize is not None  # the fixture trains with VecNormalize: the normalised path is covered
    cfg = evaluation_config(loaded.config)
    dataset = build_dataset(cfg, FeatureScaler.load(tiny_run / SCALER))
    for split in ("validation", "test"):
        env = make_env(cfg, split, seed=0, dataset=dataset)
        _compare_on(env, loaded.model, loaded.vecnormalize)


def _untrained(
    algo: str, market: str, dataset: Dataset, every: int = 1, extra: tuple[str, ...] = ()
) -> tuple[TradingEnv, Any]:
    cfg = evaluation_config(
        load_config(
            None,
            [
                f"training.algo={algo}",
                f"portfolio.market={market}",
                "env.window=6",
                "training.ppo.net_arch=[16, 16]",
                "training.dqn.net_arch=[16]",
                f"env.decision_every={every}",
                *extra,
            ],
        )
    )
    env = make_env(cfg, "test", seed=0, dataset=dataset)
    train_env = make_env(cfg, "train", seed=0, dataset=dataset)
    model = build_model(cfg.training, DummyVecEnv([lambda: train_env]), seed=3, device="cpu", tensorboard_log=None)
    return env, model


@pytest.mark.parametrize(
    ("algo", "market", "every"),
    [("ddqn", "perpetual", 1), ("maskable_ppo", "spot", 1), ("ppo", "perpetual", 1), ("ppo", "perpetual", 4)],
)
def test_fast_path_matches_predict_for_each_algorithm(algo: str, market: str, every: int) -> None:
    dataset = simple_dataset(n=900, seed=4, gap_at=700)
    env, model = _untrained(algo, market, dataset, every)
    assert len(env.evaluation_episodes) == 1  # the test split (rows 765..899) lies after the gap
    _compare_on(env, model, None)


class _MaskLog:
    """Acts like the plain policy and records the masks it was given and the actions it chose."""

    def __init__(self, plain: PredictPolicy, env: TradingEnv) -> None:
        self.plain, self.env = plain, env
        self.seen: list[tuple[tuple[bool, ...], int]] = []

    def act(self, obs: Obs, row: int) -> Any:
        action = self.plain.act(obs, row)
        self.seen.append((tuple(bool(m) for m in self.env.action_masks()), int(action)))
        return action

    def reset(self) -> None:
        self.plain.reset()


def test_masks_are_read_at_every_step_as_in_training() -> None:
    """min_holding_bars masks levels while a young position is open: both paths must see the masks of that moment."""
    dataset = simple_dataset(n=900, seed=4, gap_at=700)
    env, model = _untrained("maskable_ppo", "perpetual", dataset, 1, ("portfolio.min_holding_bars=5",))
    _compare_on(env, model, None)  # fast == predict, each with the masks of the step
    fresh, _ = _untrained("maskable_ppo", "perpetual", dataset, 1, ("portfolio.min_holding_bars=5",))
    log = _MaskLog(PredictPolicy(model, None, fresh.action_masks), fresh)
    run_agent(fresh, log)
    masks_seen = {m for m, _ in log.seen}
    assert len(masks_seen) > 1  # the masks changed during the run: a mask taken once at the start would be wrong
    assert all(m[a] for m, a in log.seen)  # the policy never chose a level masked at that step


def test_unsupported_policies_fall_back_to_predict() -> None:
    dataset = simple_dataset(n=600, seed=5)
    cfg: BotConfig = evaluation_config(load_config(None, ["env.action_type=continuous", "env.window=6"]))
    env = make_env(cfg, "test", seed=0, dataset=dataset)
    model = build_model(cfg.training, DummyVecEnv([lambda: env]), seed=1, device="cpu", tensorboard_log=None)
    policy = make_policy(model, None, dataset.obs_features, 6, decision_rows(env), env.action_masks)
    assert isinstance(policy, PredictPolicy)
    assert make_policy(model, None, dataset.obs_features, 6, decision_rows(env), None, fast=False).__class__ is (
        PredictPolicy
    )


def test_fast_path_on_real_data_across_the_march_2023_outage(btc_5m_path: Path) -> None:
    overrides = [
        "data.source=file",
        f"data.path={btc_5m_path}",
        "data.start=2023-03-18",
        "data.end=2023-03-28",
        "data.timeframes=[5m, 1h]",
        "splits.train_fraction=0.5",
        "splits.validation_fraction=0.1",
        "env.window=8",
        "training.ppo.net_arch=[32, 32]",
    ]
    cfg = evaluation_config(load_config(None, overrides))
    dataset = build_dataset(cfg)
    env = make_env(cfg, "test", seed=0, dataset=dataset)
    assert len(env.evaluation_episodes) == 2  # the exchange outage of 2023-03-24 splits the test split in two runs
    model = build_model(cfg.training, DummyVecEnv([lambda: env]), seed=2, device="cpu", tensorboard_log=None)
    _compare_on(env, model, None)
