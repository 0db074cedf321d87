"""Episodes terminate on bankruptcy and past ``env.max_drawdown``, on a hand-built crash (prices gap 100 -> 40)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np
import pytest

from bot.config import BotConfig
from bot.env import TradingEnv
from bot.env.rewards import MIN_EQUITY_RATIO
from bot.env.spaces import PORTFOLIO_BOUND, PORTFOLIO_FEATURES
from tests.support.market_builder import Ohlcv, make_dataset, make_market

ConfigFactory = Callable[..., BotConfig]

CRASH_ROW = 50


def _crash_env(cfg: BotConfig) -> TradingEnv:
    price = np.where(np.arange(100) < CRASH_ROW, 100.0, 40.0)
    ohlcv = Ohlcv(price, price.copy(), price.copy(), price.copy(), np.full(100, 100.0))
    return TradingEnv(cfg, make_dataset(make_market(ohlcv)), split="all")


def _hold_long_into_the_crash(env: TradingEnv, long_action: int) -> tuple[bool, bool, dict[str, object]]:
    env.reset(options={"start_index": CRASH_ROW - 5})
    for _ in range(5):
        _, reward, terminated, truncated, info = env.step(long_action)
        assert math.isfinite(reward)
        if terminated or truncated:
            return terminated, truncated, info
    raise AssertionError("the crash did not end the episode")


def test_drawdown_past_the_limit_terminates(make_cfg: ConfigFactory, caplog: pytest.LogCaptureFixture) -> None:
    env = _crash_env(make_cfg("portfolio.market=spot", "env.max_drawdown=0.5"))
    with caplog.at_level(logging.INFO, logger="bot.env.trading_env"):
        terminated, truncated, info = _hold_long_into_the_crash(env, 1)
    assert terminated and not truncated
    assert env.current_row == CRASH_ROW
    assert info["drawdown"] > 0.5 and info["max_drawdown"] == info["drawdown"]
    assert not info["bankrupt"] and info["trades"] == 1 and info["win_rate"] == 0.0
    assert "Drawdown limit hit" in caplog.text
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(1)


def test_bankruptcy_terminates(make_cfg: ConfigFactory) -> None:
    env = _crash_env(make_cfg("portfolio.leverage=5", "env.max_drawdown=1.0", "env.reward_scale=1.0"))
    env.reset(options={"start_index": CRASH_ROW - 5})
    done = False
    while not done:
        obs, reward, terminated, truncated, info = env.step(2)
        done = terminated or truncated
    assert terminated and info["bankrupt"] and info["liquidated"]
    assert info["final_equity"] == 0.0 and info["episode_return"] == -1.0
    assert reward == pytest.approx(math.log(MIN_EQUITY_RATIO))  # the wipe-out's reward is floored, finite
    portfolio = dict(zip(PORTFOLIO_FEATURES, obs["portfolio"].tolist(), strict=True))
    assert abs(portfolio["equity_log_return"]) <= PORTFOLIO_BOUND
    assert env.observation_space.contains(obs)
