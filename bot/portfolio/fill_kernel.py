"""Compiled (numba) state and fill primitives of the single-asset account: open, increase, reduce, close, funding.

The account of :class:`~bot.portfolio.account.Account` lives in one float64 array ``s`` that the kernels of this
module and of :mod:`bot.portfolio.bar_kernel` update in place (one array: each array argument of a compiled call
costs about 40 ns to pass, on a path that runs every env step), in slots named by the constants below:

- the float state (``QTY`` .. ``LAST_PNL``) and the config's float parameters (``IS_SPOT`` .. ``MIN_NOTIONAL``,
  written once);
- the counters and other integers (``N_TRADES`` .. ``MAX_HOLD``), held exactly as floats (all below 2**53): the
  position's bar count and open time, the pending limit order, the last funding period, the last bar's exit reason,
  the records and events written, the ``max_holding_bars`` parameter;
- from :data:`EVENTS_AT`, the last bar's events for the log, :data:`MAX_EVENTS` rows of :data:`N_EVENT_COLS` (kind,
  then up to five values), logged by Python only when its logger is enabled;
- from :data:`RECORDS_AT` to the end, one row of :data:`N_RECORD_COLS` per closed trade (columns ``R_*``), turned
  into :class:`~bot.portfolio.trade.Trade` objects only when ``trades`` is read. Python grows the array when the bar
  says that the rows left might not hold the next bar's trades.

Every operation is the one of the pure-Python account it replaced, in the same order and without contraction
(no fastmath), so every trajectory is bit for bit the same. The kernels are cached (``cache=True``) in
``bot/portfolio/__pycache__``; :mod:`bot.kernel_cache` announces a cold compile and drops the caches that
are older than a module they compile in.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from bot.kernel_cache import announce_compiles, drop_stale_caches
from bot.portfolio import fees

# say so when a cold cache makes the first call compile
announce_compiles()

#: Perpetual funding interval: 8 hours in milliseconds (funding at 00:00, 08:00 and 16:00 UTC).
FUNDING_INTERVAL_MS = 8 * 3_600_000

# the float state
QTY, ENTRY, WALLET, EQUITY, PEAK, DRAWDOWN, EXPOSURE, UNREALIZED, REALIZED = range(9)
FEES_PAID, SLIPPAGE_PAID, FUNDING_PAID, TRADED, STOP, TAKE, LIQ, ADVERSE = range(9, 17)
#: the open position's fees, realised PnL and largest size; the exposure last executed, the last close (the next
#: limit price's base), the PnL of the last trade closed in the last bar
POS_FEES, POS_REALIZED, POS_MAX, LAST_EXPOSURE, LAST_CLOSE, LAST_PNL = range(17, 23)
# the config's float parameters (flags are 0.0 / 1.0)
IS_SPOT, LEVERAGE, MAX_EXPOSURE, SLIP_FRAC, RANGE_FRAC, TAKER, MAKER, LIMIT = range(23, 31)
LIMIT_OFFSET, REPOST, MM, FUNDING_RATE, LOT, MIN_NOTIONAL = range(31, 37)
# integers: counters, the position's bars and open time, the pending limit order (0 / 1), the funding period last
# seen (-1: none), the liquidation flag, the last bar's exit reason (-1: none), records and events written, the bars
# held by the closed trades (summed), and the ``max_holding_bars`` parameter
N_TRADES, WINS, LOSSES, BARS, OPEN_TIME, LIMIT_ORDERS, LIMIT_FILLS, PENDING = range(37, 45)
FUNDING_EPOCH, LIQUIDATED, LAST_REASON, N_RECORDS, N_EVENTS, BARS_HELD, MAX_HOLD = range(45, 52)
#: the scalars end here (the state before the events and records)
N_SCALARS = 52
# event kinds (column 0 of an event row) and their values: funding (payment, qty, price), opened (qty, fill, stop,
# take), increased (qty, fill, entry), reduced (qty, fill, realised), closed (its record), stop loss and take profit
# hit (qty, price, trigger, open), liquidation (qty, price, liquidation price, wallet left)
EV_FUNDING, EV_OPENED, EV_INCREASED, EV_REDUCED, EV_CLOSED, EV_STOP, EV_TAKE, EV_LIQUIDATED = range(8)
N_EVENT_COLS = 6
#: the most events one bar writes (funding, a reversal's close and open, a stop's notice and close) with room
MAX_EVENTS = 8
EVENTS_AT = N_SCALARS
# columns of a closed-trade record (side: +1.0 long, -1.0 short; reason: an index into trade.EXIT_REASONS)
R_ENTRY_TIME, R_EXIT_TIME, R_SIDE, R_QTY, R_ENTRY, R_EXIT, R_FEES, R_PNL, R_REASON, R_BARS = range(10)
N_RECORD_COLS = 10
RECORDS_AT = EVENTS_AT + MAX_EVENTS * N_EVENT_COLS
#: the most trades one bar closes (a reversal or gap liquidation, then a stop): records kept free before a bar
MAX_BAR_RECORDS = 2
#: exit reason codes, indices into :data:`bot.portfolio.trade.EXIT_REASONS`
SIGNAL, STOP_LOSS, TAKE_PROFIT, LIQUIDATION, MAX_HOLDING = range(5)

_INF = np.inf

#: :func:`bot.portfolio.fees.floor_to_step` compiled from its own source (the lot rounding of every order)
floor_to_step = njit(cache=True)(fees.floor_to_step)


@njit(cache=True)
def event(s: Any, kind: int, a: float, b: float, c: float, d: float, e: float) -> None:
    """Append one event of the bar to the event rows."""
    n = s[N_EVENTS]
    at = EVENTS_AT + int(n) * N_EVENT_COLS
    s[at] = kind
    s[at + 1] = a
    s[at + 2] = b
    s[at + 3] = c
    s[at + 4] = d
    s[at + 5] = e
    s[N_EVENTS] = n + 1.0


@njit(cache=True)
def set_flat(s: Any) -> None:
    """No position: no stops, no liquidation price, the position's sums at 0."""
    s[QTY] = 0.0
    s[ENTRY] = 0.0
    s[BARS] = 0.0
    s[STOP] = -_INF
    s[TAKE] = _INF
    s[LIQ] = -_INF
    s[ADVERSE] = -_INF
    s[POS_FEES] = 0.0
    s[POS_REALIZED] = 0.0
    s[POS_MAX] = 0.0
    s[OPEN_TIME] = 0.0


