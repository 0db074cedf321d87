"""One bar of the basket account as one compiled (numba) call: funding, margin checks, orders, fills, stops, marks.

:meth:`bot.portfolio.basket.BasketPortfolio.process_bar` documents the contract and calls :func:`process_bar`; the
state arrays and the rounding rules are those of :mod:`bot.portfolio.basket_kernel`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from bot.kernel_cache import drop_stale_caches
from bot.portfolio import basket_kernel, basket_orders, fees, manager
from bot.portfolio.basket_kernel import (
    BAR_RECORDS,
    BARS,
    CASH,
    DRAWDOWN,
    ENTRY,
    EQUITY,
    EXPOSURE,
    FEES,
    FEES_PAID,
    FUNDING,
    FUNDING_EPOCH,
    FUNDING_PAID,
    FUNDING_RATE,
    GROSS,
    IS_SPOT,
    LAST_EXPOSURE,
    LEVERAGE,
    LIMIT,
    MARK,
    MAX_GROSS,
    MAX_HOLD,
    MAX_HOLDING,
    MM,
    N_EVENTS,
    N_RECORDS,
    NOTIONAL,
    NOTIONAL_PAID,
    PEAK,
    QTY,
    REPOST,
    SLIPPAGE,
    SLIPPAGE_PAID,
    STOP,
    STOP_LOSS,
    STOPS_ARMED,
    TAKE,
    TAKE_PROFIT,
    WALLET,
    Flag,
    close_at_market,
    dot,
    liquidate,
    total,
)
from bot.portfolio.basket_orders import rebalance_limit, rebalance_market
from bot.portfolio.manager import FUNDING_INTERVAL_MS

#: Relative slack on the gross-exposure cap, for weights that sum to the cap up to float rounding.
GROSS_EPS = 1e-9
#: :func:`process_bar` results: done; refused (nothing changed) for weights above the gross cap or NaN, or for a bar
#: with a close but a NaN open, high or low
OK, GROSS_ABOVE_CAP, PARTIAL_BAR = 0, 1, 2


@njit(cache=True)
def _stops(s: Any, time_ms: int, priced: Any, o: Any, h: Any, lo: Any) -> None:
    """Stop loss, then take profit, of every position inside this bar (the stop first when both could hit)."""
    f, _k, _pending, _acct, _cnt, _rec, _ev, _rules, _params = s
    n = f.shape[1]
    stop_hit = np.zeros(n, np.bool_)
    tp_hit = np.zeros(n, np.bool_)
    stop_price = np.empty(n)
    tp_price = np.empty(n)
    any_stop = any_tp = False
    for i in range(n):
        q = f[QTY, i]
        long = q > 0.0
        short = q < 0.0
        stop = f[STOP, i]
        take = f[TAKE, i]
        if priced[i] and ((long and lo[i] <= stop) or (short and h[i] >= stop)):
            stop_hit[i] = any_stop = True
            # a gap through the trigger fills at the open
            stop_price[i] = o[i] if (o[i] <= stop if long else o[i] >= stop) else stop
        elif priced[i] and ((long and h[i] >= take) or (short and lo[i] <= take)):
            tp_hit[i] = any_tp = True
            tp_price[i] = o[i] if (o[i] >= take if long else o[i] <= take) else take
    if any_stop:
        close_at_market(s, stop_hit, time_ms, stop_price, h, lo, np.int64(STOP_LOSS), np.bool_(True))
    if any_tp:
        close_at_market(s, tp_hit, time_ms, tp_price, h, lo, np.int64(TAKE_PROFIT), np.bool_(True))


@njit(cache=True)
def _intrabar_liquidation(s: Any, time_ms: int, o: Any, h: Any, lo: Any) -> None:
    """Liquidate the account where the proportional adverse move meets the maintenance margin.

    The adverse extremes (the low of every long, the high of every short) are assumed to happen together, in
    proportion: the account is closed at ``open + lam * (extreme - open)`` for the ``lam`` in [0, 1] where equity
    meets the margin.
    """
    f, _k, _pending, acct, _cnt, _rec, _ev, _rules, params = s
    n = f.shape[1]
    qty = f[QTY]
    mm = params[MM]
    adverse = np.empty(n)
    size = np.empty(n)
    for i in range(n):
        adverse[i] = (lo[i] if qty[i] > 0.0 else h[i]) - o[i]
        size[i] = abs(qty[i])
    a = (acct[WALLET] + (dot(qty, o) - dot(qty, f[ENTRY]))) - mm * dot(size, o)
    b = dot(qty, adverse) - mm * dot(size, adverse)
    if a + b > 0.0:
        return
    if a <= 0.0:
        lam = 0.0
    else:
        x = -a / b
        lam = x if x < 1.0 else 1.0
    prices = np.empty(n)
    for i in range(n):
        prices[i] = o[i] + lam * adverse[i]
    liquidate(s, time_ms, prices, np.bool_(True))


@njit(cache=True)
def process_bar(
    f: Any,
    k: Any,
    pending: Any,
    acct: Any,
    cnt: Any,
    rec: Any,
    ev: Any,
    rules: Any,
    params: Any,
    time_ms: int,
    open_: Any,
    high: Any,
    low: Any,
    close: Any,
    weights: Any,
    tradable: Any,
    sl: Any,
    tp: Any,
    no_stops: Flag,
    new_decision: bool,
    rebalance: bool,
) -> int:
    """Execute, inside this bar, the weights decided at the previous close, then mark at this close.

    :return: :data:`OK`, :data:`PARTIAL_BAR` (nothing changed) for an asset with a close but a NaN open, high or low,
        or :data:`GROSS_ABOVE_CAP` (nothing changed) when the weights' gross exposure is above
        the cap or NaN.
    """
    s = (f, k, pending, acct, cnt, rec, ev, rules, params)
    n = f.shape[1]
    spot = params[IS_SPOT] != 0.0
    exposure = np.empty(n)
    size = np.empty(n)
    for i in range(n):
        w = weights[i]
        if spot:  # np.clip(w, 0.0, 1.0), NaN and -0.0 kept
            exposure[i] = 0.0 if w < 0.0 else (1.0 if w > 1.0 else w)
        else:
            exposure[i] = w * params[LEVERAGE]
        size[i] = abs(exposure[i])
    if not total(size) <= params[MAX_GROSS] * (1.0 + GROSS_EPS):
        return GROSS_ABOVE_CAP
    for i in range(n):
        if close[i] == close[i] and not (open_[i] == open_[i] and high[i] == high[i] and low[i] == low[i]):
            return PARTIAL_BAR
    cnt[BAR_RECORDS] = cnt[N_RECORDS]
    cnt[N_EVENTS] = 0
    priced = np.empty(n, np.bool_)
    can_trade = np.empty(n, np.bool_)
    o, h, lo, c = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    for i in range(n):
        priced[i] = close[i] == close[i]
        can_trade[i] = priced[i] and tradable[i]
        if priced[i]:
            o[i], h[i], lo[i], c[i] = open_[i], high[i], low[i], close[i]
        else:
            o[i] = h[i] = lo[i] = c[i] = f[MARK, i]
    qty = f[QTY]
    rate = params[FUNDING_RATE]
    if rate != 0.0:
        epoch = time_ms // FUNDING_INTERVAL_MS
        if epoch != cnt[FUNDING_EPOCH]:
            if cnt[FUNDING_EPOCH] >= 0:
                payment = np.empty(n)
                for i in range(n):
                    payment[i] = qty[i] * o[i] * (rate * (epoch - cnt[FUNDING_EPOCH]))
                    f[FUNDING, i] += payment[i]
                acct[WALLET] -= total(payment)
            cnt[FUNDING_EPOCH] = epoch
    held_any = False
    for i in range(n):
        held_any |= qty[i] != 0.0
    # the equity at the open, shared by the margin check and the market orders (no fill in between)
    equity_open = acct[WALLET] + (dot(qty, o) - dot(qty, f[ENTRY]))
    if not spot and held_any and equity_open <= params[MM] * dot(np.abs(qty), o):
        liquidate(s, time_ms, o, np.bool_(False))
        pending[:] = False
        f[LAST_EXPOSURE] = exposure
    elif new_decision or (params[REPOST] != 0.0 and pending.any()):
        consider = np.empty(n, np.bool_)
        for i in range(n):
            x = exposure[i]
            consider[i] = can_trade[i] and (rebalance or x != f[LAST_EXPOSURE, i] or (x != 0.0 and qty[i] == 0.0))
            if not new_decision:
                # a re-post only where a trade is still needed: an order whose target no longer needs one is
                # dropped, as the single-asset manager does (one in a gap waits)
                pending[i] &= consider[i] or not can_trade[i]
                consider[i] &= pending[i]
        if consider.any():
            if params[LIMIT] != 0.0:
                rebalance_limit(s, consider, time_ms, o, h, lo, exposure, sl, tp, no_stops)
            else:
                rebalance_market(s, consider, time_ms, o, h, lo, exposure, sl, tp, no_stops, equity_open)
            for i in range(n):
                if consider[i] and not pending[i]:
                    f[LAST_EXPOSURE, i] = exposure[i]
        elif new_decision:
            pending[:] = False

    if qty.any():
        if cnt[STOPS_ARMED]:
            _stops(s, time_ms, priced, o, h, lo)
        if not spot and qty.any():
            _intrabar_liquidation(s, time_ms, o, h, lo)
        expired = np.zeros(n, np.bool_)
        any_expired = False
        for i in range(n):
            if qty[i] != 0.0:
                k[BARS, i] += 1
                if params[MAX_HOLD] > 0.0 and priced[i] and k[BARS, i] >= params[MAX_HOLD]:
                    expired[i] = any_expired = True
        if any_expired:
            close_at_market(s, expired, time_ms, c, h, lo, np.int64(MAX_HOLDING), np.bool_(False))
    f[MARK] = c
    mark_account(f, acct, params)
    return OK


@njit(cache=True)
def mark_account(f: Any, acct: Any, params: Any) -> None:
    """Equity, peak, drawdown and exposures at the marks, and the account totals the env reads every step."""
    n = f.shape[1]
    qty = f[QTY]
    basis = dot(qty, f[ENTRY])
    equity = acct[WALLET] + (dot(qty, f[MARK]) - basis)
    acct[EQUITY] = equity
    if equity >= acct[PEAK]:
        acct[PEAK] = equity
        acct[DRAWDOWN] = 0.0
    else:
        acct[DRAWDOWN] = 1.0 - equity / acct[PEAK]
    size = np.empty(n)
    for i in range(n):
        f[EXPOSURE, i] = qty[i] * f[MARK, i] / equity if equity > 0.0 else 0.0
        size[i] = abs(f[EXPOSURE, i])
    acct[CASH] = acct[WALLET] - basis if params[IS_SPOT] != 0.0 else acct[WALLET]
    acct[GROSS] = total(size)
    acct[FEES_PAID] = total(f[FEES])
    acct[SLIPPAGE_PAID] = total(f[SLIPPAGE])
    acct[FUNDING_PAID] = total(f[FUNDING])
    acct[NOTIONAL_PAID] = total(f[NOTIONAL])


# the modules whose kernels and constants these compile in (numba checks only this file)
drop_stale_caches(process_bar, [basket_kernel, basket_orders, fees, manager])
