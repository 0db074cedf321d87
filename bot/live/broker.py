"""The ``Broker`` protocol and the plain records that cross it (candles, account, orders, execution plans).

Two brokers implement it: :class:`~bot.live.ccxt_broker.CcxtBroker` (Bybit through a ccxt client from
:mod:`bot.exchange`) and :class:`~bot.live.dry_run.DryRunBroker` (fills locally with the env's
PortfolioManager). The trader talks to either through this protocol only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

OrderSide = Literal["buy", "sell"]
#: Client-id prefix of orders the exchange placed itself (position stop-loss / take-profit, liquidation) or that were
#: made by hand: they carry no ``orderLinkId`` of ours, so they are named ``exchange-<order id>``.
EXCHANGE_PREFIX = "exchange-"
OrderStatus = Literal["open", "closed", "canceled", "rejected"]
OrderType = Literal["market", "limit"]


@dataclass(frozen=True, slots=True)
class MarketRules:
    """Trading rules of the traded symbol, read from the exchange's market list.

    :param symbol: ccxt symbol (``BTC/USDT:USDT`` = linear perpetual, ``BTC/USDT`` = spot).
    :param is_spot: True for spot (long only, no exchange-side position).
    :param qty_step: quantity step, base asset.
    :param min_qty: smallest order quantity, base asset.
    :param min_notional: smallest order value, quote.
    :param tick_size: price step, quote.
    :param base: base currency code (``BTC``).
    :param quote: quote currency code (``USDT``).
    """

    symbol: str
    is_spot: bool
    qty_step: float
    min_qty: float
    min_notional: float
    tick_size: float
    base: str
    quote: str


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV bar; ``open_ms`` is its OPEN time (UTC ms)."""

    open_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class AccountState:
    """Balance and position of the traded symbol, marked at ``mark_price``.

    :param equity: quote value of the account (wallet + unrealised PnL; spot: quote + base x price).
    :param cash: perpetual: wallet (margin) balance; spot: free quote balance.
    :param position_qty: signed base quantity (> 0 long, < 0 short).
    :param entry_price: average entry price (0 when flat).
    :param unrealized_pnl: position_qty x (mark - entry).
    :param mark_price: the price used for marking.
    :param stop_loss: exchange-side stop-loss price of the position (0 = none).
    :param take_profit: exchange-side take-profit price (0 = none).
    :param has_trade_stats: True when the broker keeps the env's per-trade statistics itself (the dry run); then
        ``drawdown``, ``bars_in_position`` and ``last_trade_pnl`` are exact and the trader uses them as they are.
    :param drawdown: 1 - equity / peak equity.
    :param bars_in_position: bars the current position has been held.
    :param last_trade_pnl: net PnL of the trade closed during the last bar, None when none closed.
    :param limit_orders: limit orders the broker placed so far (the dry run's simulator counts them itself).
    :param limit_fills: those of them that filled.
    """

    equity: float
    cash: float
    position_qty: float
    entry_price: float
    unrealized_pnl: float
    mark_price: float
    stop_loss: float = 0.0
    take_profit: float = 0.0
    has_trade_stats: bool = False
    drawdown: float = 0.0
    bars_in_position: int = 0
    last_trade_pnl: float | None = None
    limit_orders: int = 0
    limit_fills: int = 0


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order to send: a market order, or a post-only limit order when ``limit_price`` is set.

    :param client_id: Bybit ``orderLinkId``, deterministic per run, bar and leg (so a retry is idempotent).
    :param side: ``buy`` or ``sell``.
    :param qty: base quantity, already rounded to the market's step.
    :param reduce_only: True for a leg that only closes or reduces the position.
    :param stop_loss: stop-loss trigger price attached to the position, or None.
    :param take_profit: take-profit trigger price, or None.
    :param limit_price: price of a post-only limit order (on the market's tick), None for a market order.
    """

    client_id: str
    side: OrderSide
    qty: float
    reduce_only: bool = False
    stop_loss: float | None = None
    take_profit: float | None = None
    limit_price: float | None = None


@dataclass(frozen=True, slots=True)
class OrderState:
    """An order as the broker reports it (after create, fetch or reconciliation).

    :param error: why the order was refused (insufficient funds, invalid order); empty otherwise.
    :param time_ms: when the exchange created it, UTC ms (0 when unknown).
    :param trigger: what made the exchange place it (``StopLoss``, ``TakeProfit`` ...); '' for the bot's own orders.
    :param order_type: ``market`` or ``limit``.
    :param price: a limit order's price (0 for market orders).
    """

    client_id: str
    order_id: str
    side: OrderSide
    qty: float
    filled: float
    average_price: float
    status: OrderStatus
    fee: float = 0.0
    reduce_only: bool = False
    error: str = ""
    time_ms: int = 0
    trigger: str = ""
    order_type: OrderType = "market"
    price: float = 0.0


@dataclass(frozen=True, slots=True)
class ExecutionPlan:
    """The decision taken at the close of bar ``bar_open_ms``, to be executed from the next bar's open.

    :param bar_open_ms: OPEN time of the bar whose close the decision was taken at.
    :param target_exposure: the policy's target exposure in [-1, 1] (spot: [0, 1]).
    :param size_fraction: the DBE's size fraction in [0, 1].
    :param stop_loss_pct: stop distance, fraction of price (<= 0: none).
    :param take_profit_pct: take-profit distance, fraction of price (<= 0: none).
    :param reference_price: the close of that bar (sizing and SL/TP prices for live orders).
    :param client_prefix: prefix of the legs' client order ids (``<run tag>-<bar>``); legs append ``-<n>``.
    :param limit_offset: None for market orders; else the legs are post-only limit orders at ``reference_price``
        minus (buys) or plus (sells) this fraction (``portfolio.order_type: limit``).
    """

    bar_open_ms: int
    target_exposure: float
    size_fraction: float
    stop_loss_pct: float
    take_profit_pct: float
    reference_price: float
    client_prefix: str
    limit_offset: float | None = None

    @classmethod
    def flatten(cls, bar_open_ms: int, reference_price: float, tag: str) -> ExecutionPlan:
        """Close the position with market orders (a kill switch's or an outage's give-up)."""
        return cls(bar_open_ms, 0.0, 1.0, 0.0, 0.0, reference_price, client_prefix(tag, bar_open_ms))


def run_tag(checkpoint: str | Path, symbol: str, timeframe: str) -> str:
    """Stable 8-hex tag of a trading run (checkpoint folder name + symbol + timeframe) for client order ids."""
    text = f"{Path(checkpoint).resolve().name}|{symbol}|{timeframe}"
    return "bot" + hashlib.sha256(text.encode()).hexdigest()[:8]


def client_prefix(tag: str, bar_open_ms: int) -> str:
    """The client order id prefix of a bar's orders, ``<run tag>-<bar open s, hex>``: a redo of the bar after a
    crash sends the same ids, so the exchange (and the reconciliation) knows what was already sent."""
    return f"{tag}-{bar_open_ms // 1000:x}"


class MarketSource(Protocol):
    """Market data of one symbol: the exchange clock, candles and trading rules."""

    @property
    def rules(self) -> MarketRules:
        """Trading rules of the symbol."""
        ...

    def probe(self) -> None:
        """One unretried request, so that an exchange that cannot be reached fails the start at once.

        :raises BrokerError: naming the URL and the cause when the exchange cannot be reached.
        """
        ...

    def fetch_time_ms(self) -> int:
        """The exchange clock, UTC ms."""
        ...

    def fetch_candles(self, timeframe: str, since_ms: int | None, limit: int) -> list[Candle]:
        """Candles oldest first (the still-forming bar included when the exchange returns it)."""
        ...


class Broker(MarketSource, Protocol):
    """Market data plus execution for one symbol; see the module docstring for the implementations."""

    name: str

    def prepare(self) -> None:
        """One-time setup before the first bar (e.g. the position leverage on the exchange)."""
        ...

    def sync(self, closed: Sequence[Candle]) -> None:
        """Observe newly closed base bars (the dry-run broker executes its pending decision inside them)."""
        ...

    def drain_fills(self) -> list[OrderState]:
        """Orders the broker filled on its own since the last call (the dry run's simulated fills)."""
        ...

    def fetch_account(self, mark_price: float) -> AccountState:
        """Balance and position marked at ``mark_price``."""
        ...

    def execute(self, plan: ExecutionPlan, last_exposure: float) -> list[OrderState]:
        """Move the position toward the plan's target; ``last_exposure`` is the previous bar's requested exposure."""
        ...

    def find_order(self, client_id: str) -> OrderState | None:
        """The order with this client id, or None when the exchange has none."""
        ...

    def finish_limit_order(self, client_id: str, plan: ExecutionPlan | None) -> OrderState | None:
        """End a resting limit order after the bar it rested through: cancel what is left open and return its final
        state (None when the exchange has no such order). When it opened or added to a position that has no stop
        yet, the stops of ``plan`` are set on the position from its fill price."""
        ...

    def open_orders(self) -> list[OrderState]:
        """Orders of the symbol that are still open on the exchange."""
        ...

    def history(self, since_ms: int) -> list[OrderState]:
        """Every order of the symbol the exchange created since ``since_ms`` (UTC ms), fills from its executions,
        oldest first; orders without a client id of ours are named ``exchange-<order id>``."""
        ...

    def close(self) -> None:
        """Release connections (idempotent)."""
        ...