@njit(cache=True)
def update_liquidation(s: Any) -> None:
    """Recompute the liquidation price and the adverse trigger after any change of position or wallet.

    :func:`bot.portfolio.margin.liquidation_price` with the same arithmetic; the adverse trigger is whichever of the
    stop and the liquidation price the price reaches first.
    """
    qty = s[QTY]
    if s[IS_SPOT] != 0.0:
        liq = -_INF
    elif qty > 0.0:
        liq = (qty * s[ENTRY] - s[WALLET]) / (qty * (1.0 - s[MM]))
    else:
        liq = (qty * s[ENTRY] - s[WALLET]) / (qty * (1.0 + s[MM]))
    s[LIQ] = liq
    stop = s[STOP]
    if qty > 0.0:
        s[ADVERSE] = stop if stop >= liq else liq
    else:
        s[ADVERSE] = stop if stop <= liq else liq


@njit(cache=True)
def open_position(
    s: Any,
    time_ms: int,
    target: float,
    fill: float,
    slip: float,
    sl_pct: float,
    tp_pct: float,
    fee_rate: float,
) -> None:
    """Open from flat, or increase, to ``target`` (same sign as the position) at ``fill``, paying ``fee_rate``."""
    qty = s[QTY]
    added = abs(target - qty)
    s[TRADED] += added * fill
    fee = added * fill * fee_rate
    s[FEES_PAID] += fee
    s[SLIPPAGE_PAID] += added * slip
    s[WALLET] -= fee
    s[POS_FEES] += fee
    entry = (abs(qty) * s[ENTRY] + added * fill) / abs(target)
    s[QTY] = target
    s[ENTRY] = entry
    if abs(target) > s[POS_MAX]:
        s[POS_MAX] = abs(target)
    if target > 0.0:
        s[STOP] = entry * (1.0 - sl_pct) if sl_pct > 0.0 else -_INF
        s[TAKE] = entry * (1.0 + tp_pct) if tp_pct > 0.0 else _INF
    else:
        s[STOP] = entry * (1.0 + sl_pct) if sl_pct > 0.0 else _INF
        s[TAKE] = entry * (1.0 - tp_pct) if tp_pct > 0.0 else -_INF
    update_liquidation(s)
    if qty == 0.0:
        s[OPEN_TIME] = time_ms
        s[BARS] = 0.0
        event(s, EV_OPENED, target, fill, s[STOP], s[TAKE], 0.0)
    else:
        event(s, EV_INCREASED, target, fill, entry, 0.0, 0.0)


