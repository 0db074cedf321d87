"""Invariants of the multi-asset BasketPortfolio over random baskets, bars and weight sequences (hypothesis).

They extend the single-asset ones of test_manager_properties.py to N assets, and check that a one-asset basket is the
single-asset PortfolioManager trade for trade.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from bot.portfolio import FUNDING_INTERVAL_MS, PortfolioManager
from bot.portfolio.basket import BasketPortfolio
from tests.portfolio.helpers import BAR_MS, free_config
from tests.portfolio.test_manager_properties import configs

Bars = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@st.composite
def baskets(draw: st.DrawFn, n_assets: int | None = None, max_bars: int = 40) -> Bars:
    """(open, high, low, close) float [T, N]: independent random walks with gaps, wicks and missing bars (NaN)."""
    n = n_assets or draw(st.integers(1, 4))
    t = draw(st.integers(1, max_bars))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    start = np.array([draw(st.floats(10.0, 50_000.0)) for _ in range(n)])
    gap = rng.uniform(-0.15, 0.15, (t, n)) * (rng.random((t, n)) < 0.3)
    ret = rng.uniform(-0.2, 0.2, (t, n))
    close = start * np.cumprod((1.0 + gap) * (1.0 + ret), axis=0)
    open_ = np.vstack([start, close[:-1]]) * (1.0 + gap)
    high = np.maximum(open_, close) * (1.0 + rng.uniform(0.0, 0.1, (t, n)))
    low = np.minimum(open_, close) * (1.0 - rng.uniform(0.0, 0.1, (t, n)))
    if n_assets is None and draw(st.booleans()):
        missing = rng.random((t, n)) < 0.15  # a gap in that asset's data
        for a in (open_, high, low, close):
            a[missing] = np.nan
    return open_, high, low, close


def _weights(data: st.DataObject, n: int, cap: float) -> np.ndarray:
    raw = np.array(data.draw(st.lists(st.floats(-1.0, 1.0), min_size=n, max_size=n)))
    gross = float(np.abs(raw).sum())
    scale = data.draw(st.floats(0.0, 1.0)) * cap / gross if gross > 0 else 0.0
    return raw * min(scale, 1.0)


def _make(cfg: dict[str, object], n: int) -> BasketPortfolio:
    overrides = dict(cfg)
    if overrides["market"] == "spot":
        overrides["leverage"] = 1.0
    return BasketPortfolio(free_config(**overrides), [f"A{i}/USDT" for i in range(n)])


def _tol(pm: BasketPortfolio) -> float:
    moved = pm.initial_cash + float(np.abs(pm.fees).sum() + np.abs(pm.realized).sum() + np.abs(pm.unrealized).sum())
    return 1e-9 * moved * 100


def _check(pm: BasketPortfolio, fees_before: np.ndarray) -> None:
    tol = _tol(pm)
    unrealized = pm.qty * (pm.mark - pm.entry)
    wallet = pm.initial_cash + pm.realized.sum() - pm.fees.sum() - pm.funding.sum()
    assert abs(pm.wallet - wallet) <= tol
    # equity = cash + the positions' values, and the per-asset attribution sums to the account's PnL
    assert abs(pm.equity - (wallet + unrealized.sum())) <= tol
    assert abs(pm.equity - (pm.cash + pm.position_value.sum())) <= tol
    assert abs(pm.attribution.sum() - (pm.equity - pm.initial_cash)) <= tol
    # per asset: closed trades + the open trade - funding == that asset's attribution
    for i in range(pm.n):
        closed = sum(t.pnl for t in pm.trades[i])
        open_pnl = pm._pos_realized[i] + unrealized[i] - pm._pos_fees[i]
        assert abs(closed + open_pnl - pm.funding[i] - pm.attribution[i]) <= tol
    if pm.cfg.maker_fee >= 0.0:
        assert np.all(pm.fees >= fees_before - 1e-12) and np.all(pm.fees >= 0.0)
    assert np.all(pm.slippage >= 0.0)
    assert pm.equity >= -tol
    assert 0.0 <= pm.drawdown <= 1.0 + 1e-12
    assert pm.n_trades == sum(len(t) for t in pm.trades) == pm.wins + pm.losses
    assert 0 <= pm.limit_fills <= pm.limit_orders
    if pm.is_spot:
        assert np.all(pm.qty >= 0.0)
        assert pm.cash >= -tol
        assert not pm.is_liquidated
    for log in pm.trades:
        for trade in log:
            assert trade.bars_held >= 1 or trade.exit_reason in ("signal", "liquidation")


@settings(max_examples=40, deadline=None)
@given(cfg=configs, bars=baskets(), data=st.data())
def test_accounting_identities_hold_on_every_bar(cfg: dict[str, object], bars: Bars, data: st.DataObject) -> None:
    open_, high, low, close = bars
    n = open_.shape[1]
    pm = _make(cfg, n)
    start = data.draw(st.integers(0, 3)) * FUNDING_INTERVAL_MS
    for t in range(open_.shape[0]):
        weights = _weights(data, n, pm.max_gross / pm.leverage)
        tradable = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
        qty_before, fees_before = pm.qty.copy(), pm.fees.copy()
        pm.process_bar(
            start + t * 6 * BAR_MS,  # some bars cross a funding time
            open_[t],
            high[t],
            low[t],
            close[t],
            weights,
            tradable,
            data.draw(st.one_of(st.just(0.0), st.floats(0.001, 0.3))),
            data.draw(st.one_of(st.just(0.0), st.floats(0.001, 0.5))),
            new_decision=data.draw(st.booleans()),
            rebalance=data.draw(st.booleans()),
        )
        _check(pm, fees_before)
        # no order on an untradable asset or one without a bar: only exits (stops, liquidation, max holding) move it
        exited = {i for i, _ in pm.last_exits}
        blocked = ~tradable | np.isnan(close[t])
        for i in np.flatnonzero(blocked):
            if i not in exited:
                assert pm.qty[i] == qty_before[i]
        for _, reason in pm.last_exits:
            event(f"exit: {reason}")


@settings(max_examples=25, deadline=None)
@given(cfg=configs, bars=baskets(), data=st.data())
def test_a_rebalance_respects_the_gross_leverage_cap(cfg: dict[str, object], bars: Bars, data: st.DataObject) -> None:
    cfg = {**cfg, "funding_rate_8h": 0.0, "max_holding_bars": 0, "order_type": "market", "min_notional": 0.0}
    open_, high, low, close = (np.nan_to_num(a, nan=100.0) for a in bars)
    n = open_.shape[1]
    pm = _make(cfg, n)
    for t in range(open_.shape[0]):
        weights = _weights(data, n, pm.max_gross / pm.leverage)
        equity_at_open = pm.wallet + float(pm.qty @ (open_[t] - pm.entry))
        pm.process_bar(t * BAR_MS, open_[t], high[t], low[t], close[t], weights, rebalance=True)
        if pm.is_liquidated:
            return
        # orders size at the fill price (at or beyond the open by the slippage); lots round toward zero
        slip = pm.cfg.slippage_bps / 1e4 + pm.cfg.slippage_range_frac * float(np.max((high[t] - low[t]) / open_[t]))
        gross = float(np.abs(pm.qty) @ open_[t])
        assert gross <= pm.max_gross * max(equity_at_open, 0.0) * (1.0 + slip) / (1.0 - slip) + 1e-6
    if pm.is_spot and n == 1:
        return  # a single spot weight is clipped to [0, 1], as in the single-asset manager
    too_much = np.full(n, 1.01 * pm.max_gross / pm.leverage / n)
    with pytest.raises(ValueError, match="gross exposure"):
        pm.process_bar(0, open_[0], high[0], low[0], close[0], too_much)


@settings(max_examples=60, deadline=None)
@given(cfg=configs, bars=baskets(n_assets=1), data=st.data())
def test_a_one_asset_basket_is_the_single_asset_manager(
    cfg: dict[str, object], bars: Bars, data: st.DataObject
) -> None:
    # leverage 1 and no maintenance margin: the single-asset manager lets a liquidation pre-empt a farther stop,
    # the basket checks stops first (documented in bot/portfolio/basket.py); otherwise they must agree exactly
    cfg = {**cfg, "leverage": 1.0, "maintenance_margin": 0.0}
    basket = _make(cfg, 1)
    single = PortfolioManager(basket.cfg)
    open_, high, low, close = bars
    for t in range(open_.shape[0]):
        target = data.draw(st.one_of(st.sampled_from([-1.0, 0.0, 0.5, 1.0]), st.floats(-1.0, 1.0)))
        sl = data.draw(st.one_of(st.just(0.0), st.floats(0.001, 0.3)))
        tp = data.draw(st.one_of(st.just(0.0), st.floats(0.001, 0.5)))
        decision = data.draw(st.booleans())
        bar = (float(open_[t, 0]), float(high[t, 0]), float(low[t, 0]), float(close[t, 0]))
        single.process_bar(t * 7 * BAR_MS, *bar, target, sl, tp, 1.0, decision)
        basket.process_bar(t * 7 * BAR_MS, *bars_at(bars, t), [target], None, sl, tp, new_decision=decision)
        assert basket.qty[0] == pytest.approx(single.position_qty, rel=1e-9, abs=1e-12)
        assert basket.equity == pytest.approx(single.equity, rel=1e-9)
        assert basket.fees_paid == pytest.approx(single.fees_paid, rel=1e-9, abs=1e-9)
        assert len(basket.trades[0]) == len(single.trades)
        assert [x.exit_reason for x in basket.trades[0]] == [x.exit_reason for x in single.trades]


def bars_at(bars: Bars, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return bars[0][t], bars[1][t], bars[2][t], bars[3][t]


@settings(max_examples=30, deadline=None)
@given(
    market=st.sampled_from(["spot", "perpetual"]),
    prices=st.lists(st.floats(1.0, 100_000.0), min_size=2, max_size=4),
    data=st.data(),
)
def test_zero_costs_and_constant_prices_never_change_equity(
    market: str, prices: list[float], data: st.DataObject
) -> None:
    p = np.array(prices)
    pm = BasketPortfolio(free_config(market=market, lot_step=1e-8), [f"A{i}" for i in range(p.size)])
    for t in range(data.draw(st.integers(1, 20))):
        pm.process_bar(t * BAR_MS, p, p, p, p, _weights(data, p.size, 1.0), stop_loss_pct=0.01)
        assert abs(pm.equity - pm.initial_cash) <= 1e-9 * pm.initial_cash
        assert pm.fees_paid == pm.slippage_paid == 0.0
