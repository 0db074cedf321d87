"""The env's compiled entries into the single-asset bar: one bar by row of a bar table, and the account in one read.

:class:`~bot.env.TradingEnv` steps through :func:`process_row` (the bar of :func:`bot.portfolio.bar_kernel.process_bar`
read from a float64 [rows, 5] table instead of five arguments) and reads its observation and info through
:func:`account_view`, both called through their native entry points (:func:`env_calls`, held by an
:class:`EnvCalls`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from numba import njit, types

from bot.portfolio import bar_kernel, fees, fill_kernel
from bot.portfolio.bar_kernel import process_bar
from bot.portfolio.fill_kernel import (
    BARS,
    DRAWDOWN,
    ENTRY,
    EQUITY,
    EXPOSURE,
    FEES_PAID,
    FUNDING_PAID,
    IS_SPOT,
    N_TRADES,
    QTY,
    SLIPPAGE_PAID,
    TRADED,
    UNREALIZED,
    WALLET,
)
from bot.portfolio.kernel_cache import drop_stale_caches


@njit(cache=True)
def process_row(
    s: Any,
    bars: Any,
    row: int,
    target_exposure: float,
    stop_loss_pct: float,
    take_profit_pct: float,
    size_fraction: float,
    new_decision: bool,
) -> tuple[int, float, float, float, float, float]:
    """:func:`bot.portfolio.bar_kernel.process_bar` for the bar ``bars[row]`` of a float64 [rows, 5] table (open
    time in ms, exactly as a float, then open, high, low, close): the env's step passes a row index instead of five
    values."""
    bar = bars[row]
    return process_bar(
        s,
        int(bar[0]),
        bar[1],
        bar[2],
        bar[3],
        bar[4],
        target_exposure,
        stop_loss_pct,
        take_profit_pct,
        size_fraction,
        new_decision,
    )


@njit(cache=True)
def account_view(s: Any) -> tuple[float, float, float, float, float, float, float, int, float, float, float, int]:
    """What the env's observation and info read of the account after a step, in one call:
    ``(equity, exposure, position_qty, fees_paid, slippage_paid, funding_paid, traded_notional, n_trades, drawdown,
    unrealized_pnl, cash, bars_in_position)``, as the attributes of :class:`~bot.portfolio.account.Account` say."""
    cash = s[WALLET] - s[QTY] * s[ENTRY] if s[IS_SPOT] != 0.0 else s[WALLET]
    return (
        s[EQUITY],
        s[EXPOSURE],
        s[QTY],
        s[FEES_PAID],
        s[SLIPPAGE_PAID],
        s[FUNDING_PAID],
        s[TRADED],
        int(s[N_TRADES]),
        s[DRAWDOWN],
        s[UNREALIZED],
        cash,
        int(s[BARS]),
    )


#: the argument types the env passes to :func:`process_row` and :func:`account_view` (see :func:`env_calls`)
ROW_ARGS = (types.float64[::1], types.float64[:, ::1], types.int64, *(types.float64,) * 4, types.boolean)
VIEW_ARGS = (types.float64[::1],)
_env_calls: tuple[Callable[..., Any], Callable[..., Any]] | None = None


def env_calls() -> tuple[Callable[..., Any], Callable[..., Any]]:
    """:func:`process_row` and :func:`account_view` compiled (or loaded from the cache) for :data:`ROW_ARGS` and
    :data:`VIEW_ARGS`, as their native entry points: a call skips numba's dispatcher, which types every argument
    first (about 0.15 us of a 0.4 us call). The caller passes exactly these types: the account's ``state`` and a
    C-contiguous float64 [rows, 5] bar table (another array would be read as one), then Python or NumPy scalars.

    :return: ``(process_row, account_view)``, the same functions for every caller of the process.
    """
    global _env_calls
    if _env_calls is None:
        _env_calls = (process_row.compile(ROW_ARGS), account_view.compile(VIEW_ARGS))
    return _env_calls


class EnvCalls:
    """The entry points of :func:`env_calls` as attributes ``process_row`` and ``account_view``, for an object that
    is copied or pickled (an entry point is not picklable: a copy takes this process's own again)."""

    __slots__ = ("account_view", "process_row")

    def __init__(self) -> None:
        self.process_row, self.account_view = env_calls()

    def __reduce__(self) -> tuple[type[EnvCalls], tuple[()]]:
        return EnvCalls, ()


# numba checks only this file: an edit of the bar or the fills recompiles these entries
drop_stale_caches(process_row, (fees, fill_kernel, bar_kernel))
