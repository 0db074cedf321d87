"""How long the trainer waits for its worker processes: start-up and reply limits, and stop requests."""

from __future__ import annotations

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)


class RunCancelledError(Exception):
    """A stop was requested (SIGINT/SIGTERM) while the trainer waited for its workers; the run ends as cancelled."""


class AutoTimeout:
    """The reply timeout derived from the measured step time (``training.worker_timeout_s: null``).

    Until ``n_samples`` step replies have been timed the limit is ``max_s``; then it becomes ``factor`` times the
    slowest of them, kept within [``min_s``, ``max_s``]. The floor covers a busy machine (a 2-core box under load
    stalls a process for seconds), the factor covers slow episodes and resets; a stopped or hung worker is then
    found in about a minute instead of ten.
    """

    def __init__(self, n_samples: int = 100, factor: float = 100.0, min_s: float = 60.0, max_s: float = 600.0) -> None:
        self.n_samples = n_samples
        self.factor = factor
        self.min_s = min_s
        self.max_s = max_s
        self.limit_s = max_s
        self._slowest_s = 0.0
        self._seen = 0

    def observe(self, wait_s: float) -> None:
        """Record the wait for one step reply; after ``n_samples`` of them the limit is fixed."""
        if self._seen >= self.n_samples:
            return
        self._seen += 1
        self._slowest_s = max(self._slowest_s, wait_s)
        if self._seen == self.n_samples:
            self.limit_s = min(self.max_s, max(self.min_s, self.factor * self._slowest_s))
            logger.debug("worker reply timeout set to %.0f s (slowest step reply %.3f s)", self.limit_s, wait_s)


class WaitLimits:
    """How long the parent waits for worker replies, and whether a stop was requested."""

    def __init__(
        self,
        poll_interval_s: float,
        timeout_s: float | AutoTimeout | None,
        startup_timeout_s: float | None,
        should_stop: Callable[[], bool] | None,
    ) -> None:
        self.poll_interval_s = poll_interval_s
        self.timeout_s = timeout_s
        self.startup_timeout_s = startup_timeout_s
        self.should_stop = should_stop

    def reply_timeout_s(self) -> float | None:
        """The current limit for a command reply (None: as long as the worker lives)."""
        return self.timeout_s.limit_s if isinstance(self.timeout_s, AutoTimeout) else self.timeout_s
