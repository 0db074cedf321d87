"""The single-asset env's compiled calls: the bar by row, and the observation and info read off the account at once.

:class:`~bot.env.TradingEnv` calls both through their native entry points (:class:`EnvKernels`), without numba's
dispatcher: two calls a step that each cost less than half of a dispatched one with as many arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from numba import njit, types

from bot.env import portfolio_obs, rewards, spaces
from bot.env.portfolio_obs import fill_portfolio_observation
from bot.kernel_cache import drop_stale_caches, entry_point
from bot.portfolio import bar_kernel, fill_kernel
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

#: what :func:`observe_account` returns: the info dict's account figures
AccountInfo = tuple[float, float, float, float, float, float, float, int, float]


@njit(cache=True)
def observe_account(
    out: Any,
    s: Any,
    initial_equity: float,
    peak: float,
    dbe_mode: int,
    stop_loss_pct: float,
    take_profit_pct: float,
    size_fraction: float,
    time_scale: float,
    sl_scale: float,
    tp_scale: float,
) -> AccountInfo:
    """Write the ``portfolio`` observation of the account ``s`` (a :class:`~bot.portfolio.account.Account`'s
    ``state``) into ``out`` with :func:`~bot.env.portfolio_obs.fill_portfolio_observation`, its drawdown measured
    from ``peak`` (:class:`~bot.env.decisions.ObservationReferences`), and return what the info dict reads of the
    account: ``(equity, exposure, position_qty, fees_paid, slippage_paid, funding_paid, traded_notional, n_trades,
    drawdown)``, as the account's attributes say.
    """
    equity = s[EQUITY]
    cash = s[WALLET] - s[QTY] * s[ENTRY] if s[IS_SPOT] != 0.0 else s[WALLET]
    fill_portfolio_observation(
        out,
        equity,
        initial_equity,
        s[UNREALIZED],
        cash,
        s[EXPOSURE],
        int(s[BARS]),
        1.0 - equity / peak if equity < peak else 0.0,
        dbe_mode,
        stop_loss_pct,
        take_profit_pct,
        size_fraction,
        time_scale,
        sl_scale,
        tp_scale,
    )
    return (
        equity,
        s[EXPOSURE],
        s[QTY],
        s[FEES_PAID],
        s[SLIPPAGE_PAID],
        s[FUNDING_PAID],
        s[TRADED],
        int(s[N_TRADES]),
        s[DRAWDOWN],
    )


#: the argument types the env passes to :func:`observe_account`
OBSERVE_ARGS = (types.float32[::1], types.float64[::1], *(types.float64,) * 2, types.int64, *(types.float64,) * 6)


class EnvKernels:
    """The native entry points of :func:`bot.portfolio.bar_kernel.process_row` and :func:`observe_account`, as
    attributes ``process_row`` and ``observe_account``. An entry point does not pickle: a copied or unpickled holder
    takes this process's own again."""

    __slots__ = ("observe_account", "process_row")

    def __init__(self) -> None:
        self.process_row: Callable[..., tuple[int, float, float, float, float, float]] = entry_point(
            bar_kernel.process_row, bar_kernel.ROW_ARGS
        )
        self.observe_account: Callable[..., AccountInfo] = entry_point(observe_account, OBSERVE_ARGS)

    def __reduce__(self) -> tuple[type[EnvKernels], tuple[()]]:
        return EnvKernels, ()


# numba checks only this file: an edit of the observation (or of the bounds it compiles in) or of the account's
# slots recompiles this one
drop_stale_caches(observe_account, (portfolio_obs, rewards, spaces, fill_kernel))
