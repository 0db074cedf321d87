"""Dry run of a portfolio (``bot paper --dry-run`` with an ``env.mode: portfolio`` checkpoint): live candles, fills
simulated by the env's :class:`~bot.portfolio.BasketPortfolio` over every symbol in one account.

The weights decided at the close of bar t are executed by ``BasketPortfolio.process_bar`` inside bar t + 1 once every
symbol's bar t + 1 has closed (fills at the opens with slippage, each symbol's stops from its high and low,
liquidation, funding, marks at the closes; a symbol without the bar is neither traded nor stopped), with the model's
own costs and lot rules (``portfolio`` and ``portfolio.assets``): what the env and the portfolio backtest do. Each
symbol's broker (:class:`DryRunSymbolBroker`) reports its share of that account and the net position change of each
bar as one fill at its average price. No order reaches the exchange; only public market data is read, so no API key
is needed. The simulated account starts from ``portfolio.initial_cash`` at every start.
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
            for i in np.flatnonzero(pm.qty != qty).tolist():
                moved = float(pm.qty[i] - qty[i])
                price = float(pm.traded_notional[i] - notional[i]) / abs(moved)
                fee = float(pm.fees[i] - fees[i])
                side: OrderSide = "buy" if moved > 0 else "sell"
                fill = OrderState(f"dry-{t // 1000:x}-{i}", "", side, abs(moved), abs(moved), price, "closed", fee)
                self._fills[i].append(fill)

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
