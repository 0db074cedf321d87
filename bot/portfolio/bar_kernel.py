"""One bar of the single-asset account as one compiled (numba) call: funding, gap liquidation, the order, stops, marks.

:meth:`bot.portfolio.manager.PortfolioManager.process_bar` documents the contract and calls :func:`process_bar`;
the state array, the event log and the rounding rules are those of :mod:`bot.portfolio.fill_kernel`.
:class:`~bot.env.TradingEnv` calls :func:`process_bar` from its compiled step (:mod:`bot.env.step_kernel`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from bot.kernel_cache import drop_stale_caches
from bot.portfolio import fees, fill_kernel
from bot.portfolio.fill_kernel import (
    ADVERSE,
    BARS,
    DRAWDOWN,
    ENTRY,
    EQUITY,
    EV_STOP,
    EV_TAKE,
    EXPOSURE,
    FUNDING_EPOCH,
    FUNDING_INTERVAL_MS,
    FUNDING_RATE,
    IS_SPOT,
    LAST_CLOSE,
    LAST_EXPOSURE,
    LAST_PNL,
    LAST_REASON,
    LEVERAGE,
    LIMIT,
    LIMIT_FILLS,
    LIMIT_OFFSET,
    LIMIT_ORDERS,
    LIQ,
    LOT,
    MAKER,
    MAX_BAR_RECORDS,
    MAX_EXPOSURE,
    MAX_HOLD,
    MAX_HOLDING,
    MIN_NOTIONAL,
    N_EVENTS,
    N_RECORD_COLS,
    N_RECORDS,
    PEAK,
    PENDING,
    QTY,
    RANGE_FRAC,
    RECORDS_AT,
    REPOST,
    SIGNAL,
    SLIP_FRAC,
    STOP,
    STOP_LOSS,
    TAKE,
    TAKE_PROFIT,
    TAKER,
    UNREALIZED,
    WALLET,
    close_at_market,
    close_position,
    event,
    floor_to_step,
    liquidate,
    open_position,
    pay_funding,
    reduce_position,
)

#: Relative safety margin on spot buys so that float rounding never leaves the quote balance below 0.
SPOT_CASH_EPS = 1e-12
#: bits of the flags :func:`process_bar` returns first: a trade closed in the bar; events to log; the records need
#: room before the next bar; the exposure was refused (nothing changed)
CLOSED, EVENTS, GROW, REFUSED = 1, 2, 4, 8


@njit(cache=True)
def _order_target(s: Any, raw_target: float, side: int, fill: float, fee_rate: float) -> tuple[float, bool]:
    """The lot-rounded target quantity of an order at ``fill``, and whether the order should be sent.

    A spot buy is capped to what the quote balance pays (fee included); an order below ``min_notional`` is skipped
    unless it closes the position.
    """
    qty = s[QTY]
    lot = s[LOT]
    target = floor_to_step(raw_target, lot)
    if s[IS_SPOT] != 0.0 and side > 0:
        cash = s[WALLET] - qty * s[ENTRY]
        room = floor_to_step(cash / (fill * (1.0 + fee_rate)) * (1.0 - SPOT_CASH_EPS), lot)
        capped = qty + room
        if capped < target:
            target = capped
    if (target - qty) * side <= 0.0:
        return target, False
    if target != 0.0 and abs(target - qty) * fill < s[MIN_NOTIONAL]:
        return target, False
    return target, True


@njit(cache=True)
def _execute(
    s: Any,
    time_ms: int,
    target: float,
    fill: float,
    slip: float,
    sl_pct: float,
    tp_pct: float,
    fee_rate: float,
) -> None:
    """Move the position to ``target`` at ``fill``: close, reverse (close then open at the same price) or resize."""
    qty = s[QTY]
    if qty != 0.0 and (target == 0.0 or (target > 0.0) != (qty > 0.0)):
        close_position(s, time_ms, fill, slip, SIGNAL, False, fee_rate)
        if target != 0.0:
            open_position(s, time_ms, target, fill, slip, sl_pct, tp_pct, fee_rate)
    elif abs(target) > abs(qty):
        open_position(s, time_ms, target, fill, slip, sl_pct, tp_pct, fee_rate)
    else:
        reduce_position(s, target, fill, slip, fee_rate)


@njit(cache=True)
def _rebalance(
    s: Any,
    time_ms: int,
    open_: float,
    high: float,
    low: float,
    exposure: float,
    sl_pct: float,
    tp_pct: float,
) -> None:
    """Market order at this bar's open toward ``exposure``: slippage against the trader, taker fee."""
    qty = s[QTY]
    equity = s[WALLET] + qty * (open_ - s[ENTRY])
    if equity <= 0.0:
        exposure = 0.0
    raw = exposure * equity / open_
    if raw == qty:
        return
    slip = s[SLIP_FRAC] * open_ + s[RANGE_FRAC] * (high - low)
    if raw > qty:
        side = 1
        fill = open_ + slip
    else:
        side = -1
        fill = open_ - slip
    if fill <= 0.0:
        return
    taker = s[TAKER]
    target, send = _order_target(s, exposure * equity / fill, side, fill, taker)
    if send:
        _execute(s, time_ms, target, fill, slip, sl_pct, tp_pct, taker)


