"""Account state of the simulated portfolio: wallet, one position, fills, the trade log and the liquidation price.

Accounting (linear contracts; a spot account is the same with ``qty >= 0`` and leverage 1)::

    wallet      = initial_cash + realized_pnl - fees_paid - funding_paid
    unrealized  = position_qty * (mark - entry_price)
    equity      = wallet + unrealized
    cash        = wallet                               (perpetual: margin balance)
                = wallet - position_qty * entry_price  (spot: quote balance, >= 0)

``realized_pnl`` is the gross price PnL of reducing fills at their fill prices, so slippage is inside it (and inside
``unrealized_pnl`` through the entry fill price); ``slippage_paid`` reports that cost on its own. When a close would
leave the wallet below 0 (a liquidation gap), the deficit is written back into ``realized_pnl`` (the exchange's
insurance fund absorbs it) so that equity is floored at 0 and the identity stays exact. With these definitions
``sum(t.pnl for t in trades) + open_trade_pnl - funding_paid == equity - initial_cash``.

The state lives in the arrays of the compiled kernels (:mod:`bot.portfolio.fill_kernel` names their slots); the
attributes read them as plain Python floats and ints.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

import numpy as np
import numpy.typing as npt

from bot.config import PortfolioConfig
from bot.portfolio import fill_kernel as fk
from bot.portfolio.trade import EXIT_REASONS, ExitReason, Trade, trade_of_record

logger = logging.getLogger(__name__)
# the stop, take-profit and liquidation lines keep the logger they always had
_manager_logger = logging.getLogger("bot.portfolio.manager")

_INF = float("inf")
T = TypeVar("T")


class _Slot(Generic[T]):
    """A read-only attribute: one slot of the account's state (``Account.state``) as a Python ``kind``."""

    def __init__(self, index: int, kind: Callable[[float], T], doc: str) -> None:
        self.index = index
        self.kind = kind
        self.__doc__ = doc

    @overload
    def __get__(self, obj: None, owner: Any = None) -> _Slot[T]: ...
    @overload
    def __get__(self, obj: Account, owner: Any = None) -> T: ...
    def __get__(self, obj: Account | None, owner: Any = None) -> T | _Slot[T]:
        return self if obj is None else self.kind(obj.state.item(self.index))


