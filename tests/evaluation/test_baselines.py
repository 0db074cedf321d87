"""Baselines on tiny hand-built markets: buy-and-hold, flat, MA crossover, random policy and its confidence interval."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bot.config import PortfolioConfig
from bot.evaluation.baselines import (
    agent_pace,
    buy_and_hold,
    flat,
    ma_crossover,
    ma_crossover_runs,
    mean_ci,
    random_baseline,
    random_levels,
    run_exposures,
    simulate_exposures,
    t_quantile_975,
)
from bot.portfolio import floor_to_step
from tests.support.market_builder import Ohlcv, make_market, random_ohlcv

COSTS = PortfolioConfig(
    order_type="market", taker_fee=0.001, slippage_bps=10.0, slippage_range_frac=0.0, lot_step=1e-8, min_notional=0.0
)


def _ohlcv(opens: list[float], closes: list[float]) -> Ohlcv:
    o, c = np.array(opens), np.array(closes)
    return Ohlcv(o, np.maximum(o, c), np.minimum(o, c), c, np.full(o.size, 100.0))


def test_buy_and_hold_is_the_price_return_minus_entry_costs() -> None:
    market = make_market(_ohlcv([100, 101, 102, 103, 104], [101, 102, 103, 104, 110]))
    rows = range(0, 5)
    result = run_exposures(market, [rows], [buy_and_hold(5)], COSTS, "bh", "5m")
    fill = 101 * (1 + 10 / 1e4)  # decided at row 0's close, filled at row 1's open with 10 bps slippage
    qty = floor_to_step(10_000 / fill, 1e-8)
    fee = qty * fill * 0.001
    expected = (qty * (110 - fill) - fee) / 10_000
    assert result.metrics.total_return == pytest.approx(expected, rel=1e-12)
    # the same as the price return from the entry open, less the entry fee and slippage (no exit cost at the end)
    assert expected == pytest.approx(qty * (110 - 101) / 10_000 - (fee + qty * (fill - 101)) / 10_000, rel=1e-12)
    assert result.metrics.fees_paid == pytest.approx(fee + qty * (fill - 101))
    assert result.metrics.trades == 1 and result.trades[0].exit_reason == "open_at_end"
    assert result.trades[0].entry_time_ms == market.open_time_ms[1]
    assert result.equity[0] == 10_000 and result.exposure[0] == 0.0


def test_cost_breakdown_of_a_funded_long_by_hand() -> None:
    # 4h bars from 00:00 UTC: funding is charged at the opens of 08:00 (row 2) and 16:00 (row 4) on the position held
    opens, closes = [100, 100, 110, 120, 125, 130], [100, 110, 120, 125, 130, 140]
    market = make_market(_ohlcv(opens, closes), base_ms=14_400_000)
    costs = COSTS.model_copy(update={"funding_rate_8h": 0.0001})
    result = run_exposures(market, [range(0, 6)], [buy_and_hold(6)], costs, "bh", "4h")
    fill = 100 * (1 + 10 / 1e4)
    qty = floor_to_step(10_000 / fill, 1e-8)
    m = result.metrics
    assert m.fees == pytest.approx(qty * fill * 0.001, rel=1e-12)
    assert m.slippage == pytest.approx(qty * (fill - 100), rel=1e-12)
    assert m.funding == pytest.approx(qty * (110 + 125) * 0.0001, rel=1e-12)
    assert m.gross_pnl == pytest.approx(qty * (140 - 100), rel=1e-12)  # price PnL from the open, before every cost
    assert m.gross_pnl - m.fees - m.slippage - m.funding == pytest.approx(m.final_equity - 10_000, rel=1e-12)
    assert m.fees_paid == pytest.approx(m.fees + m.slippage)
    assert m.cost_drag == pytest.approx((m.fees + m.slippage + m.funding) / m.gross_pnl)
    assert m.days == pytest.approx(5 / 6) and m.trades_per_day == pytest.approx(1.2)
    assert m.turnover_per_day == pytest.approx(qty * 100 / np.mean(result.equity) * 1.2)
    assert math.isnan(m.fill_rate)


def test_fill_rate_of_post_only_limit_orders_by_hand() -> None:
    # a buy rests at the decision close - 1 % = 99: row 1's low 99.5 does not trade through it, row 2's 98.9 does
    lows = np.array([100.0, 99.5, 98.9, 99.5, 99.5])
    closes = np.array([100.0, 100.0, 100.0, 101.0, 102.0])
    candles = Ohlcv(np.full(5, 100.0), np.full(5, 102.5), lows, closes, np.full(5, 100.0))
    limit = COSTS.model_copy(
        update={"order_type": "limit", "limit_offset": 0.01, "maker_fee": 0.0002, "funding_rate_8h": 0.0}
    )
    result = run_exposures(make_market(candles), [range(0, 5)], [buy_and_hold(5)], limit, "bh", "5m")
    qty = floor_to_step(10_000 / 99.0, 1e-8)
    m = result.metrics
    assert m.fill_rate == 0.5  # two orders placed, one filled
    assert (m.slippage, m.funding) == (0.0, 0.0)  # a maker fill at its limit price has no slippage
    assert m.fees == pytest.approx(qty * 99.0 * 0.0002, rel=1e-12)
    assert m.gross_pnl == pytest.approx(qty * (102.0 - 99.0), rel=1e-12)
    assert m.gross_pnl - m.fees == pytest.approx(m.final_equity - 10_000, rel=1e-12)


def test_cost_breakdown_chains_across_a_gap() -> None:
    market = make_market(random_ohlcv(120, seed=4), gap_at=60)
    runs = [range(10, 60), range(70, 120)]
    funded = COSTS.model_copy(update={"funding_rate_8h": 0.001})
    signals = ma_crossover_runs(market, runs, 3, 8, can_short=True)
    m = run_exposures(market, runs, signals, funded, "ma", "5m").metrics
    assert m.fees > 0 and m.slippage > 0 and m.trades > 2
    assert m.gross_pnl - m.fees - m.slippage - m.funding == pytest.approx(m.final_equity - 10_000, rel=1e-9)


def test_flat_never_trades_and_returns_zero() -> None:
    market = make_market(random_ohlcv(50, seed=3))
    result = run_exposures(market, [range(0, 50)], [flat(50)], COSTS, "flat", "5m")
    np.testing.assert_array_equal(result.equity, np.full(50, 10_000.0))
    m = result.metrics
    assert (m.total_return, m.trades, m.fees_paid, m.exposure, m.sharpe) == (0.0, 0, 0.0, 0.0, 0.0)


def test_ma_crossover_by_hand() -> None:
    close = np.array([1.0, 2, 3, 4, 3, 2, 1, 2, 3])
    np.testing.assert_array_equal(ma_crossover(close, 2, 3, can_short=True), [0, 0, 1, 1, 1, -1, -1, -1, 1])
    np.testing.assert_array_equal(ma_crossover(close, 2, 3, can_short=False), [0, 0, 1, 1, 1, 0, 0, 0, 1])
    np.testing.assert_array_equal(ma_crossover(close[:2], 2, 3, can_short=True), [0, 0])
    with pytest.raises(ValueError, match="fast < slow, got fast=3, slow=3"):
        ma_crossover(close, 3, 3, can_short=True)


def test_ma_crossover_is_causal() -> None:
    close = random_ohlcv(300, seed=1).close
    full = ma_crossover(close, 5, 20, can_short=True)
    for t in (19, 50, 150, 299):
        changed = close.copy()
        changed[t + 1 :] *= 3.0  # rewrite the future
        np.testing.assert_array_equal(ma_crossover(changed, 5, 20, can_short=True)[: t + 1], full[: t + 1])
        np.testing.assert_array_equal(ma_crossover(close[: t + 1], 5, 20, can_short=True), full[: t + 1])


def test_ma_crossover_runs_never_average_across_a_gap() -> None:
    market = make_market(random_ohlcv(120, seed=2), gap_at=60)
    runs = [range(30, 60), range(70, 120)]
    first, second = ma_crossover_runs(market, runs, 3, 8, can_short=True)
    np.testing.assert_array_equal(first, ma_crossover(market.close[:60], 3, 8, True)[30:])
    np.testing.assert_array_equal(second, ma_crossover(market.close[60:120], 3, 8, True)[10:])


def test_runs_are_chained_across_a_gap() -> None:
    market = make_market(random_ohlcv(120, seed=4), gap_at=60)
    runs = [range(10, 60), range(70, 120)]
    chained = run_exposures(market, runs, [buy_and_hold(len(r)) for r in runs], COSTS, "bh", "5m")
    growth = [simulate_exposures(market, r, buy_and_hold(len(r)), COSTS).equity[-1] / 10_000 for r in runs]
    assert chained.metrics.total_return == pytest.approx(growth[0] * growth[1] - 1, rel=1e-12)
    assert chained.metrics.n_bars == 50 + 49  # the second run's opening mark repeats the first run's final equity
    assert chained.metrics.trades == 2
    assert chained.time_ms[50] == market.open_time_ms[71]


def test_simulate_exposures_rejects_bad_input() -> None:
    market = make_market(random_ohlcv(10))
    with pytest.raises(ValueError, match="exposures has 3 values for 10 rows"):
        simulate_exposures(market, range(0, 10), np.ones(3), COSTS)
    with pytest.raises(ValueError, match="at least 2 bars"):
        simulate_exposures(market, range(0, 1), np.ones(1), COSTS)


def test_random_levels_are_seeded_draws_of_the_levels() -> None:
    a = random_levels(1000, [-1.0, 0.0, 1.0], seed=5)
    assert set(np.unique(a).tolist()) == {-1.0, 0.0, 1.0}
    np.testing.assert_array_equal(a, random_levels(1000, [-1.0, 0.0, 1.0], seed=5))
    assert not np.array_equal(a, random_levels(1000, [-1.0, 0.0, 1.0], seed=6))


def test_random_levels_at_a_pace_hold_their_level_between_draws() -> None:
    every_bar = random_levels(20_000, [-1.0, 0.0, 1.0], seed=5)
    paced = random_levels(20_000, [-1.0, 0.0, 1.0], seed=5, switch_prob=0.03)
    changes = np.count_nonzero(np.diff(paced))
    assert changes / 19_999 == pytest.approx(0.03 * 2 / 3, rel=0.15)  # a new draw repeats the level 1 time in 3
    assert np.count_nonzero(np.diff(every_bar)) / 19_999 == pytest.approx(2 / 3, rel=0.05)
    np.testing.assert_array_equal(paced, random_levels(20_000, [-1.0, 0.0, 1.0], seed=5, switch_prob=0.03))
    with pytest.raises(ValueError, match=r"switch_prob=0.0 must lie in \(0, 1\]"):
        random_levels(10, [0.0, 1.0], seed=1, switch_prob=0.0)


def test_agent_pace_matches_the_rate_of_position_changes() -> None:
    exposure = np.array([0.0, 1.0, 1.0, 1.0, 0.0, 0.0, -1.0, -1.0, -1.0, -1.0, 0.0])  # 4 changes in 10 bars
    assert agent_pace(exposure, 3) == pytest.approx(0.4 * 1.5)
    assert agent_pace(np.zeros(101), 3) == pytest.approx(0.015)  # never trades: one change assumed
    assert agent_pace(np.array([0.0, 1.0, -1.0, 1.0]), 2) == 1.0


def test_random_baseline_is_reproducible_and_its_ci_contains_the_mean() -> None:
    market = make_market(random_ohlcv(200, seed=6))
    runs = [range(0, 200)]
    a = random_baseline(market, runs, [-1.0, 0.0, 1.0], COSTS, "5m", n_runs=8, seed=11)
    b = random_baseline(market, runs, [-1.0, 0.0, 1.0], COSTS, "5m", n_runs=8, seed=11)
    c = random_baseline(market, runs, [-1.0, 0.0, 1.0], COSTS, "5m", n_runs=8, seed=12)
    np.testing.assert_equal(a.mean, b.mean)  # NaN-aware: the fill rate is NaN without limit orders
    assert a.total_returns == b.total_returns
    assert a.total_returns != c.total_returns
    for key in ("total_return", "sharpe", "max_drawdown", "trades"):
        assert a.ci_low[key] <= a.mean[key] <= a.ci_high[key]
        assert a.p025[key] <= a.p975[key]
    assert a.mean["total_return"] == pytest.approx(np.mean(a.total_returns))
    assert a.mean["total_return"] < 0  # paying costs on random trades loses money
    assert a.share_beaten_by(1.0) == 1.0 and a.share_beaten_by(-1.0) == 0.0
    with pytest.raises(ValueError, match="n_runs=0 must be >= 1"):
        random_baseline(market, runs, [0.0, 1.0], COSTS, "5m", n_runs=0, seed=1)


def test_t_quantiles_and_mean_ci_by_hand() -> None:
    assert t_quantile_975(1) == pytest.approx(12.7062)
    assert t_quantile_975(10) == pytest.approx(2.2281)
    assert t_quantile_975(60) == pytest.approx(2.0003, abs=2e-4)
    assert t_quantile_975(1000) == pytest.approx(1.9623, abs=2e-4)
    with pytest.raises(ValueError, match="degrees of freedom must be >= 1, got 0"):
        t_quantile_975(0)
    mean, half = mean_ci(np.array([[1.0, 5.0, 1.0], [2.0, math.inf, 1.0], [3.0, 7.0, 1.0]]))
    np.testing.assert_allclose(mean, [2.0, 6.0, 1.0])
    assert half[0] == pytest.approx(4.3027 / math.sqrt(3))
    assert half[1] == pytest.approx(12.7062 * math.sqrt(2) / math.sqrt(2))  # inf left out: two values 5, 7
    assert half[2] == 0.0
