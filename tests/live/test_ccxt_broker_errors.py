"""Bybit retCodes through the REAL ccxt client: transient ones retried, order refusals recorded, keys redacted,
an unreachable exchange failing at once with its cause."""

from __future__ import annotations

import socket
import time

import pytest

from bot.errors import AuthenticationError, BrokerError
from bot.exchange import RetryPolicy
from bot.live.broker import OrderRequest
from bot.live.ccxt_broker import CcxtBroker, live_exchange
from tests.support import bybit_faults as faults
from tests.support.bybit_emulator import BybitEmulator
from tests.support.bybit_trading import small_config

CREATE = "/v5/order/create"
KEY, SECRET = "K3yVa1ue-for-redaction", "S3cretVa1ue-for-redaction"


def _broker(url: str, key: str, secret: str) -> tuple[CcxtBroker, list[float]]:
    cfg = small_config(exchange_url=url)
    sleeps: list[float] = []
    exchange = live_exchange(cfg.live, key, secret, timeout_ms=2_000)
    exchange.enableRateLimit = False
    return CcxtBroker(exchange, cfg.live, cfg.portfolio, RetryPolicy(3, 0.01, sleeps.append)), sleeps


@pytest.mark.parametrize(
    "fault",
    [
        faults.ret_code(10016, "System error. Please try again later."),
        faults.ret_code(10002, "invalid request, please check your server timestamp or recv_window param"),
        faults.ret_code(10006, "Too many visits."),
        faults.http_error(500),
    ],
    ids=["10016", "10002", "10006", "500"],
)
def test_transient_ret_codes_are_retried(emulator: BybitEmulator, fault: faults.Fault) -> None:
    broker, sleeps = _broker(emulator.url, emulator.api_key, emulator.api_secret)
    broker.rules  # noqa: B018 - load the markets before counting
    emulator.inject(CREATE, fault, fault)
    state = broker.place(OrderRequest("t-1-0", "buy", 0.01))
    assert state.status == "closed" and emulator.count(CREATE) == 3 and len(sleeps) == 2


@pytest.mark.parametrize(
    "fault",
    [faults.ret_code(10001, "params error: qty invalid"), faults.ret_code(110013, "cannot set leverage")],
    ids=["10001", "110013"],
)
def test_a_refused_order_is_recorded_not_raised(emulator: BybitEmulator, fault: faults.Fault) -> None:
    broker, sleeps = _broker(emulator.url, emulator.api_key, emulator.api_secret)
    emulator.inject(CREATE, fault)
    state = broker.place(OrderRequest("t-2-0", "buy", 0.01))
    assert state.status == "rejected" and str(fault.ret_code) in state.error and sleeps == []


def test_a_params_error_outside_an_order_is_not_a_refusal(emulator: BybitEmulator) -> None:
    broker, _ = _broker(emulator.url, emulator.api_key, emulator.api_secret)
    emulator.inject("/v5/account/wallet-balance", faults.ret_code(10001, "accountType invalid"))
    with pytest.raises(BrokerError, match="10001"):
        broker.fetch_account(30_000.0)


def test_a_bad_signature_never_shows_the_key_or_secret(candles: object) -> None:
    with BybitEmulator(api_key=KEY, api_secret=SECRET) as emu:
        emu.feed("BTCUSDT", candles)  # type: ignore[arg-type]
        emu.set_bar(300)
        broker, _ = _broker(emu.url, KEY, "wrong-" + SECRET)
        with pytest.raises(AuthenticationError, match="10004") as info:
            broker.fetch_account(30_000.0)
    chain = [info.value, info.value.__cause__]
    assert "origin_string[" in str(info.value)  # Bybit's echo of the signed string is there, its key is not
    for error in chain:
        assert KEY not in str(error) and SECRET not in str(error), error


def test_an_unreachable_exchange_fails_at_once_naming_the_cause() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    broker, sleeps = _broker(url, KEY, SECRET)
    began = time.monotonic()
    with pytest.raises(BrokerError, match=r"cannot reach the exchange at http://127\.0\.0\.1:\d+ \(.*refused"):
        broker.probe()
    assert time.monotonic() - began < 5 and sleeps == []


def test_an_exchange_that_answers_5xx_is_reached(emulator: BybitEmulator) -> None:
    broker, _ = _broker(emulator.url, emulator.api_key, emulator.api_secret)
    emulator.inject("/v5/market/time", faults.http_error(503))
    broker.probe()  # the outage handling deals with it, not the start-up check
