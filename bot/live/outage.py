"""Exchange outages: how long the exchange has not answered, which bars passed meanwhile, when to give up.

The trader keeps running while the exchange fails (network errors, timeouts, 5xx, rate limits after their retries):
it reports each bar that closes during the outage as skipped, polls every :data:`POLL_S` seconds, reconciles when the
exchange answers again, and gives up after ``live.max_outage_s``. Time is measured with an injectable monotonic clock,
and bar closes are estimated from the last exchange time seen plus the time elapsed since.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import NoReturn

from bot.errors import BrokerError, KillSwitchError
from bot.live.broker import Broker, ExecutionPlan
from bot.live.state import StateStore

logger = logging.getLogger(__name__)

#: Seconds between two attempts to reach the exchange during an outage.
POLL_S = 10.0
#: Characters of the last error shown in a skipped bar's status line.
_REASON_CHARS = 120


class Outage:
    """State of the current outage, if any.

    :param max_outage_s: ``live.max_outage_s``: give up after the exchange failed this long.
    :param base_ms: the base timeframe, ms.
    :param clock: monotonic seconds (tests pass the emulator's clock).
    """

    def __init__(self, max_outage_s: float, base_ms: int, clock: Callable[[], float]) -> None:
        self.max_outage_s = max_outage_s
        self.base_ms = base_ms
        self.clock = clock
        #: seconds between attempts (:data:`POLL_S`; tests of long outages poll less often)
        self.poll_s = POLL_S
        self.started: float | None = None
        self.last_error = ""
        self._exchange_ms = -1
        self._exchange_seen_at = 0.0
        self._last_skipped_ms = -1

    @property
    def active(self) -> bool:
        """True while the exchange has not answered since a failure."""
        return self.started is not None

    def saw_exchange_time(self, now_ms: int) -> None:
        """Remember the exchange clock (to estimate bar closes while it does not answer)."""
        self._exchange_ms, self._exchange_seen_at = now_ms, self.clock()

    def failed(self, error: Exception, since: float) -> float:
        """Count a failure; ``since`` is when the failing attempt began. Returns the outage's length, seconds."""
        if self.started is None:
            self.started = since
            logger.error("Exchange outage: %s; skipping bars until it answers again", error)
        self.last_error = str(error)
        return self.clock() - self.started

    @property
    def expired(self) -> bool:
        """True when the outage lasted longer than ``max_outage_s``."""
        return self.started is not None and self.clock() - self.started > self.max_outage_s

    def skipped_bar(self, last_recorded_ms: int) -> int | None:
        """OPEN time of a bar that closed during the outage and was not reported yet, None when none did."""
        if self._exchange_ms < 0:
            return None
        now_ms = self._exchange_ms + int((self.clock() - self._exchange_seen_at) * 1000)
        last_closed = now_ms // self.base_ms * self.base_ms - self.base_ms
        if last_closed <= max(last_recorded_ms, self._last_skipped_ms):
            return None
        self._last_skipped_ms = last_closed
        return last_closed

    def reason(self) -> str:
        """The status-line reason of a bar skipped during the outage."""
        elapsed = 0.0 if self.started is None else self.clock() - self.started
        # one status line: the error's head (the log has it whole)
        error = self.last_error if len(self.last_error) <= _REASON_CHARS else self.last_error[:_REASON_CHARS] + "..."
        return (
            f"exchange unreachable for {elapsed:.0f} s ({error}); retrying every {self.poll_s:g} s, giving up"
            f" after live.max_outage_s={self.max_outage_s:g}"
        )

    def recovered(self) -> float:
        """End the outage; returns how long it lasted, seconds."""
        elapsed = 0.0 if self.started is None else self.clock() - self.started
        self.started = None
        logger.warning("The exchange answers again after %.0f s; reconciling the state", elapsed)
        return elapsed

    def give_up(self, elapsed: float, qty: float, state: StateStore, broker: Broker, flat: ExecutionPlan) -> NoReturn:
        """End the run after ``live.max_outage_s``; a position that may be open is not left blind: the trip is
        recorded (a restart refuses to trade until a person checks) and the flattening market order ``flat`` is
        tried.

        :param elapsed: seconds the exchange has failed.
        :param qty: the position last seen (0: nothing to flatten).
        :raises BrokerError: when no position was open.
        :raises KillSwitchError: otherwise, saying whether the position was flattened.
        """
        message = (
            f"the exchange failed for {elapsed:.0f} s, longer than live.max_outage_s={self.max_outage_s:g}"
            f" (last error: {self.last_error})"
        )
        if not qty:
            raise BrokerError(f"{message}; no position was open. Start again when the exchange answers")
        if not state.get("kill_switch"):  # a trip whose flattening kept failing keeps its own reason
            state.put(kill_switch=f"outage: {message}")
        logger.error("Kill switch: %s with a position of %.8g open; trying to flatten it", message, qty)
        try:
            broker.execute(flat, math.nan)
        except BrokerError as e:
            raise KillSwitchError(
                f"{message}; the position of {qty:.8g} could not be flattened ({e}). It keeps its exchange-side stop"
                " loss; check the account and close it, then start with a new --state file"
            ) from e
        raise KillSwitchError(f"{message}; the position of {qty:.8g} was flattened and trading stopped")
