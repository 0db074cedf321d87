"""``DryRunBroker``: live candles from the exchange, fills simulated by the env's PortfolioManager.

The decision taken at the close of bar t is executed by ``PortfolioManager.process_bar`` inside bar t+1 once that bar
has closed (fill at its open with slippage, SL/TP from its high/low, funding, mark at its close): exactly what the env
and the backtest do, so the dry run and a backtest over the same candles with the same policy agree trade for trade,
with ``portfolio.order_type: limit`` too (the simulator's post-only limit orders, expiry and re-posting).
No order reaches the exchange; only public market data is read, so no API key is needed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.config import PortfolioConfig
from bot.live.broker import (
    AccountState,
    Candle,
    ExecutionPlan,
    MarketRules,
    MarketSource,
    OrderSide,
    OrderState,
)
from bot.portfolio import PortfolioManager

logger = logging.getLogger(__name__)


class SimulatedBroker:
    """What the dry-run brokers share: market data from ``source``, and no order ever reaching the exchange.

    :param source: the market data (a :class:`~bot.live.ccxt_broker.CcxtBroker`, keys not needed).
    """

    name = "dry-run"

    def __init__(self, source: MarketSource) -> None:
        self.source = source

    @property
    def rules(self) -> MarketRules:
        """Rules of the source market."""
        return self.source.rules

    def probe(self) -> None:
        """Check that the market-data source answers (fails the start at once when it cannot be reached)."""
        self.source.probe()

    def fetch_time_ms(self) -> int:
        """The exchange clock."""
        return self.source.fetch_time_ms()

    def fetch_candles(self, timeframe: str, since_ms: int | None, limit: int) -> list[Candle]:
        """Candles from the source."""
        return self.source.fetch_candles(timeframe, since_ms, limit)

    def prepare(self) -> None:
        """Nothing to set up."""

    def find_order(self, client_id: str) -> OrderState | None:
        """Dry runs send nothing: never found on the exchange."""
        return None

    def finish_limit_order(self, client_id: str, plan: ExecutionPlan | None) -> OrderState | None:
        """The simulator ends its own limit orders inside the bar (``portfolio.limit_unfilled``): none is open."""
        return None

    def open_orders(self) -> list[OrderState]:
        """Simulated orders, limit ones included, end inside their bar: never open."""
        return []

    def history(self, since_ms: int) -> list[OrderState]:
        """Dry runs send nothing: the exchange holds no order of theirs."""
        return []

    def close(self) -> None:
        """Nothing to release."""


class DryRunBroker(SimulatedBroker):
    """Simulated execution on live candles.

    :param source: the market data (a :class:`~bot.live.ccxt_broker.CcxtBroker`, keys not needed).
    :param portfolio: the portfolio section the model was trained with (costs, leverage, lot step).
    """

    def __init__(self, source: MarketSource, portfolio: PortfolioConfig) -> None:
        super().__init__(source)
        self.portfolio = PortfolioManager(portfolio)
        self._pending: ExecutionPlan | None = None
        self._plan_used = False
        self._last_bar_ms = -1
        self._orders: dict[str, OrderState] = {}
        self._last_trade_pnl: float | None = None

    def sync(self, closed: Sequence[Candle]) -> None:
        """Run the PortfolioManager over every closed bar after the pending decision's bar."""
        for candle in closed:
            if candle.open_ms <= self._last_bar_ms:
                continue
            self._last_bar_ms = candle.open_ms
            plan = self._pending
            self._last_trade_pnl = None
            if plan is None or candle.open_ms <= plan.bar_open_ms:
                continue
            pm = self.portfolio
            before, trades_before = pm.position_qty, len(pm.trades)
            pm.process_bar(
                candle.open_ms,
                candle.open,
                candle.high,
                candle.low,
                candle.close,
                plan.target_exposure,
                plan.stop_loss_pct,
                plan.take_profit_pct,
                plan.size_fraction,
                # only the first bar after a decision places orders; later ones hold it (env.decision_every)
                new_decision=not self._plan_used,
            )
            self._plan_used = True
            self._last_trade_pnl = self.portfolio.last_trade_pnl
            self._record(plan, candle, before, trades_before)

    def _record(self, plan: ExecutionPlan, candle: Candle, before: float, trades_before: int) -> None:
        pm = self.portfolio
        delta = pm.position_qty - before
        closed = pm.trades[trades_before:]
        if not delta and not closed:
            return
        leg = f"{plan.client_prefix}-{candle.open_ms // 1000:x}"
        price = closed[-1].exit_price if closed and not pm.position_qty else pm.entry_price
        size = abs(delta) if delta else sum(t.qty for t in closed)
        side: OrderSide = "buy" if delta > 0 or (not delta and closed and closed[-1].side == "short") else "sell"
        self._orders[leg] = OrderState(leg, leg, side, size, size, price, "closed")
        for trade in closed:
            logger.info(
                "Dry run: trade closed %s %.8g at %.8g (%s), pnl %.8g",
                trade.side,
                trade.qty,
                trade.exit_price,
                trade.exit_reason,
                trade.pnl,
            )

    def fetch_account(self, mark_price: float) -> AccountState:
        """The simulated account (marked at the last processed close, as the env)."""
        pm = self.portfolio
        stop = pm.stop_loss_price if abs(pm.stop_loss_price) != float("inf") else 0.0
        take = pm.take_profit_price if abs(pm.take_profit_price) != float("inf") else 0.0
        return AccountState(
            pm.equity,
            pm.cash,
            pm.position_qty,
            pm.entry_price,
            pm.unrealized_pnl,
            mark_price,
            max(stop, 0.0),
            max(take, 0.0),
            has_trade_stats=True,
            drawdown=pm.drawdown,
            bars_in_position=pm.bars_in_position,
            last_trade_pnl=self._last_trade_pnl,
            limit_orders=pm.limit_orders,
            limit_fills=pm.limit_fills,
        )

    def execute(self, plan: ExecutionPlan, last_exposure: float) -> list[OrderState]:
        """Keep the decision; it is filled inside the next bar by :meth:`sync`."""
        self._pending = plan
        self._plan_used = False
        return []

    def drain_fills(self) -> list[OrderState]:
        """Simulated fills since the last call (for the state store)."""
        orders = list(self._orders.values())
        self._orders.clear()
        return orders
