"""``@retrier``: bounded retries with quadratic backoff for transient exchange errors only.

Only :class:`~bot.errors.TransientBrokerError` (network errors, timeouts, HTTP 5xx, rate limits) is retried; every
other error goes straight to the caller. The delay before retry ``k`` (1-based) is ``backoff_s * k**2``. The policy is
read from the decorated method's object (``self.retry_policy``), so tests inject a fake ``sleep`` and count calls.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from bot.errors import TransientBrokerError

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


class HasRetryPolicy(Protocol):
    """An object whose methods carry ``@retrier``."""

    retry_policy: RetryPolicy


S = TypeVar("S", bound=HasRetryPolicy)


def retrier(func: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Retry a method on :class:`TransientBrokerError` per ``self.retry_policy``, then re-raise the last error.

    :param func: a method of an object with a ``retry_policy`` attribute.
    :return: the wrapped method.
    """

    @functools.wraps(func)
    def wrapper(self: S, *args: P.args, **kwargs: P.kwargs) -> R:
        policy = self.retry_policy
        retry = 0
        while True:
            try:
                return func(self, *args, **kwargs)
            except TransientBrokerError as e:
                if retry >= policy.max_retries:
                    if policy.max_retries:
                        logger.warning("%s failed %d times, giving up: %s", func.__name__, retry + 1, e)
                    raise
                retry += 1
                delay = policy.delay_s(retry)
                logger.warning(
                    "%s failed (%s); retrying still for %d times, next in %.2f s",
                    func.__name__,
                    e,
                    policy.max_retries - retry + 1,
                    delay,
                )
                policy.sleep(delay)

    return wrapper
