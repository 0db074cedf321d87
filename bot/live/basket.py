"""Paper trading several symbols in one process: one :class:`~bot.live.trader.Trader` per symbol on one clock, one
state file and one account-level kill switch (``bot paper --symbols``).

Each symbol's trader is the single-symbol one, unchanged: its own broker, candles, observation (its own scaler),
policy state, DBE, decision controls and limit orders, its rows in the shared state file under its symbol
(:mod:`bot.live.state_schema`) and its own client order ids (the run tag hashes the symbol, so a restart never
re-sends and two symbols never collide). The basket only schedules them: each round every trader handles the bar
that closed, if any; when none had a bar the basket sleeps for the shortest wait one of them asked for.

The symbols share the exchange account: each of N symbols trades with 1/N of the quote wallet (its sleeve: the
broker's ``wallet_share``) plus its own position's unrealised PnL, so sizing, the observation's equity and cash and
the daily loss are the sleeve's, and the sleeves' equities add up to the account's. The kill switch is the
account's: when any symbol's trader trips (its sleeve's daily loss past ``live.max_daily_loss``, which the account's
daily loss past it implies for at least one sleeve; its position past ``live.max_position_notional``; an outage
given up) every other symbol is flattened too, the trip is recorded for the account, and a restart on the same
state file refuses to trade any symbol of it.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.errors import KillSwitchError
from bot.live.reports import BarReport, RunSummary
from bot.live.trader import Trader

logger = logging.getLogger(__name__)

#: Meta key of the account-level kill switch (``StateStore.put_account``).
ACCOUNT_KILL = "kill_switch"


def snapshot_path(state_path: Path, symbol: str) -> Path:
    """``<state>.<SYMBOL>.account.json``: each symbol's account snapshot file (``BTC/USDT:USDT`` -> ``BTCUSDT``)."""
    slug = re.sub(r"[^A-Za-z0-9]+", "", symbol.split(":")[0]).upper()
    return state_path.with_name(f"{state_path.name}.{slug}.account.json")


class Basket:
    """Schedules per-symbol traders on one clock, with one account-level kill switch.

    :param traders: one per symbol, each with its own symbol-scoped ``StateStore`` on the same file; their ``sleep``
        is taken over by the basket.
    :param sleep: the real sleep (tests advance the emulator's clock instead).
    """

    def __init__(self, traders: Sequence[Trader], sleep: Callable[[float], None] = time.sleep) -> None:
        if not traders:
            raise ValueError("a basket needs at least one trader")
        self.traders = list(traders)
        self.sleep = sleep
        self._waits: list[float] = []
        for trader in self.traders:
            # a trader asks for its wait instead of sleeping, so one symbol never holds the others back
            trader.sleep = self._waits.append

    @property
    def symbols(self) -> list[str]:
        """The traders' symbols, in order."""
        return [t.live.symbol for t in self.traders]

    @property
    def summaries(self) -> dict[str, RunSummary]:
        """Each symbol's run summary."""
        return {t.live.symbol: t.summary for t in self.traders}

    def start(self) -> None:
        """Start every trader (probe, reconcile with the exchange, check the schema).

        :raises KillSwitchError: when the account's kill switch (or a symbol's) tripped earlier in this state file;
            every symbol is reconciled first, so what a kill sent is recorded.
        """
        tripped = self.traders[0].state.get_account(ACCOUNT_KILL)
        refused: list[str] = []
        for trader in self.traders:
            try:
                trader.start()
            except KillSwitchError:
                refused.append(trader.live.symbol)
        if tripped or refused:
            reason = tripped or f"kill switch of {', '.join(refused)}"
            raise KillSwitchError(
                f"the account kill switch tripped earlier ({reason}); trading stays stopped for every symbol of"
                f" {self.traders[0].state.path}. Check the account (close any position still open), then start with"
                " a new --state file to trade again"
            )

    def run(
        self, max_bars: int | None = None, on_bar: Callable[[str, BarReport], None] | None = None
    ) -> dict[str, RunSummary]:
        """Trade every symbol bar by bar until each handled ``max_bars`` bars (None = forever) or a kill switch trips.

        :param on_bar: called with the symbol and report of every bar handled.
        :raises KillSwitchError: after flattening every symbol, when one tripped a risk limit.
        """
        self.start()
        try:
            while True:
                active = [t for t in self.traders if max_bars is None or t.summary.bars < max_bars]
                if not active:
                    break
                self._waits.clear()
                handled = [self._advance(t, on_bar) for t in active]
                if not any(r is not None for r in handled) and self._waits:
                    self.sleep(min(self._waits))
        except KeyboardInterrupt:
            for trader in self.traders:
                trader.limits.end_all()
            raise
        for trader in self.traders:
            trader.finish()
        return self.summaries

    def _advance(self, trader: Trader, on_bar: Callable[[str, BarReport], None] | None) -> BarReport | None:
        symbol = trader.live.symbol
        report_bar = None if on_bar is None else (lambda r: on_bar(symbol, r))
        try:
            return trader.advance(report_bar)
        except KillSwitchError as e:
            bar_ms = trader.summary.reports[-1].open_ms if trader.summary.reports else trader.state.last_bar_ms
            self._trip(f"{symbol}: {e}", bar_ms, trader, on_bar)
            raise KillSwitchError(f"account kill switch ({symbol}): {e}; every symbol flattened") from e

    def _trip(
        self, reason: str, bar_ms: int, source: Trader, on_bar: Callable[[str, BarReport], None] | None
    ) -> None:
        """Record the account's trip, then flatten every other symbol (each records its own trip too)."""
        logger.error("Account kill switch: %s; flattening every symbol", reason)
        source.state.put_account(**{ACCOUNT_KILL: reason})
        source.limits.end_all()
        failed: list[str] = []
        for trader in self.traders:
            if trader is source:
                continue
            try:
                report = trader.trip(bar_ms, f"account kill switch: {reason}")
            except Exception as e:  # every symbol is tried; the failures are named below
                logger.error("Could not flatten %s: %s", trader.live.symbol, e)
                failed.append(trader.live.symbol)
                continue
            if on_bar is not None:
                on_bar(trader.live.symbol, report)
        if failed:
            raise KillSwitchError(
                f"account kill switch ({reason}); could not flatten {', '.join(failed)}: check the account"
            )
