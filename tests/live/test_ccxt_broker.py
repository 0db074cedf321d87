"""``CcxtBroker`` with the REAL ccxt client against the loopback Bybit emulator: data, orders, faults, errors."""

from __future__ import annotations

import logging
import math
from typing import Any

import pandas as pd
import pytest

from bot.errors import AuthenticationError, BrokerError, TransientBrokerError
from bot.exchange import RetryPolicy
from bot.live.broker import ExecutionPlan, OrderRequest
from bot.live.ccxt_broker import CcxtBroker, live_exchange
from tests.support import bybit_faults as faults
from tests.support.bybit_emulator import BybitEmulator
from tests.support.bybit_trading import small_config

CREATE = "/v5/order/create"


def make_broker(
    emu: BybitEmulator,
    key: str | None = None,
    secret: str | None = None,
    symbol: str = "BTC/USDT:USDT",
    timeout_ms: int = 3_000,
) -> tuple[CcxtBroker, list[float]]:
    cfg = small_config(exchange_url=emu.url, symbol=symbol)
    sleeps: list[float] = []
    exchange = live_exchange(cfg.live, key or emu.api_key, secret or emu.api_secret, timeout_ms=timeout_ms)
    exchange.enableRateLimit = False
    return CcxtBroker(exchange, cfg.live, cfg.portfolio, RetryPolicy(3, 0.01, sleeps.append)), sleeps


def plan(target: float, prefix: str = "t-1", price: float = 30_000.0) -> ExecutionPlan:
    return ExecutionPlan(0, target, 1.0, 0.02, 0.04, price, prefix)


def test_rules_time_and_candles(emulator: BybitEmulator) -> None:
    broker, _ = make_broker(emulator)
    rules = broker.rules
    assert (rules.qty_step, rules.min_qty, rules.min_notional, rules.is_spot) == (0.001, 0.001, 5.0, False)
    assert broker.fetch_time_ms() == emulator.now_ms
    candles = broker.fetch_candles("5m", emulator.bar_open_ms(290), 5)
    assert [c.open_ms for c in candles] == [emulator.bar_open_ms(i) for i in range(290, 295)]


def test_execute_opens_with_exchange_side_stops_then_reverses(emulator: BybitEmulator) -> None:
    broker, _ = make_broker(emulator)
    price = broker.fetch_candles("5m", None, 1)[-1].open
    expected = math.floor(10_000.0 / price * 1000) / 1000
    (opened,) = broker.execute(plan(1.0, "t-1", price), last_exposure=0.0)
    assert opened.status == "closed" and opened.filled == pytest.approx(expected) and opened.client_id == "t-1-0"
    account = broker.fetch_account(price)
    assert account.position_qty == pytest.approx(expected)
    assert account.stop_loss == pytest.approx(round(price * 0.98, 1), abs=0.1)
    close, short = broker.execute(plan(-1.0, "t-2", price), last_exposure=1.0)
    assert close.reduce_only and close.side == "sell" and short.side == "sell"
    assert broker.fetch_account(price).position_qty < 0


@pytest.mark.parametrize(
    "fault",
    [faults.timeout(1.0), faults.http_error(503), faults.http_error(502), faults.rate_limit(), faults.forbidden()],
    ids=["timeout", "503", "502", "10006", "403"],
)
def test_transient_faults_are_retried(emulator: BybitEmulator, fault: faults.Fault) -> None:
    broker, sleeps = make_broker(emulator, timeout_ms=300)
    broker.rules  # noqa: B018 - load markets before counting
    emulator.inject(CREATE, fault, fault)
    state = broker.place(OrderRequest("t-9-0", "buy", 0.01))
    assert state.status == "closed" and state.filled == pytest.approx(0.01)
    assert emulator.count(CREATE) == 3 and sleeps == [0.01, 0.04]
    assert emulator.orders_with_link_id("t-9-0") == 1


def test_lost_response_is_adopted_not_duplicated(emulator: BybitEmulator, caplog: pytest.LogCaptureFixture) -> None:
    broker, _ = make_broker(emulator, timeout_ms=300)
    emulator.inject(CREATE, faults.timeout(1.0, after=True))
    with caplog.at_level(logging.INFO):
        state = broker.place(OrderRequest("t-7-0", "buy", 0.01))
    assert state.filled == pytest.approx(0.01)
    assert emulator.orders_with_link_id("t-7-0") == 1 and emulator.count(CREATE) == 2
    assert "already exists" in caplog.text


def test_retries_are_bounded(emulator: BybitEmulator) -> None:
    broker, sleeps = make_broker(emulator)
    emulator.inject("/v5/market/time", *[faults.http_error(500)] * 4)
    with pytest.raises(TransientBrokerError, match="fetch time"):
        broker.fetch_time_ms()
    assert emulator.count("/v5/market/time") == 4 and len(sleeps) == 3


@pytest.mark.parametrize(
    ("fault", "match"),
    [(faults.insufficient_funds(), "insufficient funds"), (faults.rejected(), "order rejected")],
)
def test_refusals_come_back_as_rejected_orders(
    emulator: BybitEmulator, fault: faults.Fault, match: str, caplog: pytest.LogCaptureFixture
) -> None:
    broker, sleeps = make_broker(emulator)
    emulator.inject(CREATE, fault)
    state = broker.place(OrderRequest("t-3-0", "buy", 0.01))
    assert state.status == "rejected" and match in state.error and sleeps == []
    assert emulator.orders_with_link_id("t-3-0") == 0
    assert "refused" in caplog.text


