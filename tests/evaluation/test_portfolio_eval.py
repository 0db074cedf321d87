"""Portfolio evaluation: attribution sums to the PnL, and the baselines do what their names say on the same bars."""

from __future__ import annotations

import numpy as np
import pytest

from bot.config import BotConfig, load_config
from bot.data.universe import build_universe
from bot.env.portfolio_env import PortfolioEnv
from bot.evaluation.portfolio_eval import (
    attribution_table,
    inverse_volatility_weights,
    portfolio_baselines,
    run_policy,
)

BASKET = [
    "data.source=synthetic",
    "data.synthetic.assets=3",
    "data.synthetic.n_bars=3000",
    "data.timeframes=[5m, 1h]",
    "features.indicators=[log_return, rsi]",
    "env.mode=portfolio",
    "env.window=8",
    "env.decision_every=4",
    "env.random_start=false",
    "env.action_type=continuous",
    "training.algo=ppo",
]


def _cfg(*overrides: str) -> BotConfig:
    return load_config(None, [*BASKET, *overrides])


@pytest.fixture(scope="module")
def test_env() -> PortfolioEnv:
    cfg = _cfg("env.max_drawdown=1.0")
    return PortfolioEnv(cfg, build_universe(cfg), split="test")


def test_attribution_sums_to_the_pnl_of_the_policy_and_of_every_baseline(test_env: PortfolioEnv) -> None:
    rng = np.random.default_rng(3)
    policy = run_policy(test_env, lambda _obs: rng.uniform(-1.0, 1.0, 3).astype(np.float32))
    runs = [policy, *portfolio_baselines(test_env)]
    assert [r.name for r in runs] == [
        "policy",
        "buy_and_hold:SYN1/USDT",
        "buy_and_hold:SYN2/USDT",
        "buy_and_hold:SYN3/USDT",
        "equal_weight_buy_and_hold",
        "equal_weight_daily",
        "inverse_volatility_daily",
    ]
    first, stop = test_env.decision_span
    for run in runs:
        assert run.equity.size == stop - first  # the same bars for every run
        assert run.attribution.sum() == pytest.approx(run.pnl, rel=1e-9, abs=1e-6)
        assert run.fees > 0.0
    table = attribution_table(runs)
    assert "PnL SYN2/USDT" in table and "inverse_volatility_daily" in table


def test_buy_and_hold_follows_its_symbol_and_the_daily_rebalance_trades(test_env: PortfolioEnv) -> None:
    runs = {r.name: r for r in portfolio_baselines(test_env)}
    first, stop = test_env.decision_span
    close = test_env.rows.close
    hold = runs["buy_and_hold:SYN2/USDT"]
    assert hold.attribution[0] == hold.attribution[2] == 0.0
    price_return = close[stop - 1, 1] / test_env.rows.open[first + 1, 1] - 1.0
    assert hold.metrics["total_return"] == pytest.approx(price_return, abs=0.01)  # costs: entry fee and slippage
    assert runs["equal_weight_buy_and_hold"].trades.sum() == 0  # bought once, never closed
    daily = runs["equal_weight_daily"]
    days = np.unique(test_env.rows.time_ms[first:stop] // 86_400_000).size
    assert daily.fees > runs["equal_weight_buy_and_hold"].fees
    assert days >= 2
    # after each daily rebalance the weights are back to 1/3 of the equity
    np.testing.assert_allclose(np.abs(daily.exposure).sum(axis=1).max(), 1.0, atol=0.05)


def test_inverse_volatility_weights_favour_the_calm_symbol() -> None:
    rng = np.random.default_rng(0)
    calm = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, 200)))
    wild = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, 200)))
    close = np.column_stack([calm, wild])
    w = inverse_volatility_weights(close, 199, 100)
    assert w.sum() == pytest.approx(1.0)
    assert w[0] == pytest.approx(0.8, abs=0.05)
    # only closes up to t count: changing later bars changes nothing
    later = close.copy()
    later[150:, 0] *= np.exp(np.cumsum(rng.normal(0, 0.05, 50)))
    np.testing.assert_array_equal(
        inverse_volatility_weights(later, 149, 100), inverse_volatility_weights(close, 149, 100)
    )
    # a symbol without history yet: equal weights
    close[:198, 1] = np.nan
    np.testing.assert_array_equal(inverse_volatility_weights(close, 199, 100), [0.5, 0.5])
