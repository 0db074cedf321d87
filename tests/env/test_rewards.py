"""Rewards: registry, hand checks, costs inside the reward, and the summed log return over a whole episode."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import pytest

from bot.config import BotConfig, EnvConfig
from bot.data.types import Dataset
from bot.env import REWARDS, TradingEnv, make_reward
from bot.env.rewards import MIN_EQUITY_RATIO, DifferentialSharpeReward
from bot.errors import ConfigError
from tests.support.market_builder import flat_ohlcv, make_dataset, make_market

ConfigFactory = Callable[..., BotConfig]


def test_registry_names_every_config_choice() -> None:
    assert set(REWARDS) == {"log_return", "differential_sharpe", "drawdown_penalized"}
    for name, cls in REWARDS.items():
        assert isinstance(make_reward(name, EnvConfig()), cls)


def test_unknown_reward_names_the_value_and_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"env.reward='sortino'.*differential_sharpe, drawdown_penalized, log_return"):
        make_reward("sortino", EnvConfig())


def test_log_return_is_scaled_log_of_equity_ratio() -> None:
    reward = make_reward("log_return", EnvConfig(reward_scale=100.0))
    assert reward(10_000.0, 10_100.0, 0.0, 0.0) == pytest.approx(100.0 * math.log(1.01))
    assert reward(10_000.0, 9_900.0, 0.0, 0.01) == pytest.approx(100.0 * math.log(0.99))


def test_log_return_floors_a_wipe_out() -> None:
    reward = make_reward("log_return", EnvConfig(reward_scale=1.0))
    assert reward(10_000.0, 0.0, 0.0, 1.0) == pytest.approx(math.log(MIN_EQUITY_RATIO))
    assert reward(10_000.0, -5.0, 0.0, 1.0) == pytest.approx(math.log(MIN_EQUITY_RATIO))


def test_drawdown_penalized_charges_only_increases() -> None:
    reward = make_reward("drawdown_penalized", EnvConfig(reward_scale=10.0, drawdown_penalty=0.5))
    down = reward(100.0, 98.0, 0.0, 0.02)
    assert down == pytest.approx(10.0 * (math.log(0.98) - 0.5 * 0.02))
    up = reward(98.0, 99.0, 0.02, 0.01)
    assert up == pytest.approx(10.0 * math.log(99.0 / 98.0))


def test_differential_sharpe_matches_a_hand_computation() -> None:
    eta, scale = 0.1, 2.0
    reward = DifferentialSharpeReward(EnvConfig(sharpe_eta=eta, reward_scale=scale))
    equities = [100.0, 101.0, 100.0, 102.0, 101.0]
    a = b = 0.0
    for prev, cur in itertools.pairwise(equities):
        r = cur / prev - 1.0
        var = b - a * a
        expected = 0.0 if var <= 0 else (b * (r - a) - 0.5 * a * (r * r - b)) / var**1.5
        got = reward(prev, cur, 0.0, 0.0)
        assert got == pytest.approx(scale * eta * expected, rel=1e-12, abs=1e-15)
        a, b = a + eta * (r - a), b + eta * (r * r - b)
    # the first step has no variance yet; later ones are non-zero
    assert reward.mean == pytest.approx(a) and reward.second_moment == pytest.approx(b)


def test_differential_sharpe_first_values_by_hand() -> None:
    reward = DifferentialSharpeReward(EnvConfig(sharpe_eta=0.5, reward_scale=1.0))
    assert reward(100.0, 110.0, 0.0, 0.0) == 0.0  # A = B = 0: no variance yet
    # now A = 0.05, B = 0.005, var = 0.0025; R = -0.1: dA = -0.15, dB = 0.005
    expected = 0.5 * (0.005 * -0.15 - 0.5 * 0.05 * 0.005) / 0.0025**1.5
    assert reward(110.0, 99.0, 0.0, 0.0) == pytest.approx(expected)
    reward.reset()
    assert reward.mean == 0.0 and reward.second_moment == 0.0


def _flat_env(make_cfg: ConfigFactory, *overrides: str) -> TradingEnv:
    dataset = make_dataset(make_market(flat_ohlcv(200)))
    return TradingEnv(make_cfg("env.reward_scale=1.0", "env.random_start=false", *overrides), dataset)


def _total_reward(env: TradingEnv, actions: list[int]) -> float:
    env.reset(seed=0)
    return sum(env.step(a)[1] for a in actions)


@pytest.mark.parametrize("name", sorted(REWARDS))
def test_fees_lower_the_reward(make_cfg: ConfigFactory, name: str) -> None:
    # flat prices: equity moves only by costs; go long, flat, short, flat
    actions = [2, 2, 1, 0, 1, 1, 2, 1]
    free = _flat_env(make_cfg, f"env.reward={name}", "portfolio.taker_fee=0", "portfolio.slippage_bps=0")
    costly = _flat_env(make_cfg, f"env.reward={name}", "portfolio.taker_fee=0.001", "portfolio.slippage_bps=5")
    free_total, costly_total = _total_reward(free, actions), _total_reward(costly, actions)
    assert free_total == pytest.approx(0.0, abs=1e-12)
    assert costly_total < free_total
    assert costly.portfolio.fees_paid > 0.0


def test_summed_log_return_equals_log_of_final_over_initial(make_cfg: ConfigFactory, small_dataset: Dataset) -> None:
    env = TradingEnv(make_cfg("env.reward_scale=1.0", "env.episode_length=64"), small_dataset, seed=5)
    rng = np.random.default_rng(0)
    for _ in range(3):
        env.reset()
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, info = env.step(int(rng.integers(3)))
            total += reward
            done = terminated or truncated
        assert total == pytest.approx(math.log(info["final_equity"] / 10_000.0), rel=1e-9, abs=1e-12)
        assert info["fees_paid"] > 0.0
