"""The one retry policy: ``@retrier`` and ``call_with_retries`` retry transient errors only, with quadratic backoff,
then give up."""

from __future__ import annotations

import logging
from collections.abc import Callable

import ccxt
import pytest

from bot.errors import AuthenticationError, BrokerError, TransientBrokerError
from bot.exchange import RetryPolicy, call_with_retries, retrier


class Flaky:
    def __init__(self, failures: int, error: Exception, retries: int = 3) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0
        self.sleeps: list[float] = []
        self.retry_policy = RetryPolicy(retries, 0.5, self.sleeps.append)

    @retrier
    def call(self, value: int) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return value * 2


def test_transient_errors_are_retried_with_quadratic_backoff(caplog: pytest.LogCaptureFixture) -> None:
    flaky = Flaky(2, TransientBrokerError("timeout"))
    with caplog.at_level(logging.WARNING):
        assert flaky.call(21) == 42
    assert flaky.calls == 3
    assert flaky.sleeps == [0.5, 2.0]
    assert "Retrying call in 0.5 s (3 left) after timeout" in caplog.text
    assert "Retrying call in 2 s (2 left)" in caplog.text


def test_gives_up_after_max_retries(caplog: pytest.LogCaptureFixture) -> None:
    flaky = Flaky(10, TransientBrokerError("503"), retries=2)
    with caplog.at_level(logging.WARNING), pytest.raises(TransientBrokerError, match="503"):
        flaky.call(1)
    assert flaky.calls == 3 and flaky.sleeps == [0.5, 2.0]
    assert "Giving up call after 3 attempts: 503" in caplog.text


def test_other_errors_are_not_retried() -> None:
    flaky = Flaky(1, AuthenticationError("bad key"))
    with pytest.raises(AuthenticationError, match="bad key"):
        flaky.call(1)
    assert flaky.calls == 1 and flaky.sleeps == []


def test_zero_retries_raises_at_once() -> None:
    flaky = Flaky(1, TransientBrokerError("x"), retries=0)
    with pytest.raises(TransientBrokerError):
        flaky.call(1)
    assert flaky.calls == 1


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
def test_call_with_retries_retries_transient_ccxt_errors(error: Exception, caplog: pytest.LogCaptureFixture) -> None:
    call, calls = _flaky([error, error])
    sleeps: list[float] = []
    with caplog.at_level(logging.WARNING):
        assert call_with_retries(call, what="fetch_x", policy=RetryPolicy(3, 1.0, sleeps.append)) == "ok"
    assert len(calls) == 3
    assert sleeps == [1.0, 4.0]
    assert "Retrying fetch_x in 1 s" in caplog.text
    assert "(2 left)" in caplog.text


def test_call_with_retries_is_bounded_then_gives_up(caplog: pytest.LogCaptureFixture) -> None:
    call, calls = _flaky([ccxt.RequestTimeout("slow")] * 10)
    sleeps: list[float] = []
    with pytest.raises(TransientBrokerError, match=r"^fetch_x: RequestTimeout: slow$") as info:
        call_with_retries(call, what="fetch_x", policy=RetryPolicy(2, 1.0, sleeps.append))
    assert isinstance(info.value.__cause__, ccxt.RequestTimeout)
    assert len(calls) == 3
    assert sleeps == [1.0, 4.0]
    assert "Giving up fetch_x after 3 attempts" in caplog.text


def test_call_with_retries_zero_retries_tries_once() -> None:
    call, calls = _flaky([ccxt.NetworkError("down")])
    with pytest.raises(TransientBrokerError, match=r"^x: NetworkError: down$"):
        call_with_retries(call, what="x", policy=RetryPolicy(0, 1.0, lambda s: None))
    assert len(calls) == 1


def test_call_with_retries_does_not_retry_a_refusal() -> None:
    call, calls = _flaky([ccxt.BadRequest("bybit {retCode: 10001}")])
    sleeps: list[float] = []
    with pytest.raises(BrokerError, match=r"^fetch_x: BadRequest: bybit \{retCode: 10001\}$") as info:
        call_with_retries(call, what="fetch_x", policy=RetryPolicy(4, 1.0, sleeps.append))
    assert not isinstance(info.value, TransientBrokerError)
    assert isinstance(info.value.__cause__, ccxt.BadRequest)
    assert len(calls) == 1 and sleeps == []


def test_call_with_retries_lets_non_ccxt_errors_through() -> None:
    call, _ = _flaky([KeyError("bug")])
    with pytest.raises(KeyError):
        call_with_retries(call, what="x", policy=RetryPolicy(4, 1.0, lambda s: None))
