"""Account statistics across bars (peak, day start, time in position, closed-trade PnL) and the kill switch.

The kill switch trips when the day's loss (UTC day, from the first equity seen that day) exceeds
``live.max_daily_loss`` or the position notional exceeds ``live.max_position_notional``; the trader then flattens
the position and stops. Everything here is plain data so the state store can persist it between restarts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bot.config import LiveConfig
from bot.live.broker import AccountState
from bot.live.observation import PortfolioView

DAY_MS = 86_400_000
#: Tolerance on the position cap (rounding of quantities and price moves within a bar).
_CAP_TOLERANCE = 1.05


@dataclass(slots=True)
class AccountTracker:
    """Statistics the env keeps in its PortfolioManager, tracked from broker snapshots for live trading."""

    initial_equity: float = 0.0
    peak_equity: float = 0.0
    day: int = -1
    day_start_equity: float = 0.0
    bars_in_position: int = 0
    last_qty: float = 0.0
    trade_open_equity: float = 0.0
    last_exposure: float = 0.0

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> AccountTracker:
        """Restore from :meth:`to_dict` output (None = fresh)."""
        return cls(**raw) if raw else cls()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the state store."""
        return asdict(self)

    def start(self, equity: float, bar_open_ms: int) -> None:
        """Take the first equity seen as the initial one and open the UTC day of ``bar_open_ms`` (no-ops after).

        Every path that reads the account calls it (decisions, skipped and killed bars), so no snapshot or summary
        reports the whole equity as PnL.
        """
        if self.initial_equity <= 0.0:
            self.initial_equity = self.peak_equity = self.trade_open_equity = equity
        day = bar_open_ms // DAY_MS
        if day != self.day:
            self.day, self.day_start_equity = day, equity

    def update(self, account: AccountState, bar_open_ms: int) -> tuple[PortfolioView, float | None]:
        """Fold in the account at the close of bar ``bar_open_ms``.

        :return: the portfolio view for the observation and the PnL of a trade closed during the bar (or None).
        """
        equity, qty = account.equity, account.position_qty
        self.start(equity, bar_open_ms)
        closed_pnl: float | None = None
        flipped = self.last_qty != 0.0 and (qty == 0.0 or (qty > 0.0) != (self.last_qty > 0.0))
        if flipped:
            closed_pnl = equity - self.trade_open_equity
        if qty == 0.0:
            self.bars_in_position = 0
        elif self.last_qty == 0.0 or flipped:
            self.bars_in_position = 1
            self.trade_open_equity = equity
        else:
            self.bars_in_position += 1
        self.last_qty = qty
        self.peak_equity = max(self.peak_equity, equity)
        drawdown = 1.0 - equity / self.peak_equity if self.peak_equity > 0 else 0.0
        bars = self.bars_in_position
        if account.has_trade_stats:
            drawdown, bars, closed_pnl = account.drawdown, account.bars_in_position, account.last_trade_pnl
        exposure = qty * account.mark_price / equity if equity > 0 else 0.0
        view = PortfolioView(
            equity, account.unrealized_pnl, account.cash, exposure, bars, drawdown, self.initial_equity
        )
        return view, closed_pnl

    def kill_reason(self, account: AccountState, live: LiveConfig) -> str:
        """Why the kill switch trips now ('' when it does not)."""
        if self.day_start_equity > 0:
            loss = 1.0 - account.equity / self.day_start_equity
            if loss > live.max_daily_loss:
                return (
                    f"daily loss {loss:.2%} exceeds live.max_daily_loss={live.max_daily_loss:.2%} (equity"
                    f" {account.equity:.2f}, day start {self.day_start_equity:.2f})"
                )
        notional = abs(account.position_qty) * account.mark_price
        if notional > live.max_position_notional * _CAP_TOLERANCE:
            return (
                f"position notional {notional:.2f} exceeds live.max_position_notional={live.max_position_notional:.2f}"
            )
        return ""
