"""Tests of the downloader's ccxt boundary: the bounded retrier, error translation, client construction."""

from __future__ import annotations

import logging
from collections.abc import Callable

import ccxt
import pytest

from bot.data.download_exchange import call_with_retries, check_timeframe, make_exchange, page_limit
from bot.errors import BrokerError, ConfigError, TransientBrokerError


def _flaky(errors: list[Exception], result: str = "ok") -> tuple[Callable[[], str], list[int]]:
    """A call that raises ``errors`` one by one, then returns ``result``; the list counts the calls."""
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return result

    return call, calls


@pytest.mark.parametrize(
    "error",
    [
        ccxt.RequestTimeout("slow"),
        ccxt.RateLimitExceeded("10006"),
        ccxt.ExchangeNotAvailable("503"),
        ccxt.NetworkError("reset"),
        ccxt.DDoSProtection("403"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_transient_errors_are_retried(error: Exception, caplog: pytest.LogCaptureFixture) -> None:
    call, calls = _flaky([error, error])
    sleeps: list[float] = []
    with caplog.at_level(logging.WARNING):
        assert call_with_retries(call, what="fetch_x", retries=3, sleep=sleeps.append) == "ok"
    assert len(calls) == 3
    assert sleeps == [1.0, 4.0]
    assert "Retrying fetch_x in 1 s" in caplog.text
    assert "(2 left)" in caplog.text


def test_retries_are_bounded_then_give_up(caplog: pytest.LogCaptureFixture) -> None:
    call, calls = _flaky([ccxt.RequestTimeout("slow")] * 10)
    sleeps: list[float] = []
    with pytest.raises(TransientBrokerError, match=r"fetch_x failed 3 times .*RequestTimeout: slow") as info:
        call_with_retries(call, what="fetch_x", retries=2, sleep=sleeps.append)
    assert isinstance(info.value.__cause__, ccxt.RequestTimeout)
    assert len(calls) == 3
    assert sleeps == [1.0, 4.0]
    assert "Giving up fetch_x after 3 attempts" in caplog.text


def test_zero_retries_tries_once() -> None:
    call, calls = _flaky([ccxt.NetworkError("down")])
    with pytest.raises(TransientBrokerError, match="failed 1 times"):
        call_with_retries(call, what="x", retries=0, sleep=lambda s: None)
    assert len(calls) == 1


def test_non_transient_exchange_errors_are_not_retried() -> None:
    call, calls = _flaky([ccxt.BadRequest("bybit {retCode: 10001}")])
    sleeps: list[float] = []
    with pytest.raises(BrokerError, match=r"fetch_x was refused by the exchange \(BadRequest: bybit") as info:
        call_with_retries(call, what="fetch_x", sleep=sleeps.append)
    assert not isinstance(info.value, TransientBrokerError)
    assert isinstance(info.value.__cause__, ccxt.BadRequest)
    assert len(calls) == 1 and sleeps == []


def test_non_ccxt_errors_pass_through() -> None:
    call, _ = _flaky([KeyError("bug")])
    with pytest.raises(KeyError):
        call_with_retries(call, what="x", sleep=lambda s: None)


def test_unknown_exchange_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"--exchange='bybitt' is not a ccxt exchange id.*close matches: .*bybit"):
        make_exchange("bybitt")


def test_exchange_url_overrides_every_url_live_and_sandbox() -> None:
    ex = make_exchange("bybit", testnet=True, exchange_url="http://127.0.0.1:9/")
    assert set(ex.urls["api"].values()) == {"http://127.0.0.1:9"}
    assert set(ex.urls["test"].values()) == {"http://127.0.0.1:9"}
    assert ex.isSandboxModeEnabled


def test_testnet_switches_to_the_sandbox() -> None:
    ex = make_exchange("bybit", testnet=True)
    assert ex.urls["api"]["public"].startswith("https://api-testnet.")


def test_testnet_without_sandbox_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="--testnet: kraken has no sandbox in ccxt; drop --testnet"):
        make_exchange("kraken", testnet=True)


def test_check_timeframe() -> None:
    ex = make_exchange("bybit")
    assert check_timeframe(ex, "1h") == 3_600_000
    with pytest.raises(ConfigError, match=r"--timeframe='1w' is not supported for bybit; use one of 1m, 5m.*, 1d$"):
        check_timeframe(ex, "1w")  # bybit has it, the bot does not


def test_page_limit_follows_ccxt_features() -> None:
    bybit = make_exchange("bybit")
    assert page_limit(bybit, {"type": "spot"}) == 1_000
    assert page_limit(bybit, {"type": "swap", "linear": True}) == 1_000
    assert page_limit(make_exchange("kraken"), {"type": "spot"}) == 720
    assert page_limit(make_exchange("gemini"), {"type": "spot"}) == 500  # no published limit: the fallback