class Account:
    """Wallet, position and trade log in the compiled kernels' state array; :class:`~bot.portfolio.PortfolioManager`
    drives them.

    Read-only state, plain Python floats and ints: ``equity``, ``position_qty`` (signed, base asset),
    ``entry_price``, ``unrealized_pnl``, ``realized_pnl``, ``fees_paid`` (>= 0), ``slippage_paid`` (>= 0),
    ``funding_paid`` (signed: < 0 when funding was received), ``exposure`` (signed notional / equity),
    ``drawdown`` (1 - equity / peak), ``peak_equity``, ``n_trades``, ``wins``, ``losses``, ``bars_in_position``,
    ``is_liquidated`` (sticky until reset), ``last_exit_reason`` and ``last_trade_pnl`` (the last trade closed during
    the last bar, ``""`` / None when none), ``stop_loss_price``, ``take_profit_price``, ``liquidation_price``
    (+-inf when disabled or flat), ``traded_notional``, ``limit_orders``, ``limit_fills``, ``trades`` and
    ``bars_held`` (the closed trades' ``bars_held``, summed).

    :param cfg: the portfolio section of the config.
    """

    __slots__ = ("_built", "_initial_cash", "_is_spot", "_leverage", "_max_exposure", "_trades", "cfg", "state")

    equity = _Slot(fk.EQUITY, float, "Equity at the last mark (quote).")
    position_qty = _Slot(fk.QTY, float, "Signed position (base asset).")
    entry_price = _Slot(fk.ENTRY, float, "Average entry fill price of the position (0 when flat).")
    unrealized_pnl = _Slot(fk.UNREALIZED, float, "Unrealised PnL at the last mark.")
    realized_pnl = _Slot(fk.REALIZED, float, "Gross price PnL of every reducing fill (slippage inside).")
    fees_paid = _Slot(fk.FEES_PAID, float, "Every fee paid (quote).")
    slippage_paid = _Slot(fk.SLIPPAGE_PAID, float, "Slippage paid (quote, >= 0), already inside the PnL.")
    funding_paid = _Slot(fk.FUNDING_PAID, float, "Funding paid (quote, signed: < 0 when received).")
    traded_notional = _Slot(fk.TRADED, float, "Notional of every fill (quote).")
    exposure = _Slot(fk.EXPOSURE, float, "Signed notional / equity at the last mark.")
    drawdown = _Slot(fk.DRAWDOWN, float, "1 - equity / peak equity.")
    peak_equity = _Slot(fk.PEAK, float, "Highest equity marked since the reset.")
    stop_loss_price = _Slot(fk.STOP, float, "Stop-loss trigger price (+-inf when disabled or flat).")
    take_profit_price = _Slot(fk.TAKE, float, "Take-profit trigger price (+-inf when disabled or flat).")
    liquidation_price = _Slot(fk.LIQ, float, "Liquidation price (-inf when flat or on spot).")
    wallet = _Slot(fk.WALLET, float, "Realised balance: ``initial_cash + realized_pnl - fees_paid - funding_paid``.")
    n_trades = _Slot(fk.N_TRADES, int, "Trades closed since the reset.")
    wins = _Slot(fk.WINS, int, "Closed trades with a PnL > 0.")
    losses = _Slot(fk.LOSSES, int, "Closed trades with a PnL <= 0.")
    bars_in_position = _Slot(fk.BARS, int, "Bars the position has been held (0 when flat).")
    limit_orders = _Slot(fk.LIMIT_ORDERS, int, "Limit orders placed.")
    limit_fills = _Slot(fk.LIMIT_FILLS, int, "Limit orders filled.")
    bars_held = _Slot(fk.BARS_HELD, int, "Bars held by the trades closed since the reset, summed.")

    def __init__(self, cfg: PortfolioConfig) -> None:
        self.cfg = cfg
        self._is_spot = cfg.market == "spot"
        self._leverage = 1.0 if self._is_spot else float(cfg.leverage)
        self._max_exposure = 1.0 if self._is_spot else float(cfg.max_leverage)
        self._initial_cash = float(cfg.initial_cash)
        #: the array the kernels of :mod:`bot.portfolio.bar_kernel` take first (slots named in
        #: :mod:`bot.portfolio.fill_kernel`): the state, the event rows and room for 256 closed trades; a bar whose
        #: flags hold ``GROW`` replaces it by a larger one (read it again after such a bar)
        self.state: npt.NDArray[np.float64] = np.zeros(fk.RECORDS_AT + 256 * fk.N_RECORD_COLS)
        f = self.state
        f[fk.IS_SPOT] = float(self._is_spot)
        f[fk.LEVERAGE] = self._leverage
        f[fk.MAX_EXPOSURE] = self._max_exposure
        f[fk.SLIP_FRAC] = cfg.slippage_bps / 1e4
        f[fk.RANGE_FRAC] = cfg.slippage_range_frac
        f[fk.TAKER] = float(cfg.taker_fee)
        f[fk.MAKER] = float(cfg.maker_fee)
        f[fk.LIMIT] = float(cfg.order_type == "limit")
        f[fk.LIMIT_OFFSET] = float(cfg.limit_offset)
        f[fk.REPOST] = float(cfg.limit_unfilled == "repost")
        f[fk.MM] = float(cfg.maintenance_margin)
        f[fk.FUNDING_RATE] = 0.0 if self._is_spot else float(cfg.funding_rate_8h)
        f[fk.LOT] = float(cfg.lot_step)
        f[fk.MIN_NOTIONAL] = float(cfg.min_notional)
        f[fk.MAX_HOLD] = int(cfg.max_holding_bars)
        self._trades: list[Trade] = []
        self._built = 0
        self.reset()

    # ------------------------------------------------------------------------------------------------ state

    def reset(self, reference_price: float = 0.0) -> None:
        """Start a new episode: initial cash, flat, empty trade log, counters at 0.

        :param reference_price: the close of the bar before the first processed bar (the first decision's price,
            where a limit order is placed); 0 = unknown, the first bar's open stands in.
        """
        f = self.state
        f[: fk.IS_SPOT] = 0.0
        f[[fk.WALLET, fk.EQUITY, fk.PEAK]] = self._initial_cash
        f[[fk.STOP, fk.LIQ, fk.ADVERSE]] = -_INF
        f[fk.TAKE] = _INF
        f[fk.LAST_CLOSE] = float(reference_price)
        f[fk.LAST_PNL] = np.nan
        f[fk.N_TRADES : fk.MAX_HOLD] = 0.0
        f[[fk.FUNDING_EPOCH, fk.LAST_REASON]] = -1.0
        self._trades = []
        self._built = 0

    @property
    def initial_cash(self) -> float:
        """Starting balance (quote)."""
        return self._initial_cash

    @property
    def cash(self) -> float:
        """Perpetual: the margin balance (wallet). Spot: the quote balance, ``wallet - qty * entry_price``."""
        f = self.state
        if self._is_spot:
            return f.item(fk.WALLET) - f.item(fk.QTY) * f.item(fk.ENTRY)
        return f.item(fk.WALLET)

    @property
    def is_bankrupt(self) -> bool:
        """True when equity at the last mark is <= 0."""
        return self.state.item(fk.EQUITY) <= 0.0

    @property
    def is_liquidated(self) -> bool:
        """True once the account was liquidated (sticky until reset)."""
        return self.state.item(fk.LIQUIDATED) != 0.0

    @property
    def open_trade_pnl(self) -> float:
        """Net PnL of the open position so far: partial realisations + unrealised PnL - its fees (0 when flat)."""
        f = self.state
        return f.item(fk.POS_REALIZED) + f.item(fk.UNREALIZED) - f.item(fk.POS_FEES)

    @property
    def last_trade_pnl(self) -> float | None:
        """Net PnL of the last trade closed during the last bar (None when none closed)."""
        return None if self.state.item(fk.LAST_REASON) < 0.0 else self.state.item(fk.LAST_PNL)

    @property
    def last_exit_reason(self) -> ExitReason | str:
        """Exit reason of the last trade closed during the last bar (``""`` when none closed)."""
        reason = int(self.state.item(fk.LAST_REASON))
        return "" if reason < 0 else EXIT_REASONS[reason]

    @property
    def trades(self) -> list[Trade]:
        """The closed :class:`~bot.portfolio.trade.Trade` objects since the reset, in the order they closed."""
        n = int(self.state.item(fk.N_RECORDS))
        if self._built < n:
            self._trades.extend(trade_of_record(row) for row in self._records(self._built, n))
            self._built = n
        return self._trades

    # ------------------------------------------------------------------------------------------------ after a bar

    def _records(self, start: int, stop: int) -> list[list[float]]:
        """Closed-trade records ``start`` to ``stop`` (excluded) as lists of their ``R_*`` columns."""
        at, width = fk.RECORDS_AT, fk.N_RECORD_COLS
        rows: list[list[float]] = self.state[at + start * width : at + stop * width].reshape(-1, width).tolist()
        return rows

    def _grow_records(self) -> None:
        """Double the room for closed trades (the bar asks while the room left still holds one more bar's)."""
        s = self.state
        self.state = np.concatenate([s, np.zeros(s.shape[0] - fk.RECORDS_AT)])

    def _log_events(self) -> None:
        """Log the last bar's events in the order they happened, with the messages of each fill and trigger."""
        n, width = int(self.state.item(fk.N_EVENTS)), fk.N_EVENT_COLS
        events = self.state[fk.EVENTS_AT : fk.EVENTS_AT + n * width].tolist()
        for i in range(0, n * width, width):
            kind, a, b, c, d = events[i : i + 5]
            if kind == fk.EV_OPENED:
                if logger.isEnabledFor(logging.INFO):
                    logger.info(
                        "Trade opened %s %.8g at %.8g (stop loss %.8g, take profit %.8g)",
                        "long" if a > 0.0 else "short",
                        abs(a),
                        b,
                        c,
                        d,
                    )
            elif kind == fk.EV_CLOSED:
                if logger.isEnabledFor(logging.INFO):
                    t = trade_of_record(self._records(int(a), int(a) + 1)[0])
                    msg = "Trade closed %s %.8g at %.8g, pnl %.8g, reason %s"
                    logger.info(msg, t.side, t.qty, t.exit_price, t.pnl, t.exit_reason)
            elif kind == fk.EV_INCREASED:
                logger.debug("Position increased to %.8g at %.8g (average entry %.8g)", a, b, c)
            elif kind == fk.EV_REDUCED:
                logger.debug("Position reduced to %.8g at %.8g (realised %.8g)", a, b, c)
            elif kind == fk.EV_FUNDING:
                logger.debug("Funding %.8g paid on %.8g at %.8g", a, b, c)
            elif kind == fk.EV_LIQUIDATED:
                _manager_logger.info(
                    "Liquidation of %s %.8g at %.8g (liquidation price %.8g), equity left %.8g",
                    "long" if a > 0.0 else "short",
                    abs(a),
                    b,
                    c,
                    d,
                )
            else:
                _manager_logger.info(
                    "Stop loss hit %s %.8g at %.8g (stop %.8g, open %.8g)"
                    if kind == fk.EV_STOP
                    else "Take profit hit %s %.8g at %.8g (target %.8g, open %.8g)",
                    "long" if a > 0.0 else "short",
                    abs(a),
                    b,
                    c,
                    d,
                )
