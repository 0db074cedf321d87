"""The paper-trading loop: at each bar close on the exchange clock, observe, decide, execute, reconcile and record.

Per bar (the bar is identified by its OPEN time; it is decided on at its close, DESIGN.md):

1. wait until the exchange clock passes the next bar close (``fetch_time``; the sleep is injectable);
2. fetch the newly closed candles; a newest candle older than ``live.stale_after_s`` past its close skips the bar;
3. let the broker see the closed bars (the dry run fills its pending decision there), end the post-only limit orders
   that rested through the bar (:mod:`bot.live.limit_book`: cancel the rest, expire or re-post) and read the account;
4. kill switch (max daily loss, max position): flatten, record, raise :class:`~bot.errors.KillSwitchError`;
5. features with the checkpoint's pipeline and scaler, the DBE, the env's portfolio vector -> policy -> target;
6. execute (client order ids ``<run tag>-<bar open s, hex>-<leg>``: a redo after a crash adopts what was sent);
   with ``env.decision_every = N`` the policy decides every N bars and the bars in between hold the target, as in
   the env (the DBE still updates, stops still act, the kill switch is still checked);
7. record bar, orders, fills, position and account snapshot in one transaction, and the ``.account.json`` file.

On start the trader probes the exchange (an unreachable URL fails at once), reconciles the state with the exchange's
order history (:mod:`bot.live.reconcile`: nothing a kill left unrecorded is lost) and checks the observation schema on
the warm-up candles. A recurrent policy (``training.algo: recurrent_ppo``) starts its LSTM state anew at every
start, then is stepped over the decisions of the last ``env.window`` bars before its first decision
(:func:`~bot.live.observation.warm_up`), so a restart decides from a warmed state. When the exchange fails past its
retries the trader rides the outage out (:mod:`bot.live.outage`):
bars are skipped with a status line, the state is reconciled when the exchange answers again, and after
``live.max_outage_s`` it gives up, flattening first (kill-switch style) when a position may be open.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.config import TIMEFRAME_MS, BotConfig
from bot.env import ActionMapper, DecisionControls
from bot.errors import DataError, KillSwitchError, TransientBrokerError
from bot.live.broker import AccountState, Broker, ExecutionPlan, OrderState, client_prefix
from bot.live.candles import CandleBuffer, warmup_bars
from bot.live.limit_book import LimitBook
from bot.live.observation import DBEState, LiveReferences, ObservationBuilder, warm_up
from bot.live.outage import Outage
from bot.live.reconcile import Reconciler
from bot.live.reports import BarReport, RunSummary, account_snapshot
from bot.live.risk import AccountTracker
from bot.live.sizing import requested_exposure
from bot.live.startup import open_session
from bot.live.state import BarRecord, StateStore, write_json_atomic
from bot.training import Policy, is_recurrent

logger = logging.getLogger(__name__)

#: Seconds to wait past a bar close before asking for it (the exchange publishes the closed bar shortly after).
SETTLE_S = 1.0
#: Seconds between polls while the exchange has not published the newest closed bar yet.
POLL_S = 2.0


class Trader:
    """Runs a policy on a broker bar by bar; see the module docstring for the loop.

    :param cfg: the checkpoint's config with the live section to use.
    :param broker: the execution (``CcxtBroker`` or ``DryRunBroker``).
    :param policy: maps observations to actions (:class:`bot.training.policy.Policy`, as in validation and the
        backtest); a masked policy reads the trader's :meth:`action_masks` at each decision. There is no dataset row
        live: ``act`` gets -1.
    :param builder: builds observations with the checkpoint's scaler and schema.
    :param state: the SQLite state store.
    :param tag: run tag for client order ids (:func:`bot.live.broker.run_tag`).
    :param sleep: sleep function (tests advance an emulated clock instead of waiting).
    :param after_execute: called after the orders of a bar went out and before they are recorded (tests crash here).
    :param clock: monotonic seconds, for outage lengths (tests pass the emulator's clock).
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
        clock: Callable[[], float] = time.monotonic,
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
        # the env's own rules (minimum holding, no-trade band, size held while the target is), so the trader holds
        # the targets the env would; their state survives restarts
        self.controls = DecisionControls(cfg, self.actions)
        held = state.get("controls")
        if held:
            self.controls.target, self.controls.level, self.controls.size = held["target"], held["level"], held["size"]
        self.tracker = AccountTracker.from_dict(state.get("tracker"))
        self.dbe_state = DBEState(**(state.get("dbe") or {}))
        self.snapshot_path = state.path.with_name(state.path.name + ".account.json")
        self.summary = RunSummary()
        self.clock = clock
        self.outage = Outage(cfg.live.max_outage_s, self.base_ms, clock)
        self.reconciler = Reconciler(broker, state, tag, self.base_ms)
        self.decision_every = cfg.env.decision_every
        self._last_decision_ms: int = state.get("last_decision_ms", -1)
        self.refs = LiveReferences(cfg, state.get("obs_refs"))
        self._started = False
        self._rewarm = False
        # post-only limit orders (portfolio.order_type: limit) resting between two bar closes
        self.limits = LimitBook(cfg.portfolio, broker, state, tag, self.base_ms)
        self._masks = self.controls.masks(0.0, 0)

    def action_masks(self) -> npt.NDArray[np.bool_]:
        """bool [n_actions]: the actions allowed at the decision being taken (the env's ``action_masks`` rules for
        the live position), the :data:`~bot.training.policy.MaskSource` of the trader's policy."""
        return self._masks

    # ------------------------------------------------------------------------------------------------ start
    def start(self) -> None:
        """Open the session once per trader (:func:`bot.live.startup.open_session`: kill switch, exchange, broker,
        reconciliation, observation schema); later calls do nothing.

        :raises KillSwitchError: when an earlier run tripped the kill switch in this state file.
        :raises BrokerError: when the exchange cannot be reached (at once, with the cause).
        :raises SchemaMismatchError: when the live features differ from the checkpoint's.
        """
        if self._started:
            return
        now = open_session(self.broker, self.state, self.reconciler, self.buffer, self.builder)
        self.outage.saw_exchange_time(now)
        self.policy.reset()  # the live stream is one episode for the policy (a recurrent one starts its state here)
        # a recurrent policy's state did not survive the restart: it is rebuilt before the first decision
        self._rewarm = is_recurrent(self.policy)
        self._started = True

    # ------------------------------------------------------------------------------------------------ loop
    def run(self, max_bars: int | None = None, on_bar: Callable[[BarReport], None] | None = None) -> RunSummary:
        """Trade bar by bar until ``max_bars`` bars were handled (None = forever) or the kill switch trips.

        :raises KillSwitchError: after flattening, when a risk limit trips.
        :raises AuthenticationError: when the exchange refuses the API key.
        """
        self.start()
        try:
            while max_bars is None or self.summary.bars < max_bars:
                self.advance(on_bar)
        except (KeyboardInterrupt, KillSwitchError):
            self.limits.end_all()
            raise
        return self.finish()

    def advance(self, on_bar: Callable[[BarReport], None] | None = None) -> BarReport | None:
        """One attempt at the next bar (after :meth:`start`): its report, or None while waiting for it (the trader's
        ``sleep`` was asked for the wait).

        :raises KillSwitchError: after flattening, when the bar tripped a risk limit.
        """
        report = self._attempt()
        if report is None:
            return None
        self.summary.add(report, self.tracker.initial_equity)
        if on_bar is not None:
            on_bar(report)
        if report.status == "killed":
            raise KillSwitchError(f"kill switch: {report.reason}; position flattened, trading stopped")
        return report

    def finish(self) -> RunSummary:
        """End a run that stopped normally: no limit order is left resting unwatched (after a crash or kill -9 the
        next start does it).

        :raises KillSwitchError: when a kill switch tripped whose flattening failed.
        """
        self.limits.end_all()
        tripped = self.state.get("kill_switch")
        if tripped:
            raise KillSwitchError(f"kill switch: {tripped}; the position could not be flattened, check the account")
        return self.summary

    def trip(self, bar_ms: int, reason: str) -> BarReport:
        """Trip this trader's kill switch from outside (the basket's account-level one): flatten at the close of
        the newest candle, record the trip so a restart refuses to trade, report the killed bar.

        :param bar_ms: OPEN time of the bar to record the trip under; a bar this trader already handled is moved
            to the next one, so the flattening order's client id is new.
        """
        bar_ms = max(bar_ms, self.state.last_bar_ms + self.base_ms)
        close = self.buffer.candles[-1].close if self.buffer.candles else math.nan
        report = self._kill(bar_ms, close, self.broker.fetch_account(close), reason)
        self.summary.add(report, self.tracker.initial_equity)
        self.limits.end_all()
        return report

    def _attempt(self) -> BarReport | None:
        """One step; an exchange failure past the retries becomes an outage: bars skipped, reconcile on recovery."""
        began = self.clock()
        try:
            if self.outage.active:
                self.reconciler.run()
                self.outage.recovered()
            return self.step()
        except TransientBrokerError as e:
            elapsed = self.outage.failed(e, began)
            if elapsed > self.live.max_outage_s:
                qty = self.summary.reports[-1].position_qty if self.summary.reports else self.tracker.last_qty
                next_ms = max(self.state.last_bar_ms, 0) + self.base_ms
                last = self.buffer.candles[-1].close if self.buffer.candles else 0.0
                flat = ExecutionPlan.flatten(next_ms, last, self.tag)
                # a position that may be open is not left blind: the trip is recorded, a flattening order tried
                self.outage.give_up(elapsed, qty, self.state, self.broker, flat)
            bar_ms = self.outage.skipped_bar(self.state.last_bar_ms)
            self.sleep(self.outage.poll_s)
            if bar_ms is None:
                return None
            # recorded like any skipped bar (no account: none could be read), so it is not handled twice
            close = self.buffer.candles[-1].close if self.buffer.candles else math.nan
            return self._skip(bar_ms, close, self.outage.reason())

    def step(self) -> BarReport | None:
        """Handle the newest closed bar, or wait for the next close (then return None)."""
        now = self.broker.fetch_time_ms()
        self.outage.saw_exchange_time(now)
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
            self._settle(bar_ms)
            # no decision on stale candles, but the risk limits still hold while the feed is quiet
            account = self.broker.fetch_account(latest.close)
            reason = self._kill_reason(account)
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
        self._settle(bar_ms)
        account = self.broker.fetch_account(close)
        view, trade_pnl = self.tracker.update(account, bar_ms)
        reason = self._kill_reason(account)
        if reason:
            return self._kill(bar_ms, close, account, reason)
        try:
            live = self.builder.market(self.buffer.frame())
            window = self.builder.market_window(live)
        except DataError as e:
            return self._skip(bar_ms, close, str(e), account)
        dbe = self.builder.dbe(live, self.dbe_state, view.drawdown, trade_pnl)
        if self._last_decision_ms >= 0 and bar_ms - self._last_decision_ms < self.decision_every * self.base_ms:
            # between two decisions (env.decision_every) the target is held; the exchange's stops still act; an
            # unfilled limit order is re-posted at this close (portfolio.limit_unfilled: repost)
            reposted = self.limits.take_repost(bar_ms, close, client_prefix(self.tag, bar_ms))
            orders = [] if reposted is None else self._execute(reposted)
            record = BarRecord(bar_ms, "held", "", self.controls.target, 0, 0)
            return self._finish(bar_ms, close, account, orders, record)
        self.limits.unfilled = None  # a new decision replaces a plan left unfilled
        seen = self.refs.observe(view, bar_ms // self.base_ms)
        obs = {"market": window, "portfolio": self.builder.portfolio(seen, dbe)}
        qty, held_bars = account.position_qty, view.bars_in_position
        self._masks = self.controls.masks(qty, held_bars)
        if self._rewarm:
            self._rewarm = False
            warm_up(self.policy, self.builder, live, obs["portfolio"], self.decision_every)
        action = self.policy.act(obs, -1)
        target = self.controls.decide(action, qty, held_bars, dbe.size_fraction)
        plan = ExecutionPlan(
            bar_ms,
            target,
            self.controls.size,
            dbe.stop_loss_pct,
            dbe.take_profit_pct,
            close,
            client_prefix(self.tag, bar_ms),
            self.limits.offset,
        )
        orders = self._execute(plan)
        self._last_decision_ms = bar_ms
        return self._finish(bar_ms, close, account, orders, BarRecord(bar_ms, "held", str(action), target, 0, 0))

    def _execute(self, plan: ExecutionPlan) -> list[OrderState]:
        before = self.tracker.last_exposure
        orders = self.broker.execute(plan, before)
        if self.after_execute is not None:
            self.after_execute(plan, orders)
        # limit orders that rest: the exposure counts as reached only once they filled (LimitBook)
        self.tracker.last_exposure = self.limits.posted(plan, orders, before, self._requested(plan))
        return orders

    def _settle(self, bar_ms: int) -> None:
        """End the limit orders that rested through the bar that closed; the exposure counts once they filled."""
        exposure = self.limits.end_resting(bar_ms, self._requested)
        if exposure is not None:
            self.tracker.last_exposure = exposure

    def _requested(self, plan: ExecutionPlan) -> float:
        return requested_exposure(plan, self.broker.rules, self._leverage)

    def _finish(
        self, bar_ms: int, close: float, account: AccountState, orders: list[OrderState], record: BarRecord
    ) -> BarReport:
        """Add the exchange's own fills (stops) to the bar's orders, re-read the account after fills, record."""
        recorded = self.state.filled_by_client_id()
        orders = orders + [f for f in self.broker.drain_fills() if recorded.get(f.client_id, -1.0) < f.filled]
        status = "traded" if any(o.filled > 0 for o in orders) else "held"
        if status == "traded":
            account = self.broker.fetch_account(close)
        record = dataclasses.replace(record, status=status, requested_exposure=self.tracker.last_exposure, close=close)
        placed, filled = self.limits.counts(account, orders)
        self._record(record, orders, account)
        return BarReport(
            bar_ms,
            status,
            close,
            account.equity,
            account.position_qty,
            record.target_exposure,
            tuple(orders),
            limit_orders=placed,
            limit_fills=filled,
        )

    def _kill_reason(self, account: AccountState) -> str:
        # a trip recorded during this run (start() refuses a state tripped before) whose flattening failed: every
        # later attempt only retries the flattening, even if the limit no longer holds
        tripped: str | None = self.state.get("kill_switch")
        return tripped or self.tracker.kill_reason(account, self.live)

    @property
    def _leverage(self) -> float:
        return 1.0 if self.broker.rules.is_spot else float(self.cfg.portfolio.leverage)

    def _skip(self, bar_ms: int, close: float, reason: str, account: AccountState | None = None) -> BarReport:
        logger.warning("Skipping bar %d: %s", bar_ms, reason)
        if account is not None:
            self.tracker.start(account.equity, bar_ms)
        self._record(BarRecord(bar_ms, "skipped", "", 0.0, self.tracker.last_exposure, close, reason), [], account)
        last = self.summary.reports[-1] if self.summary.reports else None
        equity = account.equity if account is not None else (last.equity if last else self.tracker.peak_equity)
        qty = account.position_qty if account is not None else (last.position_qty if last else self.tracker.last_qty)
        return BarReport(bar_ms, "skipped", close, equity, qty, reason=reason)

    def _kill(self, bar_ms: int, close: float, account: AccountState, reason: str) -> BarReport:
        logger.error("Kill switch: %s; flattening the position and stopping", reason)
        self.tracker.start(account.equity, bar_ms)
        # recorded before flattening: should the exchange fail the close, a restart still refuses to trade
        self.state.put(kill_switch=reason)
        flat = ExecutionPlan.flatten(bar_ms, close, self.tag)
        # NaN never equals the requested 0: the rebalance rule cannot skip the flattening order
        orders = self.broker.execute(flat, math.nan) if account.position_qty else []
        if any(o.filled > 0 for o in orders):
            account = self.broker.fetch_account(close)
        self.tracker.last_exposure = 0.0
        self._record(BarRecord(bar_ms, "killed", "", 0.0, 0.0, close, reason), orders, account, reason)
        return BarReport(bar_ms, "killed", close, account.equity, account.position_qty, 0.0, tuple(orders), reason)

    def _record(self, bar: BarRecord, orders: list[OrderState], account: AccountState | None, kill: str = "") -> None:
        snapshot = None if account is None else self._snapshot(bar.open_ms, account, kill, orders)
        c = self.controls
        meta = {
            "tracker": self.tracker.to_dict(),
            "dbe": dataclasses.asdict(self.dbe_state),
            "controls": {"target": c.target, "level": c.level, "size": c.size},
            "last_decision_ms": self._last_decision_ms,
            "run_tag": self.tag,
            "limit_book": self.limits.to_dict(),
            "obs_refs": self.refs.to_dict(),
        }
        # the bar's own candle when the buffer holds it (not for a bar skipped in an outage or on stale data)
        candle = next((c for c in reversed(self.buffer.candles) if c.open_ms == bar.open_ms), None)
        self.state.record_bar(bar, orders, account, snapshot, meta, self.limits.settled, candle)
        self.limits.settled = []
        if snapshot is not None:
            payload: dict[str, Any] = {**snapshot, "updated_at": time.time(), "state_file": str(self.state.path)}
            write_json_atomic(self.snapshot_path, payload)

    def _snapshot(self, bar_ms: int, account: AccountState, kill: str, orders: list[OrderState]) -> dict[str, Any]:
        processed = self.state.bars_processed() + 1
        limits = self.limits.counts(account, orders)
        return account_snapshot(
            bar_ms, account, self.tracker, self.broker.name, self.live.symbol, processed, kill, limits
        )