@njit(cache=True)
def reduce_position(s: Any, target: float, fill: float, slip: float, fee_rate: float) -> None:
    """Partially reduce the position to ``target`` (same sign, smaller size) at ``fill``, paying ``fee_rate``."""
    reduced = s[QTY] - target
    gross = reduced * (fill - s[ENTRY])
    s[TRADED] += abs(reduced) * fill
    fee = abs(reduced) * fill * fee_rate
    s[REALIZED] += gross
    s[FEES_PAID] += fee
    s[SLIPPAGE_PAID] += abs(reduced) * slip
    s[WALLET] += gross - fee
    s[POS_REALIZED] += gross
    s[POS_FEES] += fee
    s[QTY] = target
    update_liquidation(s)
    event(s, EV_REDUCED, target, fill, gross, 0.0, 0.0)


@njit(cache=True)
def close_position(s: Any, time_ms: int, fill: float, slip: float, reason: int, in_bar: bool, fee_rate: float) -> None:
    """Close the whole position at ``fill``, record the trade and go flat.

    ``in_bar`` is True for exits after this bar's open (stops, take profits, intrabar liquidations): the exit bar
    then counts in ``bars_held``, which ``bars_in_position`` only counts at the bar's end. A close that would leave
    the wallet below 0 (a liquidation gap) floors it at 0 and writes the deficit back into the realised PnL (the
    exchange's insurance fund absorbs it).
    """
    qty = s[QTY]
    size = abs(qty)
    gross = qty * (fill - s[ENTRY])
    s[TRADED] += size * fill
    fee = size * fill * fee_rate
    s[FEES_PAID] += fee
    s[SLIPPAGE_PAID] += size * slip
    s[REALIZED] += gross
    s[WALLET] += gross - fee
    pos_realized = s[POS_REALIZED] + gross
    if s[WALLET] < 0.0:
        deficit = -s[WALLET]
        s[WALLET] = 0.0
        s[REALIZED] += deficit
        pos_realized += deficit
    trade_fees = s[POS_FEES] + fee
    pnl = pos_realized - trade_fees
    n = s[N_RECORDS]
    at = RECORDS_AT + int(n) * N_RECORD_COLS
    s[at + R_ENTRY_TIME] = s[OPEN_TIME]
    s[at + R_EXIT_TIME] = time_ms
    s[at + R_SIDE] = 1.0 if qty > 0.0 else -1.0
    s[at + R_QTY] = s[POS_MAX]
    s[at + R_ENTRY] = s[ENTRY]
    s[at + R_EXIT] = fill
    s[at + R_FEES] = trade_fees
    s[at + R_PNL] = pnl
    s[at + R_REASON] = reason
    bars_held = s[BARS] + 1.0 if in_bar else s[BARS]
    s[at + R_BARS] = bars_held
    s[BARS_HELD] += bars_held
    s[N_RECORDS] = n + 1.0
    s[N_TRADES] += 1.0
    if pnl > 0.0:
        s[WINS] += 1.0
    else:
        s[LOSSES] += 1.0
    s[LAST_PNL] = pnl
    s[LAST_REASON] = reason
    set_flat(s)
    event(s, EV_CLOSED, n, 0.0, 0.0, 0.0, 0.0)


@njit(cache=True)
def close_at_market(s: Any, time_ms: int, price: float, high: float, low: float, reason: int, in_bar: bool) -> None:
    """Close at ``price`` with slippage against the trader (a sell's fill floored at 0) and the taker fee."""
    slip = s[SLIP_FRAC] * price + s[RANGE_FRAC] * (high - low)
    if s[QTY] > 0.0:
        fill = price - slip
        if not fill > 0.0:
            fill = 0.0
    else:
        fill = price + slip
    # the slippage actually paid: a sell's fill price is floored at 0
    close_position(s, time_ms, fill, abs(fill - price), reason, in_bar, s[TAKER])


@njit(cache=True)
def liquidate(s: Any, time_ms: int, open_: float, in_bar: bool) -> None:
    """Close at the liquidation price (or at the open when it gapped through), taker fee, no slippage."""
    liq = s[LIQ]
    qty = s[QTY]
    if qty > 0.0:
        price = open_ if open_ < liq else liq
    else:
        price = open_ if open_ > liq else liq
    s[LIQUIDATED] = 1.0
    close_position(s, time_ms, price, 0.0, LIQUIDATION, in_bar, s[TAKER])
    event(s, EV_LIQUIDATED, qty, price, liq, s[WALLET], 0.0)


@njit(cache=True)
def pay_funding(s: Any, price: float, n_periods: int) -> None:
    """Longs pay, shorts receive ``funding_rate_8h * notional`` per funding time crossed."""
    payment = s[QTY] * price * s[FUNDING_RATE] * n_periods
    s[FUNDING_PAID] += payment
    s[WALLET] -= payment
    update_liquidation(s)
    event(s, EV_FUNDING, payment, s[QTY], price, 0.0, 0.0)


# an edit of the lot rounding drops this module's compiled copies (numba checks only this file)
drop_stale_caches(event, (fees,))
