"""Accounting invariants of the PortfolioManager over random bars and random order sequences (hypothesis)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from hypothesis import event, given, settings
from hypothesis import strategies as st

from bot.portfolio import FUNDING_INTERVAL_MS, PortfolioManager
from tests.portfolio.helpers import BAR_MS, free_config


@dataclass(frozen=True)
class Bar:
    open_: float
    high: float
    low: float
    close: float


@dataclass(frozen=True)
class Order:
    target: float
    sl: float
    tp: float
    size: float


def _tol(pm: PortfolioManager) -> float:
    """Absolute float tolerance: relative to the money that has moved through the account."""
    return 1e-9 * (pm.initial_cash + pm.fees_paid + abs(pm.realized_pnl) + abs(pm.unrealized_pnl)) * 100


@st.composite
def bars(draw: st.DrawFn, min_size: int = 1, max_size: int = 60) -> list[Bar]:
    n = draw(st.integers(min_size, max_size))
    price = draw(st.floats(10.0, 50_000.0))
    out = []
    for _ in range(n):
        gap = draw(st.floats(-0.15, 0.15))
        ret = draw(st.floats(-0.2, 0.2))
        up = draw(st.floats(0.0, 0.1))
        down = draw(st.floats(0.0, 0.1))
        open_ = price * (1.0 + gap)
        close = open_ * (1.0 + ret)
        high = max(open_, close) * (1.0 + up)
        low = min(open_, close) * (1.0 - down)
        out.append(Bar(open_, high, low, close))
        price = close
    return out


orders = st.builds(
    Order,
    target=st.one_of(st.sampled_from([-1.0, 0.0, 0.5, 1.0]), st.floats(-1.0, 1.0)),
    sl=st.one_of(st.just(0.0), st.floats(0.001, 0.3)),
    tp=st.one_of(st.just(0.0), st.floats(0.001, 0.5)),
    size=st.one_of(st.just(1.0), st.floats(0.0, 1.0)),
)

configs = st.fixed_dictionaries(
    {
        "market": st.sampled_from(["spot", "perpetual"]),
        "taker_fee": st.floats(0.0, 0.002),
        "slippage_bps": st.floats(0.0, 20.0),
        "slippage_range_frac": st.floats(0.0, 0.2),
        "leverage": st.sampled_from([1.0, 2.0, 5.0]),
        "maintenance_margin": st.floats(0.0, 0.05),
        "funding_rate_8h": st.floats(-0.001, 0.001),
        "lot_step": st.sampled_from([1e-8, 1e-5, 0.001, 0.1]),
        "min_notional": st.sampled_from([0.0, 5.0, 100.0]),
        "max_holding_bars": st.sampled_from([0, 1, 3, 10]),
        "order_type": st.sampled_from(["market", "limit"]),
        "maker_fee": st.floats(-0.0002, 0.001),
        "limit_offset": st.floats(0.0, 0.05),
        "limit_unfilled": st.sampled_from(["expire", "repost"]),
    }
)


def _make(cfg: dict[str, object]) -> PortfolioManager:
    overrides = dict(cfg)
    if overrides["market"] == "spot":
        overrides["leverage"] = 1.0
    return PortfolioManager(free_config(**overrides))


def _check_invariants(pm: PortfolioManager, previous_fees: float, mark: float) -> None:
    tol = _tol(pm)
    wallet = pm.initial_cash + pm.realized_pnl - pm.fees_paid - pm.funding_paid
    # equity identity: initial + realised + unrealised - fees - funding, and cash + position value at the mark
    assert abs(pm.equity - (wallet + pm.unrealized_pnl)) <= tol
    assert abs(pm.unrealized_pnl - pm.position_qty * (mark - pm.entry_price)) <= tol
    if pm.cfg.market == "spot":
        assert abs(pm.equity - (pm.cash + pm.position_qty * mark)) <= tol
    else:
        assert abs(pm.equity - (pm.cash + pm.position_qty * (mark - pm.entry_price))) <= tol
    # closed trades + open trade - funding == equity change
    closed = sum(t.pnl for t in pm.trades)
    assert abs(closed + pm.open_trade_pnl - pm.funding_paid - (pm.equity - pm.initial_cash)) <= tol
    if pm.cfg.maker_fee >= 0.0:
        assert pm.fees_paid >= previous_fees >= 0.0
    assert pm.slippage_paid >= 0.0
    assert 0 <= pm.limit_fills <= pm.limit_orders
    assert pm.equity >= -tol
    assert pm.n_trades == len(pm.trades) == pm.wins + pm.losses
    assert 0.0 <= pm.drawdown <= 1.0 + 1e-12
    if pm.cfg.market == "spot":
        assert pm.position_qty >= 0.0
        assert pm.cash >= -tol
        assert not pm.is_liquidated
    for trade in pm.trades:
        assert trade.fees >= 0.0 or pm.cfg.maker_fee < 0.0
        assert trade.bars_held >= 1 or trade.exit_reason == "signal"


@settings(max_examples=300, deadline=None)
@given(cfg=configs, path=bars(), data=st.data())
def test_accounting_identities_hold_on_every_bar(cfg: dict[str, object], path: list[Bar], data: st.DataObject) -> None:
    pm = _make(cfg)
    start = data.draw(st.integers(0, 3)) * FUNDING_INTERVAL_MS - 5 * BAR_MS
    for i, bar in enumerate(path):
        order = data.draw(orders)
        fees = pm.fees_paid
        pm.process_bar(
            start + 5 * BAR_MS + i * 6 * BAR_MS,  # some bars cross a funding time
            bar.open_,
            bar.high,
            bar.low,
            bar.close,
            order.target,
            order.sl,
            order.tp,
            order.size,
            data.draw(st.booleans()),  # a decision bar, or one between decisions (env.decision_every)
        )
        _check_invariants(pm, fees, bar.close)
        if pm.last_exit_reason:
            event(f"exit: {pm.last_exit_reason}")


@settings(max_examples=150, deadline=None)
@given(
    market=st.sampled_from(["spot", "perpetual"]),
    price=st.floats(1.0, 100_000.0),
    targets=st.lists(st.floats(-1.0, 1.0), min_size=1, max_size=30),
    lot_step=st.sampled_from([1e-8, 0.001]),
)
def test_zero_costs_and_constant_prices_never_change_equity(
    market: str, price: float, targets: list[float], lot_step: float
) -> None:
    pm = PortfolioManager(free_config(market=market, lot_step=lot_step, leverage=1.0))
    for i, target in enumerate(targets):
        pm.process_bar(i * BAR_MS, price, price, price, price, target, 0.01, 0.01, 1.0)
        assert abs(pm.equity - pm.initial_cash) <= 1e-9 * pm.initial_cash
        assert pm.fees_paid == pm.slippage_paid == 0.0


@settings(max_examples=200, deadline=None)
@given(
    cfg=configs,
    price=st.floats(10.0, 50_000.0),
    half_range=st.floats(0.0, 0.005),
    targets=st.lists(st.floats(-1.0, 1.0), min_size=1, max_size=20),
)
def test_trading_at_a_constant_price_loses_exactly_fees_and_slippage(
    cfg: dict[str, object], price: float, half_range: float, targets: list[float]
) -> None:
    # market orders: a limit order fills inside the range, away from the constant mark (a real gain or loss)
    cfg = {**cfg, "funding_rate_8h": 0.0, "leverage": 1.0, "max_holding_bars": 0, "order_type": "market"}
    pm = _make(cfg)
    high, low = price * (1 + half_range), price * (1 - half_range)
    for i, target in [*enumerate(targets), (len(targets), 0.0)]:
        pm.process_bar(i * BAR_MS, price, high, low, price, target, 0.0, 0.0, 1.0)
        assert abs((pm.initial_cash - pm.equity) - (pm.fees_paid + pm.slippage_paid)) <= _tol(pm)
    assert pm.position_qty == 0.0
    assert abs(sum(t.pnl for t in pm.trades) + pm.fees_paid + pm.slippage_paid) <= _tol(pm)


def test_identities_hold_over_a_year_of_real_candles(btc_5m_path: Path) -> None:
    df = pd.read_csv(btc_5m_path)
    rng = random.Random(5)
    for market in ("perpetual", "spot"):
        pm = PortfolioManager(
            free_config(
                market=market,
                leverage=3.0 if market == "perpetual" else 1.0,
                taker_fee=0.00055,
                slippage_bps=1.0,
                slippage_range_frac=0.02,
                funding_rate_8h=0.0001,
                lot_step=1e-5,
                min_notional=5.0,
            )
        )
        target, fees = 0.0, 0.0
        rows = zip(
            df["timestamp"].tolist(),
            df["open"].tolist(),
            df["high"].tolist(),
            df["low"].tolist(),
            df["close"].tolist(),
            strict=True,
        )
        for i, (time_ms, open_, high, low, close) in enumerate(rows):
            if rng.random() < 0.02:
                target = rng.choice([-1.0, 0.0, 1.0])
            pm.process_bar(time_ms, open_, high, low, close, target, 0.02, 0.04, 1.0)
            if i % 997 == 0 or pm.last_exit_reason:
                _check_invariants(pm, fees, close)
            fees = pm.fees_paid
            if pm.equity < 0.2 * pm.initial_cash:
                pm.reset()
                fees = 0.0
        _check_invariants(pm, fees, close)
        assert pm.n_trades > 10
