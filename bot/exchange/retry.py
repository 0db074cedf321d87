"""The one retry policy for exchange calls: bounded retries with quadratic backoff, for transient errors only.

Only :class:`~bot.errors.TransientBrokerError` (network errors, timeouts, HTTP 5xx, rate limits; see
:mod:`bot.exchange.errors`) is retried; every other error goes straight to the caller, and the last transient one is
re-raised once the retries are spent. The delay before retry ``k`` (1-based) is ``backoff_s * k**2``. Two forms share
one loop: ``@retrier`` on a method reads the policy from ``self.retry_policy`` (the broker), and
:func:`call_with_retries` translates and retries one call (the candle downloader). Tests inject a fake ``sleep``
and count calls.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from bot.errors import TransientBrokerError
from bot.exchange.errors import translated

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry.

    :param max_retries: retries after the first attempt (0 = no retry).
    :param backoff_s: delay before the first retry; retry ``k`` waits ``backoff_s * k**2`` seconds.
    :param sleep: the sleep function (tests pass a fake one).
    """

    max_retries: int = 5
    backoff_s: float = 0.5
    sleep: Callable[[float], None] = field(default=time.sleep)

    def delay_s(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        return self.backoff_s * retry * retry

    def call(self, fn: Callable[[], R], what: str) -> R:
        """Call ``fn``, retrying :class:`TransientBrokerError` per this policy, then re-raise the last one.

        Logs ``"Retrying <what> in <s> s (<n> left)"`` before each retry and ``"Giving up <what> ..."`` at the end.

        :param fn: the call (bind arguments with a lambda or ``functools.partial``).
        :param what: the call for the log lines, e.g. ``"fetch_ohlcv BTC/USDT 5m"``.
        :return: what ``fn`` returns.
        """
        retry = 0
        while True:
            try:
                return fn()
            except TransientBrokerError as e:
                if retry >= self.max_retries:
                    if self.max_retries:
                        logger.warning("Giving up %s after %d attempts: %s", what, retry + 1, e)
                    raise
                retry += 1
                delay = self.delay_s(retry)
                logger.warning("Retrying %s in %g s (%d left) after %s", what, delay, self.max_retries - retry + 1, e)
                self.sleep(delay)


class HasRetryPolicy(Protocol):
    """An object whose methods carry ``@retrier``."""

    retry_policy: RetryPolicy


S = TypeVar("S", bound=HasRetryPolicy)


def retrier(func: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Retry a method on :class:`TransientBrokerError` per ``self.retry_policy`` (see :meth:`RetryPolicy.call`).

    :param func: a method of an object with a ``retry_policy`` attribute.
    :return: the wrapped method.
    """

    @functools.wraps(func)
    def wrapper(self: S, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.retry_policy.call(functools.partial(func, self, *args, **kwargs), func.__name__)

    return wrapper


def call_with_retries(fn: Callable[[], R], *, what: str, policy: RetryPolicy) -> R:
    """Call ``fn`` with its ccxt errors translated (:func:`bot.exchange.errors.translated`), retrying transient ones.

    :param fn: the ccxt call.
    :param what: the call, for log lines and error messages, e.g. ``"fetch_ohlcv BTC/USDT 5m"``.
    :param policy: the retries.
    :return: what ``fn`` returns.
    :raises TransientBrokerError: a transient error persisted through every retry.
    :raises BrokerError: the exchange refused the call for another reason (not retried).
    """

    def attempt() -> R:
        with translated(what):
            return fn()

    return policy.call(attempt, what)
