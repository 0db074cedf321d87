"""Orders of the basket's bar (numba): market and post-only limit rebalances toward the target exposures, their
admission (direction, ``min_notional``) and, on spot, sells before buys scaled down to the cash left.

Called by :func:`bot.portfolio.basket_bar.process_bar`; state and rounding as in :mod:`bot.portfolio.basket_kernel`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from bot.kernel_cache import drop_stale_caches
from bot.portfolio import basket_kernel, fees
from bot.portfolio.basket_kernel import (
    ENTRY,
    IS_SPOT,
    LIMIT_FILLS,
    LIMIT_OFFSET,
    LIMIT_ORDERS,
    LOT,
    MAKER,
    MARK,
    MIN_NOTIONAL,
    QTY,
    RANGE_FRAC,
    SIGNAL,
    SLIP_FRAC,
    TAKER,
    WALLET,
    Flag,
    Int,
    dot,
    floor_lot,
    total,
    trade,
)

#: Relative safety margin on spot buys so that float rounding never leaves the quote balance below 0.
SPOT_CASH_EPS = 1e-12


@njit(cache=True)
def _admissible(rules: Any, i: int, qty: float, target: float, side: float, fill: float) -> bool:
    """Asset ``i``'s order is worth sending: it moves the right way and reaches ``min_notional`` unless it closes."""
    change = target - qty
    return change * side > 0.0 and (target == 0.0 or abs(change) * fill >= rules[MIN_NOTIONAL, i])


@njit(cache=True)
def _send(
    s: Any,
    orders: Any,
    n_orders: Int,
    qty: Any,
    target: Any,
    side: Any,
    fill: Any,
    slip: Any,
    fee_rate: Any,
    time_ms: int,
    sl: Any,
    tp: Any,
    no_stops: Flag,
) -> None:
    """Execute the admissible ``orders[:n_orders]`` (ascending; ``qty`` the positions before them); on spot, sells
    first, then buys scaled down to the cash left."""
    f, _k, _pending, acct, _cnt, _rec, _ev, rules, params = s
    n = f.shape[1]
    m = np.empty(n, np.int64)
    count = 0
    for j in range(n_orders):
        i = orders[j]
        if _admissible(rules, i, qty[i], target[i], side[i], fill[i]):
            m[count] = i
            count += 1
    if params[IS_SPOT] == 0.0:
        if count:
            trade(
                s, m, count, target, fill, slip, fee_rate, time_ms, np.int64(SIGNAL), np.bool_(False), sl, tp, no_stops
            )
        return
    sells = np.empty(n, np.int64)
    buys = np.empty(n, np.int64)
    n_sells = n_buys = 0
    for j in range(count):
        i = m[j]
        if side[i] < 0.0:
            sells[n_sells] = i
            n_sells += 1
        elif side[i] > 0.0:
            buys[n_buys] = i
            n_buys += 1
    if n_sells:
        trade(
            s,
            sells,
            n_sells,
            target,
            fill,
            slip,
            fee_rate,
            time_ms,
            np.int64(SIGNAL),
            np.bool_(False),
            sl,
            tp,
            no_stops,
        )
    if not n_buys:
        return
    # a sell never touches a buy's asset: ``qty`` still holds the buys' positions
    outlay = np.zeros(n)
    for j in range(n_buys):
        i = buys[j]
        outlay[i] = (target[i] - qty[i]) * fill[i] * (1.0 + fee_rate[i])
    cost = total(outlay)
    cash = acct[WALLET] - dot(f[QTY], f[ENTRY])
    if cost > cash:
        scale = (0.0 if cash < 0.0 else cash) / cost * (1.0 - SPOT_CASH_EPS)
        target = target.copy()
        kept = 0
        for j in range(n_buys):
            i = buys[j]
            target[i] = qty[i] + floor_lot((target[i] - qty[i]) * scale, rules[LOT, i])
            if _admissible(rules, i, qty[i], target[i], side[i], fill[i]):
                buys[kept] = i
                kept += 1
        n_buys = kept
    if n_buys:
        trade(
            s, buys, n_buys, target, fill, slip, fee_rate, time_ms, np.int64(SIGNAL), np.bool_(False), sl, tp, no_stops
        )


