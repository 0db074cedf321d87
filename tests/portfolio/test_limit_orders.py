"""Maker execution: post-only limit orders at the decision close +- offset, filled only when a bar trades through."""

from __future__ import annotations

import pytest

from bot.portfolio import PortfolioManager
from tests.portfolio.helpers import BAR_MS, free_config


def _limit_pm(**overrides: object) -> PortfolioManager:
    cfg = free_config(order_type="limit", limit_offset=0.01, maker_fee=0.0002, taker_fee=0.001, **overrides)
    pm = PortfolioManager(cfg)
    pm.reset(reference_price=100.0)
    return pm


def _bar(
    pm: PortfolioManager, i: int, o: float, h: float, lo: float, c: float, target: float, new: bool = True
) -> None:
    pm.process_bar(i * BAR_MS, o, h, lo, c, target, 0.0, 0.0, 1.0, new)


def test_buy_limit_fills_at_its_price_with_the_maker_fee_when_the_bar_trades_through() -> None:
    pm = _limit_pm()
    _bar(pm, 1, 100.0, 101.0, 98.9, 100.0, 1.0)  # limit at 99: the low 98.9 trades through it
    assert pm.limit_orders == pm.limit_fills == 1
    assert pm.entry_price == pytest.approx(99.0)
    qty = pm.position_qty
    assert qty == pytest.approx(10_000.0 / 99.0 / (1.0), rel=1e-6)
    assert pm.fees_paid == pytest.approx(qty * 99.0 * 0.0002)
    assert pm.slippage_paid == 0.0
    assert pm.traded_notional == pytest.approx(qty * 99.0)


def test_a_touch_is_not_a_fill_and_the_order_expires() -> None:
    pm = _limit_pm()
    _bar(pm, 1, 100.0, 101.0, 99.0, 100.0, 1.0)  # low == limit price: a touch, no fill
    assert pm.position_qty == 0.0
    assert (pm.limit_orders, pm.limit_fills) == (1, 0)
    _bar(pm, 2, 100.0, 101.0, 90.0, 100.0, 1.0, new=False)  # between decisions an expired order is not re-posted
    assert pm.position_qty == 0.0
    assert pm.limit_orders == 1
    _bar(pm, 3, 100.0, 101.0, 98.0, 100.0, 1.0, new=True)  # the next decision places it again
    assert pm.position_qty > 0.0
    assert (pm.limit_orders, pm.limit_fills) == (2, 1)


def test_repost_places_the_order_again_every_bar_at_the_new_close() -> None:
    pm = _limit_pm(limit_unfilled="repost")
    _bar(pm, 1, 100.0, 101.0, 99.5, 110.0, 1.0)  # limit 99 not reached; the bar closes at 110
    assert pm.position_qty == 0.0
    _bar(pm, 2, 110.0, 111.0, 108.8, 110.0, 1.0, new=False)  # re-posted at 110 * 0.99 = 108.9
    assert pm.entry_price == pytest.approx(108.9)
    assert (pm.limit_orders, pm.limit_fills) == (2, 1)


def test_sell_limit_closes_a_long_only_above_the_offset() -> None:
    pm = _limit_pm()
    _bar(pm, 1, 100.0, 101.0, 98.0, 100.0, 1.0)
    _bar(pm, 2, 100.0, 101.0, 99.0, 100.0, 0.0)  # sell limit at 101: a touch of the high
    assert pm.position_qty > 0.0
    _bar(pm, 3, 100.0, 101.5, 99.0, 100.0, 0.0)
    assert pm.position_qty == 0.0
    assert pm.trades[-1].exit_price == pytest.approx(101.0)
    assert pm.trades[-1].exit_reason == "signal"


def test_cancelled_request_places_nothing() -> None:
    pm = _limit_pm()
    _bar(pm, 1, 100.0, 101.0, 99.5, 100.0, 1.0)  # unfilled
    _bar(pm, 2, 100.0, 101.0, 90.0, 100.0, 0.0)  # the agent wants flat again: no order, nothing to fill
    assert pm.position_qty == 0.0
    assert pm.limit_orders == 1


def test_market_orders_wait_for_the_next_decision() -> None:
    pm = PortfolioManager(free_config())
    pm.reset()
    pm.process_bar(BAR_MS, 100.0, 100.0, 100.0, 100.0, 1.0, 0.0, 0.0, 1.0, False)
    assert pm.position_qty == 0.0
    pm.process_bar(2 * BAR_MS, 100.0, 100.0, 100.0, 100.0, 1.0, 0.0, 0.0, 1.0, True)
    assert pm.position_qty == pytest.approx(100.0)
    assert pm.limit_orders == 0


def test_stops_still_act_between_decisions() -> None:
    pm = PortfolioManager(free_config())
    pm.reset()
    pm.process_bar(BAR_MS, 100.0, 100.0, 100.0, 100.0, 1.0, 0.05, 0.0, 1.0, True)
    pm.process_bar(2 * BAR_MS, 100.0, 100.0, 90.0, 95.0, 1.0, 0.05, 0.0, 1.0, False)
    assert pm.position_qty == 0.0
    assert pm.trades[-1].exit_reason == "stop_loss"
    pm.process_bar(3 * BAR_MS, 95.0, 95.0, 95.0, 95.0, 1.0, 0.05, 0.0, 1.0, False)
    assert pm.position_qty == 0.0  # no re-entry until the next decision
