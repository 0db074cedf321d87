"""The closed-trade record kept by the PortfolioManager's trade log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Side = Literal["long", "short"]
ExitReason = Literal["signal", "stop_loss", "take_profit", "liquidation", "max_holding"]

#: Every exit reason a :class:`Trade` can carry (``last_exit_reason`` is one of these or ``""``).
EXIT_REASONS: tuple[ExitReason, ...] = ("signal", "stop_loss", "take_profit", "liquidation", "max_holding")


@dataclass(frozen=True, slots=True)
class Trade:
    """One round trip: from the fill that opened a position (from flat) to the fill that closed it.

    Prices are fill prices, slippage included. Times are the OPEN time (UTC ms) of the bar in which the fill
    happened: a stop hit inside a bar carries that bar's open time, a max-holding exit at a bar's close too.

    :param entry_time_ms: open time of the bar whose open filled the opening order.
    :param exit_time_ms: open time of the bar in which the position was closed.
    :param side: ``"long"`` or ``"short"``.
    :param qty: largest absolute quantity (base asset) held during the trade.
    :param entry_price: volume-weighted average entry fill price at the time of the exit.
    :param exit_price: fill price of the closing fill.
    :param fees: every fee paid on the trade's fills (entry, increases, partial reductions, exit), >= 0.
    :param pnl: net PnL in quote: price PnL of every reducing fill (slippage included) minus ``fees``; funding is
        not included (it is tracked account-wide as ``funding_paid``).
    :param exit_reason: why the position was closed.
    :param bars_held: bars from the entry bar to the exit: opened at bar k's open and closed by an order (or a
        liquidation gap) at bar m's open gives ``m - k``; closed inside bar m or at its close gives ``m - k + 1``.
    """

    entry_time_ms: int
    exit_time_ms: int
    side: Side
    qty: float
    entry_price: float
    exit_price: float
    fees: float
    pnl: float
    exit_reason: ExitReason
    bars_held: int


_new_object = object.__new__
# The slot descriptors' setters: the frozen dataclass's generated __init__ sets each field through
# object.__setattr__, which costs about 1.3 us per trade, a third of a fill on the env's hot path.
(
    _set_entry_time_ms,
    _set_exit_time_ms,
    _set_side,
    _set_qty,
    _set_entry_price,
    _set_exit_price,
    _set_fees,
    _set_pnl,
    _set_exit_reason,
    _set_bars_held,
) = (
    getattr(Trade, name).__set__
    for name in (
        "entry_time_ms",
        "exit_time_ms",
        "side",
        "qty",
        "entry_price",
        "exit_price",
        "fees",
        "pnl",
        "exit_reason",
        "bars_held",
    )
)


def new_trade(
    entry_time_ms: int,
    exit_time_ms: int,
    side: Side,
    qty: float,
    entry_price: float,
    exit_price: float,
    fees: float,
    pnl: float,
    exit_reason: ExitReason,
    bars_held: int,
) -> Trade:
    """A :class:`Trade` equal to ``Trade(...)`` with the same arguments, built about twice as fast (the fill path)."""
    trade: Trade = _new_object(Trade)
    _set_entry_time_ms(trade, entry_time_ms)
    _set_exit_time_ms(trade, exit_time_ms)
    _set_side(trade, side)
    _set_qty(trade, qty)
    _set_entry_price(trade, entry_price)
    _set_exit_price(trade, exit_price)
    _set_fees(trade, fees)
    _set_pnl(trade, pnl)
    _set_exit_reason(trade, exit_reason)
    _set_bars_held(trade, bars_held)
    return trade


def trade_of_record(row: Sequence[float]) -> Trade:
    """The :class:`Trade` of a closed-trade record of the compiled kernels: entry and exit time (ms), side (> 0
    long), quantity, entry and exit price, fees, PnL, exit reason (an index into :data:`EXIT_REASONS`) and bars held,
    all as floats."""
    entry_time, exit_time, side, qty, entry, exit_price, fees, pnl, reason, bars = row
    return new_trade(
        int(entry_time),
        int(exit_time),
        "long" if side > 0.0 else "short",
        qty,
        entry,
        exit_price,
        fees,
        pnl,
        EXIT_REASONS[int(reason)],
        int(bars),
    )
