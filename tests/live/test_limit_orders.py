"""Post-only limit orders of ``CcxtBroker`` with the REAL ccxt client against the loopback Bybit emulator.

The emulator's candles (``make_candles``) open at the previous close and every bar's low lies at least 0.02 % below
its open and its high 0.02 % above: a buy 0.01 % under the decision close always fills in the next bar, one 1 % under
it never does within a few bars.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from bot.errors import OrderRejectedError
from bot.exchange import POST_ONLY_REASON, RetryPolicy
from bot.live.broker import ExecutionPlan, OrderRequest
from bot.live.ccxt_broker import CcxtBroker, live_exchange
from bot.live.ccxt_history import order_state
from bot.live.ccxt_limit import refused_order
from bot.live.sizing import limit_price
from tests.support import bybit_faults as faults
from tests.support.bybit_emulator import BybitEmulator
from tests.support.bybit_trading import small_config

CREATE, CANCEL = "/v5/order/create", "/v5/order/cancel"
NEAR, FAR = 0.0001, 0.01


def make_broker(emu: BybitEmulator) -> CcxtBroker:
    cfg = small_config(exchange_url=emu.url, portfolio={"order_type": "limit"})
    exchange = live_exchange(cfg.live, emu.api_key, emu.api_secret)
    exchange.enableRateLimit = False
    return CcxtBroker(exchange, cfg.live, cfg.portfolio, RetryPolicy(3, 0.01, lambda s: None))


def limit_plan(emu: BybitEmulator, target: float, offset: float, prefix: str = "t-1") -> ExecutionPlan:
    close = emu.account.price("BTCUSDT", emu.now_ms)  # the forming bar opens at the last close
    return ExecutionPlan(emu.bar_open_ms(emu.bar_index - 1), target, 1.0, 0.02, 0.04, close, prefix, offset)


def test_limit_price_is_on_the_tick_and_never_nearer_than_the_offset() -> None:
    assert limit_price(30_000.0, "buy", 0.0005, 0.1) == pytest.approx(29_985.0)
    assert limit_price(30_000.03, "buy", 0.0, 0.1) == pytest.approx(30_000.0)
    assert limit_price(30_000.03, "sell", 0.0, 0.1) == pytest.approx(30_000.1)
    assert limit_price(30_000.0, "sell", 0.0, 0.1) == pytest.approx(30_000.0)


def test_a_limit_plan_sends_a_post_only_order_on_the_tick_that_rests(emulator: BybitEmulator) -> None:
    broker = make_broker(emulator)
    plan = limit_plan(emulator, 1.0, FAR)
    (order,) = broker.execute(plan, last_exposure=0.0)
    body = next(r.body for r in emulator.requests if r.path == CREATE)
    assert body is not None
    price = limit_price(plan.reference_price, "buy", FAR, 0.1)
    assert body["orderType"] == "Limit" and body["timeInForce"] == "PostOnly" and body["orderLinkId"] == "t-1-0"
    assert float(body["price"]) == pytest.approx(price) and abs(float(body["price"]) * 10 - round(price * 10)) < 1e-6
    # sized at the limit price, within the fee reserve of perpetuals (bot.live.sizing.FEE_RESERVE)
    assert float(body["qty"]) == pytest.approx(math.floor(10_000.0 / (1 + 3 * 0.00055) / price * 1000) / 1000)
    assert float(body["stopLoss"]) == pytest.approx(round(price * 0.98, 1), abs=0.1)
    assert (order.status, order.filled, order.order_type, order.price) == ("open", 0.0, "limit", pytest.approx(price))
    # a retry or a restart in the same bar adopts it: no second order
    assert broker.execute(plan, last_exposure=0.0)[0].order_id == order.order_id
    assert emulator.orders_with_link_id("t-1-0") == 1


def test_a_bar_trading_through_fills_it_at_its_price_with_the_maker_fee(emulator: BybitEmulator) -> None:
    broker = make_broker(emulator)
    (order,) = broker.execute(limit_plan(emulator, 1.0, NEAR), last_exposure=0.0)
    emulator.advance()
    final = broker.finish_limit_order("t-1-0", None)
    assert final is not None and final.status == "closed" and final.filled == pytest.approx(order.qty)
    assert final.average_price == pytest.approx(order.price)
    assert final.fee == pytest.approx(order.qty * order.price * 0.0002)
    assert emulator.count(CANCEL) == 0
    account = broker.fetch_account(order.price)
    assert account.position_qty == pytest.approx(order.qty) and account.stop_loss == pytest.approx(
        round(order.price * 0.98, 1), abs=0.1
    )


def test_an_unfilled_order_is_cancelled_after_its_bar(emulator: BybitEmulator) -> None:
    broker = make_broker(emulator)
    broker.execute(limit_plan(emulator, 1.0, FAR), last_exposure=0.0)
    emulator.advance()
    final = broker.finish_limit_order("t-1-0", None)
    assert final is not None and (final.status, final.filled) == ("canceled", 0.0)
    assert emulator.count(CANCEL) == 1 and broker.open_orders() == []
    assert broker.fetch_account(1.0).position_qty == 0.0


def test_a_partial_fill_keeps_the_filled_part_and_cancels_the_rest(emulator: BybitEmulator) -> None:
    broker = make_broker(emulator)
    emulator.set_limit_fill_fraction(0.4)
    (order,) = broker.execute(limit_plan(emulator, 1.0, NEAR), last_exposure=0.0)
    emulator.advance()
    plan = limit_plan(emulator, 1.0, NEAR)
    final = broker.finish_limit_order("t-1-0", plan)
    part = math.floor(order.qty * 0.4 * 1000) / 1000
    assert final is not None and final.status == "canceled" and final.filled == pytest.approx(part)
    assert emulator.count(CANCEL) == 1
    assert broker.fetch_account(order.price).position_qty == pytest.approx(part)
    history = {o.client_id: o for o in broker.history(emulator.bar_open_ms(0))}
    assert history["t-1-0"].filled == pytest.approx(part) and history["t-1-0"].order_type == "limit"


def test_a_post_only_order_that_would_take_liquidity_is_unfilled_not_an_error(emulator: BybitEmulator) -> None:
    broker = make_broker(emulator)
    # the price fell 0.1 % since the decision close: a buy 0.01 % under that close crosses the book; Bybit accepts
    # the request and cancels the order at once
    plan = limit_plan(emulator, 1.0, NEAR)
    (order,) = broker.execute(dataclasses.replace(plan, reference_price=plan.reference_price * 1.001), 0.0)
    assert (order.status, order.filled, order.error) == ("canceled", 0.0, "EC_PostOnlyWillTakeLiquidity")
    assert broker.fetch_account(1.0).position_qty == 0.0
    emulator.advance()
    assert broker.finish_limit_order("t-1-0", None) == order and emulator.count(CANCEL) == 0


def test_a_post_only_refusal_sent_as_an_error_is_unfilled_too(emulator: BybitEmulator) -> None:
    broker = make_broker(emulator)
    broker.rules  # noqa: B018 - load markets first
    emulator.inject(CREATE, faults.rejected(110007 + 1, "PostOnly order will take liquidity"))
    (order,) = broker.execute(limit_plan(emulator, 1.0, FAR), last_exposure=0.0)
    assert order.status == "canceled" and order.filled == 0.0 and "PostOnly" in order.error
    rejected = refused_order(OrderRequest("x-0", "buy", 0.01), OrderRejectedError("create: order rejected: 110017"))
    assert rejected.status == "rejected" and rejected.order_type == "market"


def test_a_post_only_order_reported_rejected_is_an_unfilled_cancel() -> None:
    raw = {"id": "1", "clientOrderId": "t-1-0", "side": "buy", "type": "limit", "amount": 0.1, "price": 100.0}
    state = order_state({**raw, "status": "rejected", "info": {"rejectReason": "EC_PostOnlyWillTakeLiquidity"}})
    assert (state.status, state.filled, state.error, state.price) == ("canceled", 0.0, POST_ONLY_REASON, 100.0)
    assert order_state({**raw, "status": "rejected", "info": {"rejectReason": "EC_NoError"}}).status == "rejected"


def test_stops_refused_at_placement_are_set_on_the_position_after_the_fill(emulator: BybitEmulator) -> None:
    broker = make_broker(emulator)
    broker.rules  # noqa: B018 - load markets first
    refusal = "StopLoss:1 set for Buy position should lower than base_price:2??LastPrice"
    emulator.inject(CREATE, faults.rejected(10001, refusal))
    plan = limit_plan(emulator, 1.0, NEAR)
    (order,) = broker.execute(plan, last_exposure=0.0)  # sent again without its stops, resting
    assert order.status == "open" and emulator.count(CREATE) == 2
    emulator.advance()
    assert broker.fetch_account(order.price).stop_loss == 0.0  # filled without stops
    final = broker.finish_limit_order(order.client_id, plan)
    assert final is not None and final.filled == pytest.approx(order.qty)
    account = broker.fetch_account(order.price)
    assert account.stop_loss == pytest.approx(round(order.price * 0.98, 1), abs=0.1)
    assert account.take_profit == pytest.approx(round(order.price * 1.04, 1), abs=0.1)
