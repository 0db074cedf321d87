"""Dry run of a portfolio (``bot paper --dry-run`` with an ``env.mode: portfolio`` checkpoint): live candles, fills
simulated by the env's :class:`~bot.portfolio.BasketPortfolio` over every symbol in one account.

The weights decided at the close of bar t are executed by ``BasketPortfolio.process_bar`` inside bar t + 1 once every
symbol's bar t + 1 has closed (fills at the opens with slippage, each symbol's stops from its high and low,
liquidation, funding, marks at the closes; a symbol without the bar is neither traded nor stopped), with the model's
own costs and lot rules (``portfolio`` and ``portfolio.assets``): what the env and the portfolio backtest do. Each
symbol's broker (:class:`DryRunSymbolBroker`) reports its share of that account and the bar's fills
(:meth:`DryRunBasket._legs`: the net change at its average price, or with a closed trade its closing leg at the
price that gives the trade's net PnL, so the symbol's DBE counts the env's trades). No order reaches the
exchange; only public market data is read, so no API key is needed. The simulated account starts from
``portfolio.initial_cash`` at every start.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from bot.config import PortfolioConfig
from bot.live.broker import (
    AccountState,
    Candle,
    ExecutionPlan,
    MarketSource,
    OrderSide,
    OrderState,
)
from bot.live.dry_run import SimulatedBroker
from bot.portfolio import AssetRules, BasketPortfolio


class DryRunBasket:
    """The simulated account of a portfolio dry run.

    :param portfolio: the model's portfolio section.
    :param symbols: the model's symbols as it was trained on them (the keys of ``portfolio.assets``).
    """

    def __init__(self, portfolio: PortfolioConfig, symbols: Sequence[str]) -> None:
        rules = AssetRules.from_config(portfolio, symbols, portfolio.asset_overrides())
        self.account = BasketPortfolio(portfolio, symbols, rules)
        self.account.reset()
        n = len(symbols)
        self._candles: list[dict[int, Candle]] = [{} for _ in range(n)]
        self._done_ms = -1
        self._decided = False
        self._decision_ms = -1
        self._new = False
        self._weights, self._sl, self._tp = np.zeros(n), np.zeros(n), np.zeros(n)
        self._tradable = np.zeros(n, dtype=bool)
        self._fills: list[list[OrderState]] = [[] for _ in range(n)]
        #: per symbol, the cash flow and fees of the fills reported for its open trade
        self._open = [(0.0, 0.0)] * n

    def sync(self, i: int, closed: Sequence[Candle]) -> None:
        """Symbol ``i``'s newly closed candles; before the first decision they only move its mark."""
        if not closed:
            return
        if not self._decided:
            self._done_ms = max(self._done_ms, closed[-1].open_ms)
            self.account.mark = np.where(np.arange(self.account.n) == i, closed[-1].close, self.account.mark)
            return
        self._candles[i].update({c.open_ms: c for c in closed if c.open_ms > self._done_ms})

    def decide(self, i: int, plan: ExecutionPlan) -> None:
        """Symbol ``i``'s target weight and stops of the decision at ``plan.bar_open_ms`` (its next bar executes
        it); a symbol not decided on at that bar is not traded."""
        if plan.bar_open_ms != self._decision_ms:
            self._decision_ms, self._new = plan.bar_open_ms, True
            self._tradable[:] = False
        self._weights[i], self._tradable[i], self._decided = plan.target_exposure, True, True
        self._sl[i], self._tp[i] = plan.stop_loss_pct, plan.take_profit_pct

    def settle(self) -> None:
        """Process every bar that closed since the last call, in time order, with the pending decision."""
        pm = self.account
        for t in sorted({ms for candles in self._candles for ms in candles if ms > self._done_ms}):
            bar = [candles.pop(t, None) for candles in self._candles]
            prices = [[math.nan] * 4 if c is None else [c.open, c.high, c.low, c.close] for c in bar]
            o, h, lo, c = np.array(prices, dtype=np.float64).T.copy()
            qty, notional, fees = pm.qty.copy(), pm.traded_notional.copy(), pm.fees.copy()
            pm.process_bar(t, o, h, lo, c, self._weights, self._tradable, self._sl, self._tp, new_decision=self._new)
            self._new = False
            self._done_ms = t
            closed = [i for i, _ in pm.last_exits]
            for i in range(pm.n):
                notional_i, fee_i = float(pm.traded_notional[i] - notional[i]), float(pm.fees[i] - fees[i])
                legs = self._legs(i, float(qty[i]), closed.count(i), notional_i, fee_i)
                for k, (moved, price, fee, flat) in enumerate(legs):
                    self._report(i, f"dry-{t // 1000:x}-{i}" + (f"-{k}" if k else ""), moved, price, fee, flat)

    def _legs(
        self, i: int, before: float, n_closed: int, notional: float, fee: float
    ) -> list[tuple[float, float, float, bool]]:
        """Symbol ``i``'s fills of the bar just processed as ``(signed qty, price, fee, flat after)`` legs.

        Without a closed trade the bar has at most one fill (the decision's order): the net change at its average
        price. With closed trades, each is closed by its own leg, at the effective price that gives the trade's net
        PnL (:attr:`~bot.portfolio.Trade.pnl`) over every fill reported for it (a reduction at the bar's open and a
        stop inside it fold into one leg); a trade opened and closed inside the bar is reported as its opening leg
        at its entry price and that closing leg; the position left open is opened last at its entry price with the
        rest of the bar's fees. So each symbol's ledger (:mod:`bot.live.portfolio_symbol`) books the env's trades.
        """
        pm = self.account
        after = float(pm.qty[i])
        if n_closed == 0:
            moved = after - before
            return [(moved, notional / abs(moved), fee, after == 0.0)] if moved else []
        legs: list[tuple[float, float, float, bool]] = []
        held = before
        for trade in pm.trades[i][-n_closed:]:
            sign = 1.0 if trade.side == "long" else -1.0
            if held == 0.0:
                legs.append((sign * trade.qty, trade.entry_price, 0.0, False))
                held, cash, paid = sign * trade.qty, -sign * trade.qty * trade.entry_price, 0.0
            else:
                cash, paid = self._open[i]
            # this leg's cash, held x price - its fee, makes the trade's reported fills sum to its net PnL
            leg_fee = trade.fees - paid
            legs.append((-held, (trade.pnl - cash + leg_fee) / held, leg_fee, True))
            held = 0.0
        if after != 0.0:
            legs.append((after, float(pm.entry[i]), fee - sum(leg[2] for leg in legs), False))
        return legs

    def _report(self, i: int, client_id: str, moved: float, price: float, fee: float, flat: bool) -> None:
        """Record one fill of symbol ``i`` and follow its open trade's cash flow and fees (what its ledger books)."""
        cash, paid = self._open[i]
        self._open[i] = (0.0, 0.0) if flat else (cash - moved * price - fee, paid + fee)
        side: OrderSide = "buy" if moved > 0 else "sell"
        self._fills[i].append(OrderState(client_id, "", side, abs(moved), abs(moved), price, "closed", fee))

    def drain(self, i: int) -> list[OrderState]:
        """Symbol ``i``'s fills since the last call."""
        self.settle()
        fills, self._fills[i] = self._fills[i], []
        return fills

    def position(self, i: int, mark: float) -> AccountState:
        """Symbol ``i``'s view of the account: the cash plus its position's value at ``mark``."""
        self.settle()
        pm = self.account
        qty, entry, cash = float(pm.qty[i]), float(pm.entry[i]), pm.cash
        upnl = 0.0 if pm.is_spot else qty * (mark - entry)
        value = qty * mark if pm.is_spot else upnl
        return AccountState(cash + value, cash, qty, entry, upnl, mark)


