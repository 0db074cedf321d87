"""``@retrier`` retries transient broker errors only, with quadratic backoff, then gives up."""

from __future__ import annotations

import logging

import pytest

from bot.errors import AuthenticationError, TransientBrokerError
from bot.live.retry import RetryPolicy, retrier


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
    assert "retrying still for 3 times" in caplog.text


def test_gives_up_after_max_retries(caplog: pytest.LogCaptureFixture) -> None:
    flaky = Flaky(10, TransientBrokerError("503"), retries=2)
    with caplog.at_level(logging.WARNING), pytest.raises(TransientBrokerError, match="503"):
        flaky.call(1)
    assert flaky.calls == 3 and flaky.sleeps == [0.5, 2.0]
    assert "giving up" in caplog.text


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
