"""The single-asset env's observation and info read off the account and the DBE in one compiled call.

:func:`observe_account` runs at the end of every step inside :func:`bot.env.step_kernel.run_bars`, and at reset
through its native entry point (:class:`bot.env.step_kernel.EnvKernels`).
"""

from __future__ import annotations

from typing import Any

from numba import njit, types

from bot.dbe import kernel as dbe_kernel
from bot.env import decisions, portfolio_obs, rewards, spaces
from bot.env.decisions import PEAK, REFERENCE
from bot.env.portfolio_obs import fill_portfolio_observation
from bot.kernel_cache import drop_stale_caches
from bot.portfolio import fill_kernel
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
AccountInfo = tuple[float, float, float, float, float, float, float, int, float, int]


@njit(cache=True)
def observe_account(out: Any, s: Any, d: Any, refs: Any, scales: Any) -> AccountInfo:
    """Write the ``portfolio`` observation of the account ``s`` (a :class:`~bot.portfolio.account.Account`'s
    ``state``) and the DBE ``d`` (a :class:`~bot.dbe.DynamicBehaviorEngine`'s ``state``) into ``out`` with
    :func:`~bot.env.portfolio_obs.fill_portfolio_observation`, its log return and drawdown measured from ``refs``
    (:attr:`~bot.env.decisions.ObservationReferences.values`), ``scales`` float64 [3] being
    :attr:`~bot.env.portfolio_obs.PortfolioObservation.scales`, and return what the info dict reads of them:
    ``(equity, exposure, position_qty, fees_paid, slippage_paid, funding_paid, traded_notional, n_trades, drawdown,
    dbe_mode)``, as their attributes say.
    """
    equity = s[EQUITY]
    peak = refs[PEAK]
    cash = s[WALLET] - s[QTY] * s[ENTRY] if s[IS_SPOT] != 0.0 else s[WALLET]
    dbe_mode = int(d[dbe_kernel.MODE])
    fill_portfolio_observation(
        out,
        equity,
        refs[REFERENCE],
        s[UNREALIZED],
        cash,
        s[EXPOSURE],
        int(s[BARS]),
        1.0 - equity / peak if equity < peak else 0.0,
        dbe_mode,
        d[dbe_kernel.SL],
        d[dbe_kernel.TP],
        d[dbe_kernel.SIZE],
        scales[0],
        scales[1],
        scales[2],
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
        dbe_mode,
    )


#: the argument types the env passes to :func:`observe_account`
OBSERVE_ARGS = (types.float32[::1], *(types.float64[::1],) * 4)


# numba checks only this file: an edit of the observation (or of the bounds it compiles in) or of the account's or
# the DBE's slots recompiles this one
drop_stale_caches(observe_account, (portfolio_obs, rewards, spaces, fill_kernel, dbe_kernel, decisions))
