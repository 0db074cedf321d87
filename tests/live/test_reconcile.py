"""Reconciliation from the exchange's own history with the REAL ccxt client: 7-day windows, pages, executions ahead of
the order history, spot, and the recovery of a bar's orders after a crash and a restart bars later."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bot.errors import KillSwitchError
from bot.exchange import RetryPolicy
from bot.live.broker import ExecutionPlan, OrderRequest, OrderState
from bot.live.ccxt_broker import CcxtBroker, live_exchange
from bot.live.reconcile import bar_of
from tests.support.bybit_candles import make_candles
from tests.support.bybit_emulator import BybitEmulator
from tests.support.bybit_trading import FixedPolicy, make_trader, small_config

DAY_MS = 86_400_000


@pytest.fixture
def candles() -> pd.DataFrame:
    return make_candles(1200, seed=3)


def _broker(emu: BybitEmulator, symbol: str = "BTC/USDT:USDT") -> CcxtBroker:
    cfg = small_config(exchange_url=emu.url, symbol=symbol)
    exchange = live_exchange(cfg.live, emu.api_key, emu.api_secret, timeout_ms=3_000)
    exchange.enableRateLimit = False
    return CcxtBroker(exchange, cfg.live, cfg.portfolio, RetryPolicy(3, 0.01, lambda s: None))


def _order(emu: BybitEmulator, link_id: str, side: str, category: str = "linear", qty: str = "0.001") -> None:
    body = {"category": category, "symbol": "BTCUSDT", "side": side, "orderType": "Market", "qty": qty}
    with emu.lock:
        emu.account.create_order({**body, "orderLinkId": link_id, "marketUnit": "baseCoin"}, emu.now_ms)


def test_history_walks_seven_day_windows_and_pages(emu: BybitEmulator) -> None:
    since = emu.now_ms
    for k in range(120):  # 120 orders over 10 days: more than a page, more than one 7-day window
        emu.set_time(since + k * (10 * DAY_MS // 120))
        _order(emu, f"bothist-{k}", "Buy" if k % 2 == 0 else "Sell")
    emu.clear_requests()
    found = _broker(emu).history(since)
    assert [o.client_id for o in found] == [f"bothist-{k}" for k in range(120)]
    assert all(o.filled == pytest.approx(0.001) and o.status == "closed" for o in found)
    # window 1: 84 orders = 2 pages of 50; window 2: 36 orders; executions: 100 a page
    assert emu.count("/v5/order/history") == 3 and emu.count("/v5/execution/list") == 2


def test_executions_count_when_the_order_history_lags(emu: BybitEmulator) -> None:
    since = emu.now_ms
    _order(emu, "botlag-0", "Buy")
    with emu.lock:
        order = emu.account.orders.pop()  # filled, but not in the order history yet
    (found,) = _broker(emu).history(since)
    assert (found.client_id, found.order_id, found.side) == ("botlag-0", order.order_id, "buy")
    assert found.filled == pytest.approx(0.001) and found.average_price > 0


def test_spot_history(emu: BybitEmulator) -> None:
    since = emu.now_ms
    _order(emu, "botspot-0", "Buy", category="spot", qty="0.01")
    (found,) = _broker(emu, "BTC/USDT").history(since)
    assert found.client_id == "botspot-0" and found.filled == pytest.approx(0.01)


def test_orders_sent_before_a_crash_are_recovered_by_a_restart_bars_later(
    emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path
) -> None:
    class CrashError(Exception):
        pass

    sent: list[list[OrderState]] = []

    def crash(plan: ExecutionPlan, orders: list[OrderState]) -> None:
        if orders:
            sent.append(orders)
            raise CrashError

    state = tmp_path / "s.sqlite"
    first = make_trader(emu, candles, state, FixedPolicy(2), after_execute=crash)
    with pytest.raises(CrashError):
        first.run(3)
    first.state.close()
    (lost,) = sent[0]
    emu.advance(3)  # the restart comes three bars later: that bar is never redone
    second = make_trader(emu, candles, state, FixedPolicy(2))
    second.start()  # the start-up reconciliation
    (row,) = [r for r in second.state.fills() if r["client_id"] == lost.client_id]
    assert row["qty"] == pytest.approx(lost.filled) and row["bar_open_ms"] == bar_of(lost, "bottest", 300_000)


def test_bar_of_reads_the_bar_from_the_client_id() -> None:
    ours = OrderState("tag-65f0a1b0-1", "x", "buy", 1, 1, 1, "closed", time_ms=5)
    theirs = OrderState("exchange-x", "x", "sell", 1, 1, 1, "closed", time_ms=1_000_123)
    assert bar_of(ours, "tag", 300_000) == 0x65F0A1B0 * 1000
    assert bar_of(theirs, "tag", 300_000) == 900_000


def test_a_refused_request_is_never_recovered_as_an_order(emu: BybitEmulator) -> None:
    broker = _broker(emu)
    since = emu.now_ms
    refused = broker.place(OrderRequest("botref-0", "buy", 500.0))  # far beyond the margin: 110007
    assert refused.status == "rejected"
    assert broker.history(since) == []


def test_a_crash_while_the_kill_switch_flattens_loses_no_fill(
    emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path
) -> None:
    class CrashError(Exception):
        pass

    def crash(*args: object) -> None:
        raise CrashError  # the process dies after the flattening order went out, before the bar is recorded

    state = tmp_path / "s.sqlite"
    trader = make_trader(emu, candles, state, FixedPolicy(2), max_position_notional=4_000.0)
    with emu.lock:  # a manual 1 BTC long, far above the 4,000 USDT cap
        emu.account.usdt = 1_000_000.0
        _order(emu, "", "Buy", qty="1")
    trader.state.record_bar = crash  # type: ignore[method-assign]
    with pytest.raises(CrashError):
        trader.run(1)
    trader.state.close()
    (flatten,) = [o for o in emu.account.orders if o.link_id.startswith("bottest-")]
    assert flatten.filled == pytest.approx(1.0) and emu.account.position("BTCUSDT").size == 0
    again = make_trader(emu, candles, state, FixedPolicy(2))
    with pytest.raises(KillSwitchError, match="tripped earlier"):
        again.run(1)
    fills = {r["client_id"]: r["qty"] for r in again.state.fills()}
    assert fills[flatten.link_id] == pytest.approx(1.0)