def test_real_insufficient_margin_is_rejected(emulator: BybitEmulator) -> None:
    broker, _ = make_broker(emulator)
    state = broker.place(OrderRequest("t-4-0", "buy", 50.0))
    assert state.status == "rejected" and "110007" in state.error


def test_partial_fill_is_reported_and_the_next_plan_tops_up(emulator: BybitEmulator) -> None:
    broker, _ = make_broker(emulator)
    price = broker.fetch_candles("5m", None, 1)[-1].open
    emulator.inject(CREATE, faults.partial_fill(0.5))
    (first,) = broker.execute(plan(1.0, "t-5", price), last_exposure=0.0)
    assert first.filled == pytest.approx(first.qty / 2, abs=0.001) and first.status == "closed"
    (top_up,) = broker.execute(plan(1.0, "t-6", price), last_exposure=0.0)
    expected = math.floor(10_000.0 / price * 1000) / 1000
    assert top_up.side == "buy" and broker.fetch_account(price).position_qty == pytest.approx(expected, abs=0.002)


@pytest.mark.parametrize(("key", "secret", "code"), [("wrong", None, "10003"), (None, "wrong", "10004")])
def test_bad_credentials_are_a_clear_authentication_error(
    emulator: BybitEmulator, key: str | None, secret: str | None, code: str
) -> None:
    broker, sleeps = make_broker(emulator, key=key, secret=secret)
    with pytest.raises(AuthenticationError, match=f"{code}.*BYBIT_API_KEY / BYBIT_API_SECRET"):
        broker.fetch_account(30_000.0)
    assert sleeps == []


def test_unknown_symbol_names_it(emulator: BybitEmulator) -> None:
    broker, _ = make_broker(emulator, symbol="DOGE/USDT:USDT")
    with pytest.raises(BrokerError, match="'DOGE/USDT:USDT' is not listed"):
        _ = broker.rules


def test_spot_buys_and_sells_the_base_coin(emulator: BybitEmulator) -> None:
    broker, _ = make_broker(emulator, symbol="BTC/USDT")
    price = broker.fetch_candles("5m", None, 1)[-1].open
    (buy,) = broker.execute(plan(1.0, "s-1", price), last_exposure=0.0)
    assert buy.filled > 0 and broker.fetch_account(price).position_qty == pytest.approx(buy.filled)
    (sell,) = broker.execute(plan(0.0, "s-2", price), last_exposure=1.0)
    assert sell.side == "sell" and broker.fetch_account(price).position_qty == pytest.approx(0.0, abs=1e-9)


def test_prepare_sets_leverage_once(emulator: BybitEmulator) -> None:
    broker, _ = make_broker(emulator)
    broker.prepare()
    assert emulator.account.position("BTCUSDT").leverage == 1.0
    broker.prepare()  # 110043 'not modified' is fine


def test_exchange_triggered_stop_is_reported_once(emulator: BybitEmulator, candles: pd.DataFrame) -> None:
    broker, _ = make_broker(emulator)
    broker.prepare()
    price = broker.fetch_candles("5m", None, 1)[-1].open
    tight = ExecutionPlan(0, 1.0, 1.0, 0.0001, 0.0, price, "t-8")
    broker.execute(tight, last_exposure=0.0)
    assert broker.drain_fills() == []
    emulator.advance(3)
    (stop,) = broker.drain_fills()
    assert stop.client_id.startswith("exchange-") and stop.side == "sell" and stop.filled > 0
    assert broker.fetch_account(price).position_qty == 0.0
    assert broker.drain_fills() == []


class _HistoryExchange:
    """Just enough of ``ccxt.bybit`` for ``prepare`` and ``drain_fills``; records each order-history query."""

    id = "bybit"

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms
        self.queries: list[tuple[int | None, int | None]] = []
        self.options: dict[str, Any] = {}

    def fetch_time(self) -> int:
        return self.now_ms

    def load_markets(self) -> dict[str, Any]:
        limits = {"amount": {"min": 0.001}, "cost": {"min": 5.0}}
        market = {"spot": False, "limits": limits, "precision": {"amount": 0.001, "price": 0.1}}
        return {"BTC/USDT:USDT": {**market, "base": "BTC", "quote": "USDT"}}

    def market(self, symbol: str) -> dict[str, Any]:
        return self.load_markets()[symbol]

    def set_leverage(self, leverage: float, symbol: str) -> None:
        pass

    def fetch_closed_orders(self, symbol: str, since: int | None = None, limit: int | None = None) -> list[Any]:
        self.queries.append((since, limit))
        return []


def test_triggered_fills_are_looked_up_in_a_window_that_follows_the_clock() -> None:
    # Bybit's order history answers a lone startTime with the 7 days after it: a start fixed at the run's
    # beginning would stop showing triggered stops after a week.
    start = 1_700_000_000_000
    exchange = _HistoryExchange(start)
    cfg = small_config()
    broker = CcxtBroker(exchange, cfg.live, cfg.portfolio, RetryPolicy(0, 0.0, lambda s: None))
    assert broker.drain_fills() == [] and exchange.queries == []  # nothing before prepare
    broker.prepare()
    broker.drain_fills()
    exchange.now_ms = start + 10 * 86_400_000
    broker.fetch_time_ms()
    broker.drain_fills()
    (first, first_limit), (later, _) = exchange.queries
    assert first == start and first_limit == 50
    assert start + 7 * 86_400_000 < later < exchange.now_ms
