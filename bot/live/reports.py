"""What the paper trader reports: one :class:`BarReport` per bar (the status line) and the :class:`RunSummary`."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from bot.live.broker import OrderState

#: Bar reports kept in :attr:`RunSummary.reports`.
MAX_REPORTS = 1000


@dataclass(frozen=True, slots=True)
class BarReport:
    """What happened at one bar close (the command prints one status line per report)."""

    open_ms: int
    status: str
    close: float
    equity: float
    position_qty: float
    target_exposure: float = 0.0
    orders: tuple[OrderState, ...] = ()
    reason: str = ""


@dataclass(slots=True)
class RunSummary:
    """Totals of a run, printed at the end."""

    bars: int = 0
    traded: int = 0
    skipped: int = 0
    orders: int = 0
    rejected: int = 0
    equity: float = 0.0
    pnl: float = 0.0
    kill_switch: str = ""
    #: the newest reports (bounded: a paper trader may run for months)
    reports: deque[BarReport] = field(default_factory=lambda: deque(maxlen=MAX_REPORTS))
