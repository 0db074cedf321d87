"""No look-ahead in the whole observation: the env built on data cut right after bar t sees the same thing at t.

The truncated dataset is built by the real data layer from ``data.end`` = the open of bar t+1, normalised with the SAME
saved scaler; both envs replay the same actions from the same start, so the portfolio and DBE parts of the
observation are compared too, step by step, up to and including bar t.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bot.config import BotConfig, load_config
from bot.data import FeatureScaler, build_dataset
from bot.data.types import Dataset
from bot.env import TradingEnv, make_env

ConfigFactory = Callable[..., BotConfig]

N_STEPS = 40


#: Every decision control and limit execution switched on (issue: "the look-ahead test passes with every control").
CONTROLS = {
    "plain": [],
    "cadence_hold_limit": [
        "env.decision_every=3",
        "portfolio.min_holding_bars=6",
        "env.turnover_penalty=0.01",
        "portfolio.order_type=limit",
        "dbe.drawdown_halflife_bars=50",
    ],
    "delta_repost": [
        "env.action_mode=delta",
        "env.decision_every=2",
        "portfolio.order_type=limit",
        "portfolio.limit_unfilled=repost",
    ],
    "continuous_band": ["env.action_type=continuous", "env.rebalance_threshold=0.3", "portfolio.order_type=limit"],
}


def _actions(env: TradingEnv, rng: np.random.Generator, n: int) -> list[Any]:
    if env.actions.is_discrete:
        return rng.integers(0, int(env.action_space.n), n).tolist()  # type: ignore[attr-defined]
    return [rng.uniform(-1.0, 1.0, 1).astype(np.float32) for _ in range(n)]


def _rollout(env: TradingEnv, start: int, actions: list[Any]) -> list[tuple[dict[str, np.ndarray], float]]:
    obs, _ = env.reset(options={"start_index": start})
    out = [(obs, 0.0)]
    for a in actions:
        obs, reward, _, _, _ = env.step(a)
        out.append((obs, reward))
    return out


@pytest.mark.parametrize("controls", CONTROLS.values(), ids=CONTROLS.keys())
def test_observation_at_t_is_the_same_on_data_cut_after_t(
    real_overrides: tuple[str, ...], real_dataset: Dataset, tmp_path: Path, controls: list[str]
) -> None:
    scaler_path = tmp_path / "scaler.json"
    assert real_dataset.scaler is not None
    real_dataset.scaler.save(scaler_path)
    scaler = FeatureScaler.load(scaler_path)
    env_overrides = ["env.window=16", "env.episode_length=64", *controls]
    full_env = make_env(load_config(None, [*real_overrides, *env_overrides]), split="all", dataset=real_dataset)
    runs = full_env.evaluation_episodes
    rng = np.random.default_rng(2023)
    # one t in each gap-free run, far enough from the run's start for N_STEPS steps before it
    span = N_STEPS * full_env.cfg.env.decision_every
    rows = [int(rng.integers(run.start + span, run.stop - 1)) for run in runs]
    for t in rows:
        end = pd.Timestamp(int(real_dataset.market.open_time_ms[t + 1]), unit="ms").isoformat()
        cut_cfg = load_config(None, [*real_overrides, *env_overrides, f"data.end={end}"])
        cut_dataset = build_dataset(cut_cfg, scaler=scaler)
        assert len(cut_dataset.market) == t + 1
        cut_env = make_env(cut_cfg, split="all", dataset=cut_dataset)
        start = t - span
        actions = _actions(full_env, rng, N_STEPS)
        full, cut = _rollout(full_env, start, actions), _rollout(cut_env, start, actions)
        assert cut_env.current_row == full_env.current_row == t
        for (obs_full, r_full), (obs_cut, r_cut) in zip(full, cut, strict=True):
            np.testing.assert_array_equal(obs_full["market"], obs_cut["market"])
            np.testing.assert_array_equal(obs_full["portfolio"], obs_cut["portfolio"])
            assert r_full == pytest.approx(r_cut, abs=0.0)