@njit(cache=True)
def _rebalance_limit(
    s: Any,
    time_ms: int,
    open_: float,
    high: float,
    low: float,
    exposure: float,
    sl_pct: float,
    tp_pct: float,
) -> bool:
    """Post-only limit order at the decision bar's close -/+ ``limit_offset``, resting through this bar.

    It fills at its limit price, with the maker fee and no slippage, only when this bar trades THROUGH the price
    (a buy needs ``low < price``, a sell ``high > price``: a touch is not a fill).

    :return: True when the order filled or no order was needed; False when it was placed and did not fill.
    """
    ref = s[LAST_CLOSE] if s[LAST_CLOSE] > 0.0 else open_
    qty = s[QTY]
    equity = s[WALLET] + qty * (ref - s[ENTRY])
    if equity <= 0.0:
        exposure = 0.0
    raw = exposure * equity / ref
    if raw == qty:
        return True
    side = 1 if raw > qty else -1
    price = ref * (1.0 - s[LIMIT_OFFSET]) if side > 0 else ref * (1.0 + s[LIMIT_OFFSET])
    # size at the limit price: the equity the order would see when it fills there
    equity_at_fill = s[WALLET] + qty * (price - s[ENTRY])
    if equity_at_fill <= 0.0 or price <= 0.0:
        return True
    maker = s[MAKER]
    target, send = _order_target(s, exposure * equity_at_fill / price, side, price, maker)
    if not send:
        return True
    s[LIMIT_ORDERS] += 1.0
    if (side > 0 and not low < price) or (side < 0 and not high > price):
        return False
    s[LIMIT_FILLS] += 1.0
    _execute(s, time_ms, target, price, 0.0, sl_pct, tp_pct, maker)
    return True


@njit(cache=True)
def _triggers(s: Any, time_ms: int, open_: float, high: float, low: float) -> None:
    """The adverse trigger (stop loss, or liquidation when it lies before the stop), then the take profit."""
    qty = s[QTY]
    if qty > 0.0:
        adverse = low <= s[ADVERSE]
        if not adverse and not high >= s[TAKE]:
            return
        is_stop = s[STOP] >= s[LIQ]
        gapped = open_ <= s[ADVERSE] if adverse else open_ >= s[TAKE]
    elif qty < 0.0:
        adverse = high >= s[ADVERSE]
        if not adverse and not low <= s[TAKE]:
            return
        is_stop = s[STOP] <= s[LIQ]
        gapped = open_ >= s[ADVERSE] if adverse else open_ <= s[TAKE]
    else:
        return
    if adverse and not is_stop:
        liquidate(s, time_ms, open_, True)
        return
    trigger = s[STOP] if adverse else s[TAKE]
    price = open_ if gapped else trigger
    event(s, EV_STOP if adverse else EV_TAKE, qty, price, trigger, open_, 0.0)
    close_at_market(s, time_ms, price, high, low, STOP_LOSS if adverse else TAKE_PROFIT, True)


