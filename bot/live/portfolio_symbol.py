"""One symbol of a live portfolio (:mod:`bot.live.portfolio_trader`): its broker on the shared account, candles,
observation builder (its own scaler), position statistics and its scope of the one state file, where each bar is
recorded under the symbol (:mod:`bot.live.state_schema`) with the account's equity in its snapshot."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from bot.config import TIMEFRAME_MS
from bot.errors import BrokerError, KillSwitchError
from bot.live.basket import ACCOUNT_KILL, snapshot_path
from bot.live.broker import EXCHANGE_PREFIX, AccountState, ExecutionPlan, OrderState
from bot.live.candles import CandleBuffer, warmup_bars
from bot.live.observation import ObservationBuilder
from bot.live.outage import Outage
from bot.live.portfolio_account import PortfolioBroker
from bot.live.reconcile import Reconciler
from bot.live.reports import BarReport, RunSummary, account_snapshot
from bot.live.risk import AccountTracker
from bot.live.state import BarRecord, StateStore, write_json_atomic

#: Quantities this small count as a flat position (float residue of fills).
_QTY_EPS = 1e-12


@dataclass
class PortfolioSymbol:
    """One symbol of the portfolio: its broker, candles, observation builder (its scaler) and state scope.

    :param symbol: the ccxt symbol.
    :param broker: its broker on the shared account.
    :param builder: its observation builder (its own scaler).
    :param state: its ``StateStore`` scope of the shared state file.
    :param tag: its run tag (:func:`~bot.live.broker.run_tag`: checkpoint, symbol, timeframe).
    """

    symbol: str
    broker: PortfolioBroker
    builder: ObservationBuilder
    state: StateStore
    tag: str
    buffer: CandleBuffer = field(init=False)
    reconciler: Reconciler = field(init=False)
    tracker: AccountTracker = field(init=False)
    summary: RunSummary = field(default_factory=RunSummary)

    def __post_init__(self) -> None:
        cfg = self.builder.cfg
        base_ms = TIMEFRAME_MS[cfg.live.timeframe]
        self.buffer = CandleBuffer(self.broker, cfg.live.timeframe, warmup_bars(cfg))
        self.reconciler = Reconciler(self.broker, self.state, self.tag, base_ms)
        # its position's statistics (bars held, the exposure last requested: the rebalance rule), kept over restarts
        self.tracker = AccountTracker.from_dict(self.state.get("tracker"))
        ledger = self.state.get("ledger") or {}
        #: the net cash flow of its open trade (fills and fees) and the net PnL of a trade it closed since the DBE
        #: last saw it (:mod:`bot.live.portfolio_dbe`)
        self.trade_cash: float = float(ledger.get("cash", 0.0))
        self.closed_pnl: float | None = ledger.get("closed")
        #: the fills :meth:`collect` booked at this bar, recorded with it
        self._collected: list[OrderState] = []
        self._qty_booked: float | None = None

    @property
    def close(self) -> float:
        """The newest close held (the mark of a symbol without a fresh bar, as the env keeps its last mark)."""
        return self.buffer.candles[-1].close if self.buffer.candles else math.nan

    def record(
        self,
        bar_ms: int,
        account: AccountState,
        orders: list[OrderState],
        target: float,
        action: str,
        status: str,
        reason: str,
        account_tracker: AccountTracker,
    ) -> BarReport:
        """Record the bar: its orders plus the exchange's own fills (stops), its position and a snapshot carrying
        the account's equity, in one transaction; then its ``<state>.<SYMBOL>.account.json``.

        :param account: its position with the account's equity.
        :param status: ``killed`` / ``held`` / ``skipped``, or '' for ``traded`` when an order filled, else ``held``.
        :param account_tracker: the account's tracker (day start, initial equity of the snapshot).
        """
        drained = self._drain() if self._qty_booked is None else []
        self._book(drained + orders)
        orders = orders + self._collected + drained
        self._collected, self._qty_booked = [], None
        status = status or ("traded" if any(o.filled > 0 for o in orders) else "held")
        bar = BarRecord(bar_ms, status, action, target, self.tracker.last_exposure, self.close, reason)
        processed = self.state.bars_processed() + 1
        kill = reason if status == "killed" else ""
        snapshot = account_snapshot(
            bar_ms, account, account_tracker, self.broker.name, self.symbol, processed, kill, (0, 0)
        )
        candle = next((c for c in reversed(self.buffer.candles) if c.open_ms == bar_ms), None)
        self.state.record_bar(bar, orders, account, snapshot, self._meta(), (), candle)
        payload = {**snapshot, "updated_at": time.time(), "state_file": str(self.state.path)}
        write_json_atomic(snapshot_path(Path(self.state.path), self.symbol), payload)
        return BarReport(
            bar_ms, status, self.close, account.equity, account.position_qty, target, tuple(orders), reason
        )

    def record_skipped(self, bar_ms: int, reason: str, equity: float) -> BarReport:
        """A bar no account could be read at (an outage): recorded without orders, so it is not handled twice."""
        bar = BarRecord(bar_ms, "skipped", "", 0.0, self.tracker.last_exposure, self.close, reason)
        self.state.record_bar(bar, [], None, None, self._meta())
        return BarReport(bar_ms, "skipped", self.close, equity, self.tracker.last_qty, reason=reason)

    def flatten(self, bar_ms: int, base_ms: int) -> tuple[int, list[OrderState], AccountState]:
        """Close the position with market orders (the account kill switch).

        :param bar_ms: the bar the trip happened at; one this symbol already recorded moves to the next, so the
            flattening order's client id is new.
        :return: the bar it is recorded under, the orders sent and the position left.
        """
        at = max(bar_ms, self.state.last_bar_ms + base_ms)
        sent: list[OrderState] = []
        if self.broker.position(self.close).position_qty:
            # NaN never equals the requested 0: the rebalance rule cannot skip the flattening order
            sent = self.broker.execute(ExecutionPlan.flatten(at, self.close, self.tag), math.nan)
        self.tracker.last_exposure = 0.0
        return at, sent, self.broker.position(self.close)

    def collect(self) -> None:
        """Book the fills the trader did not send (the exchange's stops; a dry run's simulated fills) that happened
        during the bar that just closed, before the DBE reads :attr:`closed_pnl` at its close: a trade they closed
        counts in that bar, as in the env. :meth:`record` records them with the bar."""
        fills = self._drain()
        self._book(fills)
        self._collected += fills

    def _drain(self) -> list[OrderState]:
        recorded = self.state.filled_by_client_id()
        return [f for f in self.broker.drain_fills() if recorded.get(f.client_id, -1.0) < f.filled]

    def _book(self, orders: list[OrderState]) -> None:
        """Add fills to the open trade's cash flow; a fill that closes the position (to flat, or across) ends the
        trade: its net PnL waits in :attr:`closed_pnl`. The exchange's own fills (stops) happened before the bar's
        orders, replayed from the position recorded at the previous bar (or after what :meth:`collect` booked)."""
        last = self.state.last_position()
        qty = self._qty_booked if self._qty_booked is not None else (last[0] if last is not None else 0.0)
        exchange = [o for o in orders if o.client_id.startswith(EXCHANGE_PREFIX)]
        for order in exchange + [o for o in orders if o not in exchange]:
            if order.filled <= 0:
                continue
            signed = order.filled if order.side == "buy" else -order.filled
            after = qty + signed
            crossed = qty != 0.0 and abs(after) > _QTY_EPS and (after > 0.0) != (qty > 0.0)
            # a fill across flat (the dry run reports a bar's net change as one fill) closes the trade with its
            # closing part and opens the next with the rest, each with its share of the fee
            closing = -qty if crossed else signed
            share = abs(closing) / order.filled
            self.trade_cash -= closing * order.average_price + order.fee * share
            if qty != 0.0 and (abs(after) <= _QTY_EPS or crossed):
                self.closed_pnl = (self.closed_pnl or 0.0) + self.trade_cash
                self.trade_cash = -(signed - closing) * order.average_price - order.fee * (1.0 - share)
            qty = after
        self._qty_booked = qty

    def _meta(self) -> dict[str, object]:
        ledger = {"cash": self.trade_cash, "closed": self.closed_pnl}
        return {"tracker": self.tracker.to_dict(), "run_tag": self.tag, "ledger": ledger}


@dataclass(frozen=True, slots=True)
class PortfolioBar:
    """What happened at one bar close: the account and each symbol's report (its status line)."""

    open_ms: int
    status: str
    equity: float
    weights: tuple[float, ...]
    reports: dict[str, BarReport]
    reason: str = ""


