"""Metrics against hand-computed values on tiny series and against empyrical."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bot.evaluation.metrics import TradeStats, compute_metrics
from bot.portfolio.metrics import (
    cagr,
    drawdown_series,
    max_drawdown_duration,
    periods_per_year,
    sharpe_ratio,
    simple_returns,
    sortino_ratio,
)
from bot.training.rollout import Costs

empyrical = pytest.importorskip("empyrical", reason="empyrical-reloaded is a dev dependency")


def test_periods_per_year_uses_a_365_day_year() -> None:
    assert periods_per_year("5m") == 365 * 288
    assert periods_per_year("1h") == 365 * 24
    assert periods_per_year("1d") == 365
    with pytest.raises(ValueError, match="unknown timeframe '7m'"):
        periods_per_year("7m")


def test_hand_computed_tiny_series() -> None:
    equity = [100.0, 110.0, 99.0, 121.0]
    rets = simple_returns(equity)
    np.testing.assert_allclose(rets, [0.1, -0.1, 121 / 99 - 1])
    np.testing.assert_allclose(drawdown_series(equity), [0, 0, 0.1, 0])
    assert max_drawdown_duration(equity) == 1
    assert max_drawdown_duration([1.0, 0.9, 0.8, 0.95, 1.0, 1.1]) == 3
    # 3 bars of 1d: growth 1.21 over 3/365 years
    assert cagr(equity, 365) == pytest.approx(1.21 ** (365 / 3) - 1)
    mean = float(np.mean(rets))
    std = float(np.std(rets, ddof=1))
    assert sharpe_ratio(rets, 365) == pytest.approx(mean / std * math.sqrt(365))
    downside = math.sqrt((0.1**2) / 3) * math.sqrt(365)
    assert sortino_ratio(rets, 365) == pytest.approx(mean * 365 / downside)


def test_trade_metrics_by_hand() -> None:
    trades = [TradeStats(10.0, 2), TradeStats(-5.0, 4), TradeStats(20.0, 6), TradeStats(-5.0, 2)]
    m = compute_metrics(
        equity=[100.0, 110.0, 105.0, 125.0, 120.0],
        exposure=[0.0, 1.0, 1.0, 0.0, -1.0],
        trades=trades,
        costs=Costs(fees=1.0, slippage=0.5, traded_notional=560.0),
        timeframe="1h",
    )
    assert m.trades == 4
    assert m.win_rate == 0.5
    assert m.profit_factor == pytest.approx(30 / 10)
    assert m.expectancy == pytest.approx(5.0)
    assert m.avg_holding_bars == pytest.approx(3.5)
    assert m.exposure == pytest.approx(3 / 5)
    assert m.turnover == pytest.approx(560.0 / np.mean([100, 110, 105, 125, 120]))
    assert m.total_return == pytest.approx(0.2)
    assert m.max_drawdown == pytest.approx(5 / 110)
    assert m.fees_paid == 1.5
    assert m.final_equity == 120.0


def test_cost_breakdown_by_hand() -> None:
    # 4 bars of 1h: 1/6 day; net +20, costs 3 + 1 + 2 = 6, so the gross price PnL was +26
    costs = Costs(fees=3.0, slippage=1.0, funding=2.0, traded_notional=500.0, limit_orders=4, limit_fills=3)
    m = compute_metrics([100.0, 105.0, 110.0, 115.0, 120.0], [1.0] * 5, [TradeStats(20.0, 4)], costs, "1h")
    assert m.days == pytest.approx(4 / 24)
    assert m.gross_pnl == pytest.approx(26.0)
    assert (m.fees, m.slippage, m.funding, m.fees_paid) == (3.0, 1.0, 2.0, 4.0)
    assert m.gross_pnl - m.fees - m.slippage - m.funding == pytest.approx(m.final_equity - 100.0)
    assert m.cost_drag == pytest.approx(6 / 26)
    assert m.cost_drag_equity == pytest.approx(0.06)
    assert m.turnover == pytest.approx(500 / 110)
    assert m.turnover_per_day == pytest.approx(500 / 110 * 6)
    assert m.trades_per_day == pytest.approx(6.0)
    assert m.fill_rate == 0.75


def test_cost_drag_without_a_gross_edge() -> None:
    # gross = -10 + 4 = -6: the costs ate an edge that did not exist
    losing = compute_metrics([100.0, 90.0], [1.0, 1.0], [], Costs(fees=4.0), "1d")
    assert losing.gross_pnl == pytest.approx(-6.0) and losing.cost_drag == math.inf
    assert math.isnan(losing.fill_rate)  # market orders only
    received = compute_metrics([100.0, 101.0], [-1.0, -1.0], [], Costs(funding=-1.0), "1d")
    assert received.gross_pnl == pytest.approx(0.0) and received.cost_drag == 0.0 and received.funding == -1.0
    assert compute_metrics([100.0] * 3, [0.0] * 3, [], Costs(), "1d").cost_drag == 0.0


def test_degenerate_cases() -> None:
    flat = compute_metrics([100.0] * 10, [0.0] * 10, [], Costs(), "5m")
    assert flat.sharpe == 0.0
    assert flat.sortino == 0.0
    assert flat.max_drawdown == 0.0
    assert flat.calmar == 0.0
    assert flat.profit_factor == 0.0
    assert flat.win_rate == 0.0
    only_wins = compute_metrics([100.0, 101.0, 102.0], [1.0] * 3, [TradeStats(2.0, 2)], Costs(), "5m")
    assert only_wins.profit_factor == math.inf
    assert only_wins.sortino == math.inf


@pytest.mark.parametrize(
    ("equity", "exposure", "match"),
    [([], [], "non-empty"), ([0.0, 1.0], [0.0, 0.0], "start positive"), ([1.0, 2.0], [0.0], "expected the equity")],
)
def test_bad_inputs(equity: list[float], exposure: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        compute_metrics(equity, exposure, [], Costs(), "5m")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_empyrical(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rets = rng.normal(0.0002, 0.01, size=2000)
    equity = 1000.0 * np.concatenate([[1.0], np.cumprod(1 + rets)])
    ppy = periods_per_year("1h")
    m = compute_metrics(equity, np.ones_like(equity), [], Costs(), "1h", risk_free_annual=0.0)
    assert m.sharpe == pytest.approx(empyrical.sharpe_ratio(rets, annualization=ppy), rel=1e-9)
    assert m.sortino == pytest.approx(empyrical.sortino_ratio(rets, annualization=ppy), rel=1e-9)
    assert m.cagr == pytest.approx(empyrical.annual_return(rets, annualization=ppy), rel=1e-9)
    assert m.volatility == pytest.approx(empyrical.annual_volatility(rets, annualization=ppy), rel=1e-9)
    assert m.max_drawdown == pytest.approx(-empyrical.max_drawdown(rets), rel=1e-9)
    assert m.calmar == pytest.approx(empyrical.calmar_ratio(rets, annualization=ppy), rel=1e-9)
