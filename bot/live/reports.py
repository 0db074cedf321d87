"""What the paper trader reports: one :class:`BarReport` per bar (the status line), the :class:`RunSummary` and the
account snapshot (``account_snapshots`` table and ``<state>.account.json``)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from bot.live.broker import AccountState, OrderState
from bot.live.risk import AccountTracker

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
    #: post-only limit orders of the run so far (placed, filled: with any fill), this bar's included
    limit_orders: int = 0
    limit_fills: int = 0


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
    limit_orders: int = 0
    limit_fills: int = 0
    #: the newest reports (bounded: a paper trader may run for months)
    reports: deque[BarReport] = field(default_factory=lambda: deque(maxlen=MAX_REPORTS))

    def add(self, report: BarReport, initial_equity: float) -> None:
        """Count one bar's report; ``initial_equity`` is the run's first equity (0 before any account was read)."""
        self.bars += 1
        self.traded += report.status == "traded"
        self.skipped += report.status == "skipped"
        self.orders += sum(o.status != "rejected" for o in report.orders)
        self.rejected += sum(o.status == "rejected" for o in report.orders)
        self.equity = report.equity
        # no account was ever read (every bar skipped before the first): there is no PnL yet, not +equity
        self.pnl = report.equity - initial_equity if initial_equity > 0 else 0.0
        self.kill_switch = report.reason if report.status == "killed" else self.kill_switch
        # the counts are the run's so far; a skipped bar's report carries none
        self.limit_orders = max(self.limit_orders, report.limit_orders)
        self.limit_fills = max(self.limit_fills, report.limit_fills)
        self.reports.append(report)


def limit_fills_text(placed: int, filled: int) -> str:
    """`` | limit fills F/P (R %)`` for the status line and the summary: the run's post-only limit orders so far
    and their fill rate; '' before the first."""
    return f" | limit fills {filled}/{placed} ({100.0 * filled / placed:.0f} %)" if placed else ""


def account_snapshot(
    bar_ms: int,
    account: AccountState,
    tracker: AccountTracker,
    mode: str,
    symbol: str,
    bars_processed: int,
    kill: str,
    limit_counts: tuple[int, int],
) -> dict[str, Any]:
    """One row of the ``account_snapshots`` table (and the ``.account.json`` file) after bar ``bar_ms``.

    :param limit_counts: (placed, filled) post-only limit orders of the run so far; the fill rate is None before
        the first.
    """
    placed, filled = limit_counts
    return {
        "time_ms": bar_ms,
        "mode": mode,
        "symbol": symbol,
        "equity": account.equity,
        "cash": account.cash,
        "position_qty": account.position_qty,
        "entry_price": account.entry_price,
        "unrealized_pnl": account.unrealized_pnl,
        "mark_price": account.mark_price,
        "day_start_equity": tracker.day_start_equity,
        "daily_pnl": account.equity - tracker.day_start_equity,
        "pnl_total": account.equity - tracker.initial_equity,
        "bars_processed": bars_processed,
        "kill_switch": kill or None,
        "limit_orders": placed,
        "limit_fills": filled,
        "limit_fill_rate": filled / placed if placed else None,
    }