def give_up(symbols: list[PortfolioSymbol], outage: Outage, elapsed: float, base_ms: int) -> NoReturn:
    """End a portfolio run whose exchange failed past ``live.max_outage_s``. When a position was open the account's
    trip is recorded first (a restart refuses), then every symbol with a position is flattened
    (:meth:`~bot.live.outage.Outage.give_up` records its own trip and tries the market order).

    :raises BrokerError: when no position was open.
    :raises KillSwitchError: otherwise, saying for each symbol whether it was flattened.
    """
    held = [(s, qty) for s in symbols if (qty := (s.state.last_position() or (0.0, 0.0))[0])]
    if not held:
        raise BrokerError(
            f"the exchange failed for {elapsed:.0f} s, longer than live.max_outage_s={outage.max_outage_s:g};"
            " no position was open. Start again when the exchange answers"
        )
    symbols[0].state.put_account(**{ACCOUNT_KILL: f"outage of {elapsed:.0f} s (last error: {outage.last_error})"})
    outcomes: list[str] = []
    for s, qty in held:
        flat = ExecutionPlan.flatten(max(s.state.last_bar_ms, 0) + base_ms, s.close, s.tag)
        try:
            outage.give_up(elapsed, qty, s.state, s.broker, flat)
        except KillSwitchError as e:
            outcomes.append(f"{s.symbol}: {e}")
    raise KillSwitchError("account kill switch (outage): " + "; ".join(outcomes))