@njit(cache=True)
def process_bar(
    s: Any,
    time_ms: int,
    open_: float,
    high: float,
    low: float,
    close: float,
    target_exposure: float,
    stop_loss_pct: float,
    take_profit_pct: float,
    size_fraction: float,
    new_decision: bool,
) -> tuple[int, float, float, float, float, float]:
    """One bar of :meth:`~bot.portfolio.manager.PortfolioManager.process_bar` (its docstring has the contract).

    :return: ``(flags, equity, drawdown, exposure, position_qty, last_trade_pnl)`` after the bar: ``flags`` holds
        :data:`CLOSED` (``last_trade_pnl`` is the PnL of the last trade closed in the bar; NaN without one),
        :data:`EVENTS`, :data:`GROW` and :data:`REFUSED` (the exposure is out of range: nothing was changed).
    """
    if s[IS_SPOT] != 0.0:
        target = 0.0 if target_exposure < 0.0 else (1.0 if target_exposure > 1.0 else target_exposure)
        exposure = target * size_fraction
    else:
        exposure = target_exposure * size_fraction * s[LEVERAGE]
    if not (-s[MAX_EXPOSURE] <= exposure <= s[MAX_EXPOSURE]) or not size_fraction >= 0.0:
        return REFUSED, s[EQUITY], s[DRAWDOWN], s[EXPOSURE], s[QTY], s[LAST_PNL]
    s[N_EVENTS] = 0.0
    s[LAST_REASON] = -1.0
    s[LAST_PNL] = np.nan
    qty = s[QTY]
    if s[FUNDING_RATE] != 0.0:
        epoch = time_ms // FUNDING_INTERVAL_MS
        if epoch != s[FUNDING_EPOCH]:
            if qty != 0.0 and s[FUNDING_EPOCH] >= 0:
                pay_funding(s, open_, epoch - s[FUNDING_EPOCH])
            s[FUNDING_EPOCH] = epoch
    gap_liquidated = False
    if (qty > 0.0 and open_ <= s[LIQ]) or (qty < 0.0 and open_ >= s[LIQ]):
        liquidate(s, time_ms, open_, False)
        gap_liquidated = True

    if gap_liquidated:
        s[PENDING] = 0.0
        s[LAST_EXPOSURE] = exposure
    elif new_decision or (s[PENDING] != 0.0 and s[REPOST] != 0.0):
        if exposure != s[LAST_EXPOSURE] or (exposure != 0.0 and s[QTY] == 0.0):
            if s[LIMIT] != 0.0:
                filled = _rebalance_limit(s, time_ms, open_, high, low, exposure, stop_loss_pct, take_profit_pct)
                s[PENDING] = 0.0 if filled else 1.0
                if filled:
                    s[LAST_EXPOSURE] = exposure
            else:
                _rebalance(s, time_ms, open_, high, low, exposure, stop_loss_pct, take_profit_pct)
                s[LAST_EXPOSURE] = exposure
        else:
            s[PENDING] = 0.0

    _triggers(s, time_ms, open_, high, low)

    if s[QTY] != 0.0:
        s[BARS] += 1.0
        if s[MAX_HOLD] != 0.0 and s[BARS] >= s[MAX_HOLD]:
            close_at_market(s, time_ms, close, high, low, MAX_HOLDING, False)

    qty = s[QTY]
    upnl = qty * (close - s[ENTRY])
    equity = s[WALLET] + upnl
    s[UNREALIZED] = upnl
    s[EQUITY] = equity
    s[LAST_CLOSE] = close
    if equity >= s[PEAK]:
        s[PEAK] = equity
        s[DRAWDOWN] = 0.0
    else:
        s[DRAWDOWN] = 1.0 - equity / s[PEAK]
    exposure_now = qty * close / equity if equity > 0.0 else 0.0
    s[EXPOSURE] = exposure_now
    flags = 0
    if s[LAST_REASON] >= 0:
        flags = CLOSED
    if s[N_EVENTS] != 0.0:
        flags |= EVENTS
    if (s.shape[0] - RECORDS_AT) // N_RECORD_COLS - s[N_RECORDS] < MAX_BAR_RECORDS:
        flags |= GROW
    return flags, equity, s[DRAWDOWN], exposure_now, qty, s[LAST_PNL]


# numba checks only this file: an edit of the fill primitives or the lot rounding recompiles the bar
drop_stale_caches(process_bar, (fees, fill_kernel))