@njit(cache=True)
def rebalance_market(
    s: Any,
    consider: Any,
    time_ms: int,
    o: Any,
    h: Any,
    lo: Any,
    exposure: Any,
    sl: Any,
    tp: Any,
    no_stops: Flag,
    equity: float,
) -> None:
    """Market orders at this bar's open toward ``exposure``; ``equity`` is the account's equity at the opens."""
    f, _k, _pending, _acct, _cnt, _rec, _ev, rules, params = s
    n = f.shape[1]
    qty = f[QTY].copy()
    target = qty.copy()
    side = np.zeros(n)
    fill = np.zeros(n)
    slip = np.zeros(n)
    orders = np.empty(n, np.int64)
    count = 0
    for i in range(n):
        if not consider[i]:
            continue
        want = 0.0 if equity <= 0.0 else exposure[i]
        price = o[i]
        sign = 1.0 if want * equity > qty[i] * price else -1.0
        side[i] = sign
        cost = params[SLIP_FRAC] * price + params[RANGE_FRAC] * (h[i] - lo[i])
        slip[i] = cost
        fill[i] = price + sign * cost
        if fill[i] > 0.0:
            target[i] = floor_lot(want * equity / fill[i], rules[LOT, i])
            orders[count] = i
            count += 1
    _send(s, orders, np.int64(count), qty, target, side, fill, slip, rules[TAKER], time_ms, sl, tp, no_stops)


@njit(cache=True)
def rebalance_limit(
    s: Any, consider: Any, time_ms: int, o: Any, h: Any, lo: Any, exposure: Any, sl: Any, tp: Any, no_stops: Flag
) -> None:
    """Post-only limit orders at the decision close -/+ ``limit_offset``, resting through this bar; ``pending``
    keeps the placed orders that did not fill."""
    f, _k, pending, acct, cnt, _rec, _ev, rules, params = s
    n = f.shape[1]
    qty = f[QTY].copy()
    ref = np.empty(n)
    for i in range(n):
        ref[i] = f[MARK, i] if f[MARK, i] > 0.0 else o[i]
    equity = acct[WALLET] + (dot(qty, ref) - dot(qty, f[ENTRY]))
    target = qty.copy()
    side = np.empty(n)
    price = np.empty(n)
    placed = np.zeros(n, np.bool_)
    filled = np.empty(n, np.int64)
    n_placed = n_filled = 0
    for i in range(n):
        want = 0.0 if equity <= 0.0 else exposure[i]
        side[i] = 1.0 if want * equity > qty[i] * ref[i] else -1.0
        price[i] = ref[i] * (1.0 - side[i] * params[LIMIT_OFFSET])
        if not (consider[i] and price[i] > 0.0):
            continue
        # size at the limit price: the equity the order would see when it fills there (the other assets at ref)
        at_fill = equity + qty[i] * (price[i] - ref[i])
        if not at_fill > 0.0:
            continue
        target[i] = floor_lot(want * at_fill / price[i], rules[LOT, i])
        if _admissible(rules, i, qty[i], target[i], side[i], price[i]):
            placed[i] = True
            n_placed += 1
            if lo[i] < price[i] if side[i] > 0.0 else h[i] > price[i]:
                filled[n_filled] = i
                n_filled += 1
                placed[i] = False
    cnt[LIMIT_ORDERS] += n_placed
    cnt[LIMIT_FILLS] += n_filled
    _send(s, filled, np.int64(n_filled), qty, target, side, price, np.zeros(n), rules[MAKER], time_ms, sl, tp, no_stops)
    pending[:] = placed


# the modules whose kernels and constants these compile in (numba checks only this file)
drop_stale_caches(rebalance_market, [basket_kernel, fees])
