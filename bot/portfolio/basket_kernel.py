"""Compiled (numba) fill primitive of the basket account: fills, closed-trade records, liquidation, NumPy-exact sums.

The account's state lives in a few arrays that :class:`~bot.portfolio.basket_account.BasketAccount` exposes as
views: a float64 matrix ``f`` [rows, N] (one row per per-asset quantity, named by the row constants below), an int64
matrix ``k`` [2, N] (bars in position, open time of the position), the float64 account scalars ``acct``, the int64
counters ``cnt``, and ``rec``, a float64 table of closed trades (one row each, columns ``R_*``) that Python turns
into :class:`~bot.portfolio.trade.Trade` objects when they are read. ``ev`` lists the bar's events for the log:
a closed trade (its ``rec`` row), an opened position, a liquidation.

Rounding is the same, operation for operation, as the NumPy/Python accounting it replaced (whose recorded
trajectories the tests replay bit for bit): element-wise arithmetic in the same order without contraction, sums in
NumPy's order (:func:`total`: left to right from 0.0 below 8 elements, pairwise above), and dot products as fused
multiply-adds from 0.0 in index order, which is what this machine's OpenBLAS ``ddot`` computes below 16 elements
(from 16 on, OpenBLAS adds in SIMD blocks; the kernel keeps its one order, deterministic on every CPU).

Every kernel is compiled on first use and cached (``cache=True``) in ``bot/portfolio/__pycache__``: the first
process compiles (tens of seconds, announced by :mod:`bot.kernel_cache`), later ones load it (about a
second). numba checks only the cached function's own file, so each kernel module drops its cache files when this
module (or another it compiles in) is newer (:func:`~bot.kernel_cache.drop_stale_caches`): a stale copy of
these functions would otherwise stay inside the cache of their callers in :mod:`bot.portfolio.basket_bar`,
:mod:`bot.portfolio.basket_orders` and :mod:`bot.env.portfolio_spaces`. Calls
pass indices and flags as NumPy scalars so that numba compiles no per-constant (literal) variants.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from bot.kernel_cache import announce_compiles, drop_stale_caches
from bot.portfolio import fees
from bot.portfolio.fees import LOT_EPS

# say so when a cold cache makes the first call compile (every kernel module imports this one)
announce_compiles()

# rows of the float state matrix ``f``
QTY, ENTRY, MARK, REALIZED, FEES, SLIPPAGE, FUNDING, NOTIONAL, STOP, TAKE = range(10)
EXPOSURE, LAST_EXPOSURE, POS_FEES, POS_REALIZED, POS_MAX = range(10, 15)
N_FLOAT_ROWS = 15
# rows of the int state matrix ``k``
BARS, OPEN_TIME = 0, 1
# account scalars ``acct``
WALLET, EQUITY, PEAK, DRAWDOWN, CASH, GROSS, FEES_PAID, SLIPPAGE_PAID, FUNDING_PAID, NOTIONAL_PAID = range(10)
N_ACCT = 10
# counters ``cnt``
N_TRADES, WINS, LOSSES, LIMIT_ORDERS, LIMIT_FILLS, FUNDING_EPOCH, LIQUIDATED, STOPS_ARMED = range(8)
#: records written so far, the first record of the last bar, events of the last bar
N_RECORDS, BAR_RECORDS, N_EVENTS = range(8, 11)
N_CNT = 11
# rows of the rules matrix and entries of the parameter vector
LOT, MIN_NOTIONAL, TAKER, MAKER = range(4)
IS_SPOT, LEVERAGE, MAX_GROSS, SLIP_FRAC, RANGE_FRAC, MM, FUNDING_RATE, LIMIT, LIMIT_OFFSET, REPOST, MAX_HOLD = range(11)
N_PARAMS = 11
# columns of a closed-trade record
R_ASSET, R_ENTRY_TIME, R_EXIT_TIME, R_SIDE, R_QTY, R_ENTRY, R_EXIT, R_FEES, R_PNL, R_REASON, R_BARS = range(11)
N_RECORD_COLS = 11
#: exit reason codes, indices into :data:`bot.portfolio.trade.EXIT_REASONS`
SIGNAL, STOP_LOSS, TAKE_PROFIT, LIQUIDATION, MAX_HOLDING = range(5)
# event kinds (column 0 of ``ev``): a closed trade (column 1: its record), an opened position (asset, qty, fill),
# a liquidation (1.0 inside the bar else 0.0, the wallet left)
EV_CLOSED, EV_OPENED, EV_LIQUIDATED = range(3)

_INF = np.inf
#: an index or count, a Python or NumPy integer (the kernels pass NumPy ones so numba compiles no literal variants)
Int = int | np.integer[Any]
#: a flag, Python or NumPy
Flag = bool | np.bool_
#: the arrays every kernel takes first: ``(f, k, pending, acct, cnt, rec, ev, rules, params)``
State = tuple[Any, Any, Any, Any, Any, Any, Any, Any, Any]


@intrinsic
def _fma(typingctx: Any, a: Any, b: Any, c: Any) -> Any:
    """``a * b + c`` rounded once (LLVM's ``llvm.fma.f64``): the multiply-add of OpenBLAS's ``ddot``."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.fma(*args)

    return sig, codegen


@njit(cache=True)
def dot(x: Any, y: Any) -> float:
    """``x @ y`` for float64 [N] as fused multiply-adds from 0.0 in index order (see the module docstring)."""
    acc = 0.0
    for i in range(x.shape[0]):
        acc = _fma(x[i], y[i], acc)  # type: ignore[call-arg]  # numba's stub lists the typing context
    return acc


@njit(cache=True)
def _block(a: Any, lo: Int, n: int) -> float:
    """NumPy's pairwise summation of ``a[lo:lo + n]`` for ``n <= 128`` (``pairwise_sum_DOUBLE``: 8 accumulators)."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - n % 8:
        j = lo + i
        r0 += a[j]
        r1 += a[j + 1]
        r2 += a[j + 2]
        r3 += a[j + 3]
        r4 += a[j + 4]
        r5 += a[j + 5]
        r6 += a[j + 6]
        r7 += a[j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(cache=True)
def total(a: Any) -> float:
    """``float(a.sum())`` of a float64 [N] vector, bit for bit (the sign of a zero sum included).

    Above 128 elements NumPy halves the range (at a multiple of 8) and adds the two halves' sums; that recursion
    runs here on an explicit stack (numba's cache cannot reload a recursive function).
    """
    n = a.shape[0]
    if n <= 128:
        return 0.0 + _block(a, np.int64(0), n)
    los = np.empty(64, np.int64)
    sizes = np.empty(64, np.int64)
    stage = np.zeros(64, np.int64)
    left = np.empty(64)
    los[0], sizes[0], stage[0] = 0, n, 0
    depth = 1
    value = 0.0
    while depth:
        top = depth - 1
        lo, m = los[top], sizes[top]
        half = m // 2
        half -= half % 8
        if m <= 128:
            value = _block(a, lo, m)
            depth -= 1
        elif stage[top] == 0:
            stage[top] = 1
            los[depth], sizes[depth], stage[depth] = lo, half, 0
            depth += 1
        elif stage[top] == 1:
            left[top] = value
            stage[top] = 2
            los[depth], sizes[depth], stage[depth] = lo + half, m - half, 0
            depth += 1
        else:
            value = left[top] + value
            depth -= 1
    return 0.0 + value


@njit(cache=True)
def floor_lot(raw: float, lot: float) -> float:
    """``raw`` rounded toward zero to a multiple of ``lot``."""
    return np.copysign(np.floor(abs(raw) / lot + LOT_EPS) * lot, raw)


@njit(cache=True)
def _event(cnt: Any, ev: Any, kind: float, a: float, b: float, c: float) -> None:
    e = cnt[N_EVENTS]
    ev[e, 0] = kind
    ev[e, 1] = a
    ev[e, 2] = b
    ev[e, 3] = c
    cnt[N_EVENTS] = e + 1


@njit(cache=True)
def _record(
    s: Any,
    i: int,
    time_ms: int,
    price: float,
    realized: float,
    fees: float,
    reason: Int,
    in_bar: Flag,
    qty: float,
    entry: float,
) -> None:
    """Append asset ``i``'s closed trade (``qty`` and ``entry`` before the closing fill) to the records."""
    f, k, _pending, _acct, cnt, rec, ev, _rules, _params = s
    r = cnt[N_RECORDS]
    pnl = realized - fees
    rec[r, R_ASSET] = i
    rec[r, R_ENTRY_TIME] = k[OPEN_TIME, i]
    rec[r, R_EXIT_TIME] = time_ms
    rec[r, R_SIDE] = 1.0 if qty > 0.0 else -1.0
    rec[r, R_QTY] = f[POS_MAX, i]
    rec[r, R_ENTRY] = entry
    rec[r, R_EXIT] = price
    rec[r, R_FEES] = fees
    rec[r, R_PNL] = pnl
    rec[r, R_REASON] = reason
    rec[r, R_BARS] = k[BARS, i] + (1 if in_bar else 0)
    cnt[N_RECORDS] = r + 1
    cnt[N_TRADES] += 1
    if pnl > 0.0:
        cnt[WINS] += 1
    else:
        cnt[LOSSES] += 1
    _event(cnt, ev, np.float64(EV_CLOSED), np.float64(r), 0.0, 0.0)


@njit(cache=True)
def trade(
    s: Any,
    assets: Any,
    n_assets: Int,
    target: Any,
    fill: Any,
    slip: Any,
    fee_rate: Any,
    time_ms: int,
    reason: Int,
    in_bar: Flag,
    sl: Any,
    tp: Any,
    no_stops: Flag,
) -> None:
    """Move the positions of ``assets[:n_assets]`` (indices, ascending) to ``target`` at ``fill``.

    Close, reverse, reduce or increase; a reversal closes (recording the trade) and opens at the same price; fees
    are ``|target - qty| * fill * fee_rate``. ``target``, ``fill``, ``slip`` and ``fee_rate`` are float [N] (only
    the traded assets are read); ``sl``/``tp`` the stop distances, float [1] for all or [N]; ``no_stops`` (both
    given as plain floats <= 0) leaves the triggers unarmed. ``in_bar`` marks exits after the bar's open (stops,
    intrabar liquidations), whose bar counts in ``bars_held``.
    """
    f, k, _pending, acct, cnt, _rec, ev, _rules, _params = s
    n = f.shape[1]
    cash_flow = np.zeros(n)
    for j in range(n_assets):
        i = assets[j]
        q = f[QTY, i]
        e = f[ENTRY, i]
        old_entry = e
        tgt = target[i]
        price = fill[i]
        rate = fee_rate[i]
        aq = abs(q)
        at = abs(tgt)
        size = abs(tgt - q)
        notional = size * price
        fee = notional * rate
        cross = q * tgt <= 0.0 and q != 0.0
        closed = q if cross else (q - tgt if at < aq else 0.0)
        gross = closed * (price - e)
        f[REALIZED, i] += gross
        f[FEES, i] += fee
        f[SLIPPAGE, i] += size * slip[i]
        f[NOTIONAL, i] += notional
        cash_flow[i] = gross - fee
        f[POS_REALIZED, i] += gross
        f[POS_FEES, i] += fee
        held = 0.0 if cross else aq
        growing = at > held
        if growing:
            e = (held * e + (at - held) * price) / at
            long = tgt > 0.0
            if no_stops:
                f[STOP, i] = -_INF if long else _INF
                f[TAKE, i] = -f[STOP, i]
            else:
                cnt[STOPS_ARMED] = 1
                side = 1.0 if long else -1.0
                stop_pct = sl[i] if sl.shape[0] > 1 else sl[0]
                take_pct = tp[i] if tp.shape[0] > 1 else tp[0]
                f[STOP, i] = e * (1.0 - side * stop_pct) if stop_pct > 0.0 else -side * _INF
                f[TAKE, i] = e * (1.0 + side * take_pct) if take_pct > 0.0 else side * _INF
        if cross:
            open_fee = at * price * rate
            _record(s, i, time_ms, price, f[POS_REALIZED, i], f[POS_FEES, i] - open_fee, reason, in_bar, q, old_entry)
            f[POS_REALIZED, i] = 0.0
            f[POS_FEES, i] = open_fee
            f[POS_MAX, i] = 0.0
            k[BARS, i] = 0
            if tgt == 0.0:
                e = 0.0
                f[STOP, i] = -_INF
                f[TAKE, i] = _INF
        if growing and (cross or q == 0.0):
            k[BARS, i] = 0
            k[OPEN_TIME, i] = time_ms
            _event(cnt, ev, np.float64(EV_OPENED), np.float64(i), tgt, price)
        if at > f[POS_MAX, i]:
            f[POS_MAX, i] = at
        f[ENTRY, i] = e
        f[QTY, i] = tgt
    acct[WALLET] += total(cash_flow)


@njit(cache=True)
def close_at_market(s: Any, m: Any, time_ms: int, price: Any, h: Any, lo: Any, reason: Int, in_bar: Flag) -> None:
    """Close the positions in the mask ``m`` near ``price`` with slippage against the trader and the taker fee."""
    f, _k, _pending, _acct, _cnt, _rec, _ev, rules, params = s
    n = f.shape[1]
    fill = np.zeros(n)
    paid = np.zeros(n)
    assets = np.empty(n, np.int64)
    count = 0
    slip_frac, range_frac = params[SLIP_FRAC], params[RANGE_FRAC]
    for i in range(n):
        if m[i]:
            slip = slip_frac * price[i] + range_frac * (h[i] - lo[i])
            x = price[i] + (-slip if f[QTY, i] > 0.0 else slip)
            fill[i] = x if x > 0.0 or x != x else 0.0  # np.maximum(x, 0.0); a sell's fill is floored at 0
            paid[i] = abs(fill[i] - price[i])
            assets[count] = i
            count += 1
    zero = np.zeros(n)
    trade(s, assets, count, zero, fill, paid, rules[TAKER], time_ms, reason, in_bar, zero[:1], zero[:1], np.bool_(True))


@njit(cache=True)
def liquidate(s: Any, time_ms: int, prices: Any, in_bar: Flag) -> None:
    """Close every position at ``prices`` (taker fee, no slippage); a deficit goes to the insurance fund.

    The deficit (equity below 0 once everything is closed) is credited to the assets in proportion to what each lost
    in the closing fills, in their realised PnL and in the trade just recorded for each, so that the attribution and
    the trade log keep summing to the equity change.
    """
    f, _k, _pending, acct, cnt, rec, ev, rules, _params = s
    n = f.shape[1]
    before = np.empty(n)
    closed = np.zeros(n, np.bool_)
    assets = np.empty(n, np.int64)
    count = 0
    for i in range(n):
        before[i] = f[REALIZED, i] - f[FEES, i]
        if f[QTY, i] != 0.0:
            closed[i] = True
            assets[count] = i
            count += 1
    cnt[LIQUIDATED] = 1
    first = cnt[N_RECORDS]
    zero = np.zeros(n)
    trade(
        s,
        assets,
        count,
        zero,
        prices,
        zero,
        rules[TAKER],
        time_ms,
        np.int64(LIQUIDATION),
        in_bar,
        zero[:1],
        zero[:1],
        np.bool_(True),
    )
    if acct[WALLET] < 0.0:
        deficit = -acct[WALLET]
        weights = np.zeros(n)
        for i in range(n):
            if closed[i]:
                x = -((f[REALIZED, i] - f[FEES, i]) - before[i])
                weights[i] = x if x > 0.0 or x != x else 0.0
        weight_sum = total(weights)
        for i in range(n):
            if weight_sum > 0.0:
                share = deficit * (weights[i] / weight_sum)
            else:
                share = deficit * ((1.0 if closed[i] else 0.0) / max(count, 1))
            f[REALIZED, i] += share
            if closed[i]:
                for r in range(first, cnt[N_RECORDS]):
                    if rec[r, R_ASSET] == i:
                        rec[r, R_PNL] += share
        acct[WALLET] = 0.0
    _event(cnt, ev, np.float64(EV_LIQUIDATED), 1.0 if in_bar else 0.0, acct[WALLET], 0.0)


# numba checks this file itself; the constants it compiles in come from here
drop_stale_caches(dot, [fees])
