"""env.mode universe: one symbol per episode, seeded draws, symbol-agnostic spaces, both env checkers, worker slices."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from bot.config import BotConfig, load_config
from bot.data.universe import Universe, build_universe
from bot.env.universe_env import UniverseEnv, worker_symbols
from bot.errors import ConfigError, DataError
from bot.training.shared_dataset import SharedUniverse
from bot.training.vec_env import ParallelVecEnv
from tests.support.toy_env import ReportEnv

BASKET = [
    "env.mode=universe",
    "data.synthetic.assets=3",
    "data.synthetic.n_bars=2500",
    "data.timeframes=[5m, 1h]",
    "features.indicators=[log_return, rsi, atr]",
    "env.window=8",
    "env.episode_length=32",
    "env.decision_every=1",
]


@pytest.fixture(scope="module")
def cfg() -> BotConfig:
    return load_config(None, BASKET)


@pytest.fixture(scope="module")
def universe(cfg: BotConfig) -> Universe:
    return build_universe(cfg)


@pytest.mark.parametrize("checker", [gym_check_env, sb3_check_env])
def test_universe_env_passes_the_env_checkers(cfg: BotConfig, universe: Universe, checker: Any) -> None:
    checker(UniverseEnv(cfg, universe, seed=3))


def test_each_episode_trades_one_symbol_drawn_by_the_seed(cfg: BotConfig, universe: Universe) -> None:
    env = UniverseEnv(cfg, universe, seed=0)
    drawn = []
    for _ in range(60):
        _, info = env.reset()
        drawn.append(info["symbol_id"])
        obs, _, _, _, step_info = env.step(env.action_space.sample())
        assert step_info["symbol_id"] == info["symbol_id"]
        # the observation is the drawn symbol's own rows, scaled by its own scaler
        features = universe.datasets[drawn[-1]].obs_features
        np.testing.assert_array_equal(obs["market"][-1], features[env.current.current_row])
    assert set(Counter(drawn)) == {0, 1, 2}

    def episodes(seed: int) -> list[tuple[int, int]]:
        other = UniverseEnv(cfg, universe)
        out = [(other.reset(seed=seed)[1]["symbol_id"], other.current.current_row)]
        out += [(other.reset()[1]["symbol_id"], other.current.current_row) for _ in range(10)]
        return out

    assert episodes(5) == episodes(5) != episodes(6)


def test_a_symbol_can_be_chosen_and_bad_choices_are_errors(cfg: BotConfig, universe: Universe) -> None:
    env = UniverseEnv(cfg, universe, symbols=[1, 2], seed=0)
    assert env.reset(options={"symbol": "SYN3/USDT"})[1]["symbol_id"] == 2
    assert {env.reset()[1]["symbol_id"] for _ in range(30)} == {1, 2}
    with pytest.raises(ValueError, match="not one this env draws from"):
        env.reset(options={"symbol": 0})
    with pytest.raises(ConfigError, match="must name at least one"):
        UniverseEnv(cfg, universe, symbols=[5])


@pytest.mark.parametrize(
    ("n_symbols", "n_workers", "expected"),
    [(5, 2, [[0, 2, 4], [1, 3]]), (2, 2, [[0], [1]]), (2, 4, [[0], [1], [0], [1]]), (3, 1, [[0, 1, 2]])],
)
def test_workers_get_distinct_symbol_slices(n_symbols: int, n_workers: int, expected: list[list[int]]) -> None:
    assert [worker_symbols(n_symbols, n_workers, w) for w in range(n_workers)] == expected


class _Probe(ReportEnv):
    def __init__(self, universe: Universe) -> None:
        close = universe.datasets[1].market.close
        self.report = {
            "shared": not close.flags.writeable and not close.flags.owndata and not universe.row.flags.owndata,
            "row_sum": int(universe.row.sum()),
            "close": close[:3].tolist(),
            "symbols": universe.symbols,
        }


@dataclass(frozen=True)
class _ProbeFactory:
    shared: SharedUniverse

    def __call__(self, worker_id: int, n_envs: int) -> list[gym.Env[Any, Any]]:
        return [_Probe(self.shared.get()) for _ in range(n_envs)]


def test_workers_map_the_universe_read_only_instead_of_copying_it(universe: Universe) -> None:
    shared = SharedUniverse(universe)
    assert shared.get() is universe
    assert shared.nbytes >= sum(d.obs_features.nbytes for d in universe.datasets) + universe.row.nbytes
    venv = ParallelVecEnv(_ProbeFactory(shared), n_workers=2, n_envs_per_worker=1)
    try:
        reports = venv.get_attr("report")
    finally:
        venv.close()
    for report in reports:
        assert report["shared"]
        assert report["row_sum"] == int(universe.row.sum())
        assert report["close"] == universe.datasets[1].market.close[:3].tolist()
        assert report["symbols"] == universe.symbols


def test_a_symbol_without_an_episode_is_named() -> None:
    cfg = load_config(None, [*BASKET, "data.synthetic.n_bars=600", "env.window=700"])  # a window longer than the data
    with pytest.raises(DataError, match=r"SYN1/USDT: split 'test' .* holds no episode"):
        UniverseEnv(cfg, build_universe(cfg), split="test")
