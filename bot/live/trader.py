"""The paper-trading loop: at each bar close on the exchange clock, observe, decide, execute, reconcile and record.

Per bar (the bar is identified by its OPEN time; it is decided on at its close, DESIGN.md):

1. wait until the exchange clock passes the next bar close (``fetch_time``; the sleep is injectable);
2. fetch the newly closed candles; a newest candle older than ``live.stale_after_s`` past its close skips the bar;
3. let the broker see the closed bars (the dry run fills its pending decision there) and read the account;
4. kill switch (max daily loss, max position): flatten, record, raise :class:`~bot.errors.KillSwitchError`;
5. features with the checkpoint's pipeline and scaler, the DBE, the env's portfolio vector -> policy -> target;
6. execute (client order ids ``<run tag>-<bar open s, hex>-<leg>``: a redo after a crash adopts what was sent);
7. record bar, orders, fills, position and account snapshot in one transaction, and the ``.account.json`` file.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bot.config import TIMEFRAME_MS, BotConfig
from bot.env.spaces import ActionMapper
from bot.errors import DataError, KillSwitchError
from bot.live.broker import AccountState, Broker, ExecutionPlan, OrderState
from bot.live.candles import CandleBuffer, warmup_bars
from bot.live.observation import DBEState, ObservationBuilder
from bot.live.policy import Policy
from bot.live.risk import AccountTracker
from bot.live.sizing import requested_exposure
from bot.live.state import BarRecord, StateStore, write_json_atomic

logger = logging.getLogger(__name__)

#: Seconds to wait past a bar close before asking for it (the exchange publishes the closed bar shortly after).
SETTLE_S = 1.0
#: Bar reports kept in :attr:`RunSummary.reports`.
MAX_REPORTS = 1000
#: Seconds between polls while the exchange has not published the newest closed bar yet.
POLL_S = 2.0


def run_tag(checkpoint: str | Path, symbol: str, timeframe: str) -> str:
    """Stable 8-hex tag of a trading run (checkpoint folder name + symbol + timeframe) for client order ids."""
    text = f"{Path(checkpoint).resolve().name}|{symbol}|{timeframe}"
    return "bot" + hashlib.sha256(text.encode()).hexdigest()[:8]


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


class Trader:
    """Runs a policy on a broker bar by bar; see the module docstring for the loop.

    :param cfg: the checkpoint's config with the live section to use.
    :param broker: the execution (``CcxtBroker`` or ``DryRunBroker``).
    :param policy: maps observations to actions.
    :param builder: builds observations with the checkpoint's scaler and schema.
    :param state: the SQLite state store.
    :param tag: run tag for client order ids (:func:`run_tag`).
    :param sleep: sleep function (tests advance an emulated clock instead of waiting).
    :param after_execute: called after the orders of a bar went out and before they are recorded (tests crash here).
    """

    def __init__(
        self,
        cfg: BotConfig,
        broker: Broker,
        policy: Policy,
        builder: ObservationBuilder,
        state: StateStore,
        tag: str,
        sleep: Callable[[float], None] = time.sleep,
        after_execute: Callable[[ExecutionPlan, list[OrderState]], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.live = cfg.live
        self.broker = broker
        self.policy = policy
        self.builder = builder
        self.state = state
        self.tag = tag
        self.sleep = sleep
        self.after_execute = after_execute
        self.base_ms = TIMEFRAME_MS[cfg.live.timeframe]
        self.buffer = CandleBuffer(broker, cfg.live.timeframe, warmup_bars(cfg))
        self.actions = ActionMapper(cfg.env, cfg.portfolio)
        self.tracker = AccountTracker.from_dict(state.get("tracker"))
        self.dbe_state = DBEState(**(state.get("dbe") or {}))
        self.snapshot_path = state.path.with_name(state.path.name + ".account.json")
        self.summary = RunSummary()

    # ------------------------------------------------------------------------------------------------ start
    def start(self) -> None:
        """Check the kill switch, prepare the broker and reconcile orders with the exchange.

        :raises KillSwitchError: when an earlier run tripped the kill switch in this state file.
        """
        tripped = self.state.get("kill_switch")
        if tripped:
            raise KillSwitchError(
                f"the kill switch tripped earlier ({tripped}); trading stays stopped for {self.state.path}. Check the"
                " account (close any position still open), then start with a new --state file to trade again"
            )
        rules = self.broker.rules
        logger.info(
            "Paper trading %s on %s (%s): qty step %g, min notional %g, %d warm-up bars",
            rules.symbol,
            self.broker.name,
            self.live.timeframe,
            rules.qty_step,
            rules.min_notional,
            self.buffer.warmup,
        )
        self.broker.prepare()
        self._reconcile()

    def _reconcile(self) -> None:
        refreshed = [o for cid in self.state.unfinished_orders() if (o := self.broker.find_order(cid)) is not None]
        known = {row["client_id"] for row in self.state.orders()}
        adopted = [
            o for o in self.broker.open_orders() if o.client_id.startswith(self.tag) and o.client_id not in known
        ]
        last = self.state.last_position()
        if last is not None:
            qty = self.broker.fetch_account(last[1]).position_qty
            if abs(qty - last[0]) > 1e-12:
                logger.warning(
                    "%s position is %.8g but %.8g was recorded last (a stop triggered or a manual trade while the bot"
                    " was stopped, or a dry run that starts afresh); trading goes on from %.8g",
                    self.broker.name,
                    qty,
                    last[0],
                    qty,
                )
        if refreshed or adopted:
            self.state.record_orders(refreshed + adopted, self.state.last_bar_ms)
            logger.info(
                "Reconciled %d order(s) with the exchange (%d adopted)", len(refreshed) + len(adopted), len(adopted)
            )

    # ------------------------------------------------------------------------------------------------ loop
    def run(self, max_bars: int | None = None, on_bar: Callable[[BarReport], None] | None = None) -> RunSummary:
        """Trade bar by bar until ``max_bars`` bars were handled (None = forever) or the kill switch trips.

        :raises KillSwitchError: after flattening, when a risk limit trips.
        :raises AuthenticationError: when the exchange refuses the API key.
        """
        self.start()
        while max_bars is None or self.summary.bars < max_bars:
            report = self.step()
            if report is None:
                continue
            self._count(report)
            if on_bar is not None:
                on_bar(report)
            if report.status == "killed":
                raise KillSwitchError(f"kill switch: {report.reason}; position flattened, trading stopped")
        return self.summary

    def _count(self, report: BarReport) -> None:
        s = self.summary
        s.bars += 1
        s.traded += report.status == "traded"
        s.skipped += report.status == "skipped"
        s.orders += sum(o.status != "rejected" for o in report.orders)
        s.rejected += sum(o.status == "rejected" for o in report.orders)
        s.equity = report.equity
        s.pnl = report.equity - self.tracker.initial_equity
        s.kill_switch = report.reason if report.status == "killed" else s.kill_switch
        s.reports.append(report)

    def step(self) -> BarReport | None:
        """Handle the newest closed bar, or wait for the next close (then return None)."""
        now = self.broker.fetch_time_ms()
        last_closed = now // self.base_ms * self.base_ms - self.base_ms
        done = self.state.last_bar_ms
        if last_closed <= done:
            self.sleep(((last_closed + 2 * self.base_ms) - now) / 1000.0 + SETTLE_S)
            return None
        closed = self.buffer.update(now)
        self.broker.sync(closed)
        latest = self.buffer.candles[-1]
        age_s = (now - latest.open_ms - self.base_ms) / 1000.0
        if age_s > self.live.stale_after_s:
            bar_ms = max(latest.open_ms, done + self.base_ms, last_closed)
            # no decision on stale candles, but the risk limits still hold while the feed is quiet
            account = self.broker.fetch_account(latest.close)
            reason = self.tracker.kill_reason(account, self.live)
            if reason:
                return self._kill(bar_ms, latest.close, account, reason)
            return self._skip(
                bar_ms,
                latest.close,
                f"stale data: newest candle closed {age_s:.0f} s ago (> live.stale_after_s="
                f"{self.live.stale_after_s:g})",
                account,
            )
        if latest.open_ms <= done:
            self.sleep(POLL_S)
            return None
        return self._decide(latest.open_ms, latest.close)

    def _decide(self, bar_ms: int, close: float) -> BarReport:
        account = self.broker.fetch_account(close)
        view, trade_pnl = self.tracker.update(account, bar_ms)
        reason = self.tracker.kill_reason(account, self.live)
        if reason:
            return self._kill(bar_ms, close, account, reason)
        try:
            live = self.builder.market(self.buffer.frame())
            window = self.builder.market_window(live)
        except DataError as e:
            return self._skip(bar_ms, close, str(e), account)
        dbe = self.builder.dbe(live, self.dbe_state, view.drawdown, trade_pnl)
        obs = {"market": window, "portfolio": self.builder.portfolio(view, dbe)}
        action = self.policy.act(obs, self.actions.action_masks())
        target = self.actions.target(action)
        plan = ExecutionPlan(
            bar_ms,
            target,
            dbe.size_fraction,
            dbe.stop_loss_pct,
            dbe.take_profit_pct,
            close,
            f"{self.tag}-{bar_ms // 1000:x}",
        )
        orders = self.broker.execute(plan, self.tracker.last_exposure)
        if self.after_execute is not None:
            self.after_execute(plan, orders)
        self.tracker.last_exposure = requested_exposure(plan, self.broker.rules, self._leverage)
        orders = orders + self.broker.drain_fills()
        status = "traded" if any(o.filled > 0 for o in orders) else "held"
        if status == "traded":
            account = self.broker.fetch_account(close)
        record = BarRecord(bar_ms, status, str(action), target, self.tracker.last_exposure, close)
        self._record(record, orders, account)
        return BarReport(bar_ms, status, close, account.equity, account.position_qty, target, tuple(orders))

    @property
    def _leverage(self) -> float:
        return 1.0 if self.broker.rules.is_spot else float(self.cfg.portfolio.leverage)

    def _skip(self, bar_ms: int, close: float, reason: str, account: AccountState | None = None) -> BarReport:
        logger.warning("Skipping bar %d: %s", bar_ms, reason)
        self._record(BarRecord(bar_ms, "skipped", "", 0.0, self.tracker.last_exposure, close, reason), [], account)
        equity = account.equity if account is not None else self.tracker.peak_equity
        qty = account.position_qty if account is not None else self.tracker.last_qty
        return BarReport(bar_ms, "skipped", close, equity, qty, reason=reason)

    def _kill(self, bar_ms: int, close: float, account: AccountState, reason: str) -> BarReport:
        logger.error("Kill switch: %s; flattening the position and stopping", reason)
        # recorded before flattening: should the exchange fail the close, a restart still refuses to trade
        self.state.put(kill_switch=reason)
        flat = ExecutionPlan(bar_ms, 0.0, 1.0, 0.0, 0.0, close, f"{self.tag}-{bar_ms // 1000:x}")
        # NaN never equals the requested 0: the rebalance rule cannot skip the flattening order
        orders = self.broker.execute(flat, math.nan) if account.position_qty else []
        if any(o.filled > 0 for o in orders):
            account = self.broker.fetch_account(close)
        self.tracker.last_exposure = 0.0
        self._record(BarRecord(bar_ms, "killed", "", 0.0, 0.0, close, reason), orders, account, reason)
        return BarReport(bar_ms, "killed", close, account.equity, account.position_qty, 0.0, tuple(orders), reason)

    def _record(self, bar: BarRecord, orders: list[OrderState], account: AccountState | None, kill: str = "") -> None:
        snapshot = None if account is None else self._snapshot(bar.open_ms, account, kill)
        meta = {"tracker": self.tracker.to_dict(), "dbe": asdict(self.dbe_state), "run_tag": self.tag}
        self.state.record_bar(bar, orders, account, snapshot, meta)
        if snapshot is not None:
            payload: dict[str, Any] = {**snapshot, "updated_at": time.time(), "state_file": str(self.state.path)}
            write_json_atomic(self.snapshot_path, payload)

    def _snapshot(self, bar_ms: int, account: AccountState, kill: str) -> dict[str, Any]:
        t = self.tracker
        return {
            "time_ms": bar_ms,
            "mode": self.broker.name,
            "symbol": self.live.symbol,
            "equity": account.equity,
            "cash": account.cash,
            "position_qty": account.position_qty,
            "entry_price": account.entry_price,
            "unrealized_pnl": account.unrealized_pnl,
            "mark_price": account.mark_price,
            "day_start_equity": t.day_start_equity,
            "daily_pnl": account.equity - t.day_start_equity,
            "pnl_total": account.equity - t.initial_equity,
            "bars_processed": self.state.bars_processed() + 1,
            "kill_switch": kill or None,
        }