class DryRunSymbolBroker(SimulatedBroker):
    """One symbol of a portfolio dry run: market data from ``source``, execution by the shared ``basket``.

    :param source: the symbol's market data (a keyless :class:`~bot.live.ccxt_broker.CcxtBroker`).
    :param basket: the simulated account.
    :param index: the symbol's index in the basket.
    :param portfolio: the symbol's portfolio section (its fees).
    """

    def __init__(self, source: MarketSource, basket: DryRunBasket, index: int, portfolio: PortfolioConfig) -> None:
        super().__init__(source)
        self.basket, self.index, self.portfolio = basket, index, portfolio
        self.others_value = 0.0

    def sync(self, closed: Sequence[Candle]) -> None:
        """Hand the newly closed candles to the simulated account."""
        self.basket.sync(self.index, closed)

    def drain_fills(self) -> list[OrderState]:
        """The simulated fills of this symbol since the last call."""
        return self.basket.drain(self.index)

    def position(self, mark_price: float) -> AccountState:
        """The symbol's own view: the account's cash plus this position's value."""
        return self.basket.position(self.index, mark_price)

    def fetch_account(self, mark_price: float) -> AccountState:
        """The symbol's position with the account's equity."""
        own = self.position(mark_price)
        return dataclasses.replace(own, equity=own.equity + self.others_value)

    def execute(self, plan: ExecutionPlan, last_exposure: float) -> list[OrderState]:
        """Queue the plan for the next bar (the simulated account's own rebalance rule decides what trades)."""
        self.basket.decide(self.index, plan)
        return []
