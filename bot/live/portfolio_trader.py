"""The live portfolio trader (``env.mode: portfolio`` checkpoints): one policy, one joint action over N symbols, one
account, one clock, one state file.

At each closed bar of the clock (the exchange's):

1. fetch every symbol's closed candles (:class:`~bot.live.candles.CandleBuffer`). A symbol whose newest candle is
   not the bar that just closed is not fresh: the trader waits up to :data:`STRAGGLER_S` past the close for it, then
   decides without it; when no symbol is fresh for ``live.stale_after_s`` the bar is skipped;
2. read the account (every symbol's position, :class:`~bot.live.portfolio_account.AccountView`) and check the
   account kill switch: the account's daily loss past ``live.max_daily_loss`` or a symbol's position notional past
   ``live.max_position_notional`` flattens every symbol, records the trip and stops;
3. build the portfolio env's observation: ``market`` [N, window, F] with each symbol's own scaler (zeros for a
   symbol that is not fresh or whose window is in an indicator warm-up or spans a gap: it is masked), ``assets`` and
   ``account`` (:func:`~bot.live.portfolio_account.basket_observation`);
4. the policy's joint action -> target weights (the env's :class:`~bot.env.WeightMapper`: gross <= 1, NaN refused
   naming the symbol), sized by the basket DBE with ``dbe.enabled`` (:mod:`bot.live.portfolio_dbe`) and kept within
   the exchange's margin (:func:`~bot.live.portfolio_account.within_margin`). The decision is stored before any
   order goes out, so a redo of the bar after a crash executes the same weights instead of asking the policy again;
5. per tradable symbol, largest reductions first: ``weight x leverage x account equity`` through the symbol's broker
   (market orders, its lot and minimum-notional rules, its DBE stops, client ids ``<symbol's run tag>-<bar>-<leg>``:
   a redo adopts what was sent), each symbol's bar recorded under its symbol in the one state file.

``env.decision_every`` holds the weights between decisions as the env does. Post-only limit orders
(``portfolio.order_type: limit``) are not placed live by the portfolio trader: it sends market orders (logged at
start). Start-up, reconciliation and outages use the single-symbol pieces per symbol; an outage past
``live.max_outage_s`` flattens every symbol.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from bot.config import TIMEFRAME_MS, BotConfig
from bot.env import WeightMapper
from bot.errors import BrokerError, CheckpointError, DataError, KillSwitchError, TransientBrokerError
from bot.live.basket import ACCOUNT_KILL
from bot.live.broker import AccountState, ExecutionPlan, OrderState, client_prefix
from bot.live.observation import LiveMarket, LiveReferences, PortfolioView
from bot.live.outage import Outage
from bot.live.portfolio_account import (
    AccountView,
    basket_observation,
    execution_order,
    kill_reason,
    market_windows,
    within_margin,
)
from bot.live.portfolio_dbe import LiveBasketDBE
from bot.live.portfolio_symbol import PortfolioBar, PortfolioSymbol, give_up
from bot.live.reports import BarReport, RunSummary
from bot.live.risk import AccountTracker
from bot.live.sizing import requested_exposure
from bot.live.startup import open_session
from bot.live.trader import POLL_S, SETTLE_S
from bot.training import Policy

logger = logging.getLogger(__name__)

#: Seconds past a bar close the trader waits for a symbol's candle before deciding without it (masked).
STRAGGLER_S = 10.0


class PortfolioTrader:
    """Runs a portfolio policy over its symbols on one account; see the module docstring for the loop.

    :param cfg: the checkpoint's config with the live section to use (``live.symbol`` is not used).
    :param symbols: the portfolio's symbols, in the model's order, each scoped on the same state file.
    :param policy: maps the portfolio observation to the joint action (a masked policy reads
        :meth:`action_masks`).
    :param sleep: sleep function (tests advance the emulator's clock instead).
    :param after_execute: called after each symbol's orders went out and before they are recorded (tests crash here).
    :param clock: monotonic seconds, for outage lengths.
    """

    def __init__(
        self,
        cfg: BotConfig,
        symbols: Sequence[PortfolioSymbol],
        policy: Policy,
        sleep: Callable[[float], None] = time.sleep,
        after_execute: Callable[[ExecutionPlan, list[OrderState]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not symbols:
            raise ValueError("a portfolio needs at least one symbol")
        self.cfg = cfg
        self.live = cfg.live
        self.symbols = list(symbols)
        self.names = tuple(s.symbol for s in self.symbols)
        self.policy = policy
        self.sleep = sleep
        self.after_execute = after_execute
        self.base_ms = TIMEFRAME_MS[cfg.live.timeframe]
        self.weights = WeightMapper(cfg, self.names)
        # the account's own keys (kill switch, tracker, references, decision) live beside the symbols' rows
        self.account = self.symbols[0].state
        self.tracker = AccountTracker.from_dict(self.account.get_account("tracker"))
        self.refs = LiveReferences(cfg, self.account.get_account("obs_refs"))
        self.outage = Outage(cfg.live.max_outage_s, self.base_ms, clock)
        self.clock = clock
        self._last_decision_ms: int = self.account.get_account("last_decision_ms", -1)
        flat = [self.weights.flat_level] * len(self.symbols)
        self._last_level = np.array(self.account.get_account("last_level") or flat, dtype=np.int64)
        self._time_scale = 1.0 / float(cfg.env.episode_length * cfg.env.decision_every)
        # the env's per-symbol DBE and account mode (dbe.enabled), else no stops and the weights as given
        saved = self.account.get_account("dbe")
        self.dbe = LiveBasketDBE(cfg, len(self.symbols), saved) if cfg.dbe.enabled else None
        self._leverage = 1.0 if cfg.portfolio.market == "spot" else float(cfg.portfolio.leverage)
        self._masks = self.weights.masks(np.zeros(len(self.symbols), dtype=bool), self._last_level)
        self._started = False
        self.bars = 0

    def action_masks(self) -> npt.NDArray[np.bool_]:
        """The env's ``action_masks`` at the decision being taken (a masked policy's mask source)."""
        return self._masks

    @property
    def summaries(self) -> dict[str, RunSummary]:
        """Each symbol's run summary."""
        return {s.symbol: s.summary for s in self.symbols}

    @property
    def done_ms(self) -> int:
        """OPEN time of the newest bar every symbol has recorded (-1 before the first)."""
        return min(s.state.last_bar_ms for s in self.symbols)

    # ------------------------------------------------------------------------------------------------ run
    def start(self) -> None:
        """Open every symbol's session (kill switch, probe, leverage, reconciliation, schema); once.

        :raises KillSwitchError: when the account's kill switch tripped earlier in this state file (every symbol is
            reconciled first, so what a kill sent is recorded).
        """
        if self._started:
            return
        if self.cfg.portfolio.order_type == "limit":
            logger.warning(
                "portfolio.order_type=limit: the live portfolio trader sends market orders (taker fee, no resting"
                " orders); its fills differ from the limit orders the model was trained with"
            )
        tripped = self.account.get_account(ACCOUNT_KILL)
        refused: list[str] = []
        now = 0
        for s in self.symbols:
            try:
                now = open_session(s.broker, s.state, s.reconciler, s.buffer, s.builder)
            except KillSwitchError:
                refused.append(s.symbol)
        if tripped or refused:
            reason = tripped or f"kill switch of {', '.join(refused)}"
            raise KillSwitchError(
                f"the account kill switch tripped earlier ({reason}); trading stays stopped for every symbol of"
                f" {self.account.path}. Check the account (close any position still open), then start with a new"
                " --state file to trade again"
            )
        self.outage.saw_exchange_time(now)
        self.policy.reset()
        self._started = True

    def run(self, max_bars: int | None = None, on_bar: Callable[[PortfolioBar], None] | None = None) -> int:
        """Trade bar by bar until ``max_bars`` bars were handled (None = forever) or the kill switch trips.

        :return: the bars handled.
        :raises KillSwitchError: after flattening every symbol, when a risk limit tripped.
        """
        self.start()
        while max_bars is None or self.bars < max_bars:
            self.advance(on_bar)
        return self.bars

    def advance(self, on_bar: Callable[[PortfolioBar], None] | None = None) -> PortfolioBar | None:
        """One attempt at the next bar: its report, or None while waiting for it.

        :raises KillSwitchError: after flattening every symbol, when the bar tripped a risk limit.
        """
        bar = self._attempt()
        if bar is None:
            return None
        self.bars += 1
        for s in self.symbols:
            if s.symbol in bar.reports:
                s.summary.add(bar.reports[s.symbol], self.tracker.initial_equity)
        if on_bar is not None:
            on_bar(bar)
        if bar.status == "killed":
            raise KillSwitchError(f"account kill switch: {bar.reason}; every symbol flattened, trading stopped")
        return bar

    def _attempt(self) -> PortfolioBar | None:
        """One step; an exchange failure past the retries is an outage (bars skipped, reconciled on recovery)."""
        began = self.clock()
        try:
            if self.outage.active:
                for s in self.symbols:
                    s.reconciler.run()
                self.outage.recovered()
            return self.step()
        except TransientBrokerError as e:
            elapsed = self.outage.failed(e, began)
            if elapsed > self.live.max_outage_s:
                give_up(self.symbols, self.outage, elapsed, self.base_ms)
            bar_ms = self.outage.skipped_bar(self.done_ms)
            self.sleep(self.outage.poll_s)
            return None if bar_ms is None else self._skip(bar_ms, self.outage.reason())

    def step(self) -> PortfolioBar | None:
        """Handle the bar that closed last, or wait for it (then return None)."""
        now = self.symbols[0].broker.fetch_time_ms()
        self.outage.saw_exchange_time(now)
        last_closed = now // self.base_ms * self.base_ms - self.base_ms
        if last_closed <= self.done_ms:
            self.sleep(((last_closed + 2 * self.base_ms) - now) / 1000.0 + SETTLE_S)
            return None
        for s in self.symbols:
            s.broker.sync(s.buffer.update(now))
        fresh = np.array([s.buffer.last_open_ms == last_closed for s in self.symbols])
        waited_s = (now - last_closed - self.base_ms) / 1000.0
        if not fresh.all():
            patience = STRAGGLER_S if fresh.any() else self.live.stale_after_s
            if waited_s <= patience:
                self.sleep(POLL_S)
                return None
            missing = ", ".join(n for n, f in zip(self.names, fresh, strict=True) if not f)
            logger.warning("No closed bar %d for %s after %.0f s: not traded this bar", last_closed, missing, waited_s)
        return self._decide(last_closed, fresh)

    # ------------------------------------------------------------------------------------------------ decide
    def _decide(self, bar_ms: int, fresh: npt.NDArray[np.bool_]) -> PortfolioBar:
        view = AccountView.of([s.broker.position(s.close) for s in self.symbols])
        for s in self.symbols:
            s.collect()  # a trade an exchange stop (or the dry run) closed in the bar reaches its DBE at this close
        since_start, _ = self.tracker.update(AccountState(view.equity, view.cash, 0.0, 0.0, 0.0, 0.0), bar_ms)
        for i, s in enumerate(self.symbols):
            s.tracker.update(view.account_state(i), bar_ms)
        reason = self.account.get_account(ACCOUNT_KILL) or kill_reason(self.tracker, view, self.names, self.live)
        if reason:
            return self._kill(bar_ms, reason)
        if not fresh.any():
            return self._skip(
                bar_ms,
                f"stale data: no symbol has a closed bar after live.stale_after_s={self.live.stale_after_s:g}",
                view,
            )
        lives = [self._market(s, bar_ms) if fresh[i] else None for i, s in enumerate(self.symbols)]
        seen = self.refs.observe(PortfolioView(view.equity, 0.0, view.cash, 0.0, 0, 0.0, 0.0), bar_ms // self.base_ms)
        if self.dbe is not None:
            closed = [s.closed_pnl for s in self.symbols]
            # the account mode follows the drawdown from the equity peak since the run started (kept across
            # restarts), not the observation's, whose references restart every episode length
            drawdown = since_start.drawdown
            self.dbe.update([s.builder for s in self.symbols], lives, closed, drawdown, bar_ms // self.base_ms)
            for s, live in zip(self.symbols, lives, strict=True):
                s.closed_pnl = None if live is not None else s.closed_pnl
        pending = [s.state.last_bar_ms < bar_ms for s in self.symbols]
        if self._last_decision_ms >= 0 and bar_ms - self._last_decision_ms < self.cfg.env.decision_every * self.base_ms:
            # between two decisions (env.decision_every) the weights are held; stops and the kill switch still act
            return self._finish(bar_ms, view, pending, {}, "held", "")
        weights, tradable, action, (sl, tp) = self._decision(bar_ms, lives, view, seen)
        reports: dict[str, BarReport] = {}
        for i in execution_order(weights * self._leverage, view):
            if not (pending[i] and tradable[i]):
                continue
            s = self.symbols[i]
            plan = ExecutionPlan(bar_ms, float(weights[i]), 1.0, sl[i], tp[i], s.close, client_prefix(s.tag, bar_ms))
            s.broker.others_value = view.value_besides(i)
            sent = s.broker.execute(plan, s.tracker.last_exposure)
            if self.after_execute is not None:
                self.after_execute(plan, sent)
            s.tracker.last_exposure = requested_exposure(plan, s.broker.rules, self._leverage)
            if any(o.filled > 0 for o in sent):
                view = view.with_position(i, s.broker.position(s.close))
            reports[s.symbol] = self._record_symbol(i, bar_ms, view, sent, weights, tradable, action)
            pending[i] = False
        self._last_decision_ms = bar_ms
        return self._finish(bar_ms, view, pending, reports, "held", "", weights, tradable, action)

    def _market(self, s: PortfolioSymbol, bar_ms: int) -> LiveMarket | None:
        """The features of a symbol's candles (None, masked, when they cannot be computed)."""
        try:
            return s.builder.market(s.buffer.frame())
        except DataError as e:
            logger.warning("%s masked at bar %d: %s", s.symbol, bar_ms, e)
            return None

    def _decision(
        self, bar_ms: int, lives: list[LiveMarket | None], view: AccountView, seen: PortfolioView
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], str, tuple[list[float], list[float]]]:
        """Weights to trade, tradable symbols, the action's text and each symbol's stop-loss and take-profit
        distances of the decision at ``bar_ms``: the one stored before a crash in this bar (so a redo sends the same
        orders), else the policy's (through the DBE's sizes and the margin cap)."""
        stored = self.account.get_account("decision")
        if stored and stored["bar_ms"] == bar_ms:
            logger.info("Redoing bar %d with the weights decided before the restart", bar_ms)
            tradable = np.array(stored["tradable"], dtype=bool)
            return np.array(stored["weights"]), tradable, str(stored["action"]), (stored["sl"], stored["tp"])
        n = len(self.symbols)
        market, tradable = market_windows([s.builder for s in self.symbols], lives, bar_ms)
        bars = [s.tracker.bars_in_position for s in self.symbols]
        obs = basket_observation(market, tradable, view, bars, self._time_scale, seen.drawdown, seen.initial_equity)
        self._masks = self.weights.masks(tradable, self._last_level) if self.weights.is_discrete else tradable
        action = self.policy.act(obs, -1)
        try:
            weights = self.weights.weights(action)
        except ValueError as e:
            raise CheckpointError(f"bar {bar_ms}: {e}; nothing was sent for this bar, trading stopped") from e
        sl, tp = [0.0] * n, [0.0] * n
        if self.dbe is not None:
            weights = self.dbe.weights(weights, tradable, [p.position_qty for p in view.positions])
            sl, tp = self.dbe.distances()
        if self.cfg.portfolio.market != "spot":
            fee = max(s.broker.portfolio.taker_fee for s in self.symbols)  # each symbol's portfolio.assets fee
            weights = within_margin(weights, tradable, view, self._leverage, fee)
        if self.weights.is_discrete:
            self._last_level = np.where(tradable, np.asarray(action, dtype=np.int64), self._last_level)
        text = str(np.asarray(action).round(4).tolist())
        decision = {"bar_ms": bar_ms, "weights": weights.tolist(), "tradable": tradable.tolist(), "action": text}
        self.account.put_account(decision={**decision, "sl": sl, "tp": tp})
        return weights, tradable, text, (sl, tp)

    # ------------------------------------------------------------------------------------------------ record
    def _record_symbol(
        self,
        i: int,
        bar_ms: int,
        view: AccountView,
        orders: list[OrderState],
        weights: npt.NDArray[np.float64] | None,
        tradable: npt.NDArray[np.bool_] | None,
        action: str,
        status: str = "",
        reason: str = "",
    ) -> BarReport:
        """Record symbol ``i``'s bar: its target weight (the one held when ``weights`` is None), or why it was
        masked."""
        s = self.symbols[i]
        if tradable is not None and not tradable[i] and not reason:
            reason = "masked: no fresh closed bar or an unusable feature window"
        target = float(weights[i]) if weights is not None else s.tracker.last_exposure / self._leverage
        return s.record(bar_ms, view.account_state(i), orders, target, action, status, reason, self.tracker)

    def _finish(
        self,
        bar_ms: int,
        view: AccountView | None,
        pending: list[bool],
        reports: dict[str, BarReport],
        status: str,
        reason: str,
        weights: npt.NDArray[np.float64] | None = None,
        tradable: npt.NDArray[np.bool_] | None = None,
        action: str = "",
    ) -> PortfolioBar:
        """Record the symbols not recorded yet at this bar, then the account's keys; the bar's report."""
        for i, s in enumerate(self.symbols):
            if pending[i]:
                if view is None:
                    reports[s.symbol] = s.record_skipped(bar_ms, reason, self.tracker.peak_equity)
                else:
                    reports[s.symbol] = self._record_symbol(
                        i, bar_ms, view, [], weights, tradable, action, status, reason
                    )
        self.account.put_account(
            tracker=self.tracker.to_dict(),
            obs_refs=self.refs.to_dict(),
            last_decision_ms=self._last_decision_ms,
            last_level=self._last_level.tolist(),
            dbe=self.dbe.to_dict() if self.dbe is not None else None,
        )
        ordered = {n: reports[n] for n in self.names if n in reports}
        overall = "traded" if any(r.status == "traded" for r in ordered.values()) else status
        equity = view.equity if view is not None else self.tracker.peak_equity
        w = tuple(float(x) for x in weights) if weights is not None else ()
        return PortfolioBar(bar_ms, overall, equity, w, ordered, reason)

    def _skip(self, bar_ms: int, reason: str, view: AccountView | None = None) -> PortfolioBar:
        logger.warning("Skipping bar %d: %s", bar_ms, reason)
        pending = [s.state.last_bar_ms < bar_ms for s in self.symbols]
        return self._finish(bar_ms, view, pending, {}, "skipped", reason)

    # ------------------------------------------------------------------------------------------------ kill switch
    def _kill(self, bar_ms: int, reason: str) -> PortfolioBar:
        """Trip the account kill switch: record it (account and every symbol, before any order, so a restart refuses
        even if the exchange fails the flattening), flatten every symbol with market orders, record the bar.

        :raises KillSwitchError: naming the symbols that could not be flattened.
        """
        logger.error("Account kill switch: %s; flattening every symbol and stopping", reason)
        self.account.put_account(**{ACCOUNT_KILL: reason})
        for s in self.symbols:
            s.state.put(kill_switch=reason)
        failed: list[str] = []
        flattened: list[tuple[int, list[OrderState]]] = []
        positions: list[AccountState] = []
        for s in self.symbols:
            try:
                at, sent, position = s.flatten(bar_ms, self.base_ms)
            except BrokerError as e:
                logger.error("Could not flatten %s: %s", s.symbol, e)
                failed.append(s.symbol)
                continue
            positions.append(position)
            flattened.append((at, sent))
        if failed:
            raise KillSwitchError(
                f"account kill switch ({reason}); could not flatten {', '.join(failed)}: check the account"
            )
        view = AccountView.of(positions)
        reports = {
            s.symbol: self._record_symbol(i, at, view, sent, None, None, "", "killed", reason)
            for i, (s, (at, sent)) in enumerate(zip(self.symbols, flattened, strict=True))
        }
        self.account.put_account(tracker=self.tracker.to_dict())
        return PortfolioBar(bar_ms, "killed", view.equity, (), reports, reason)
