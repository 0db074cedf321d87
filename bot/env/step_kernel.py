"""One :class:`~bot.env.TradingEnv` step as one compiled (numba) call: bar after bar the account's bar, the DBE's
update, the log-return reward and the bar's record, then the observation references, the ``portfolio``
observation and the info's figures, without going back to Python in between.

:func:`run_bars` stops early only where Python has work: a bar whose account events are to be logged (when the
portfolio loggers are enabled), whose trade records need more room, whose exposure the account refused, or whose DBE
update changed the mode (its log line). The env then settles that bar and calls again for the rest of the step. The
arithmetic is the Python step's, operation for operation, so every trajectory is bit for bit the same
(``benchmarks/env_digest.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from numba import njit, types

from bot.dbe import kernel as dbe_kernel
from bot.env import account_obs, decisions, rewards, stats
from bot.env.account_obs import OBSERVE_ARGS, AccountInfo, observe_account
from bot.env.decisions import update_references
from bot.env.rewards import MIN_EQUITY_RATIO
from bot.env.stats import DRAWDOWN_ROW, EQUITY_ROW, EXPOSURE_ROW, QTY_ROW, ROW
from bot.kernel_cache import drop_stale_caches, entry_point
from bot.portfolio import bar_kernel, fill_kernel
from bot.portfolio.bar_kernel import CLOSED, EVENTS, GROW, REFUSED, process_bar
from bot.portfolio.fill_kernel import EQUITY

#: :func:`run_bars` status bits: the episode terminated (bankrupt or past ``env.max_drawdown``), the last bar needs
#: the account's ``settle`` (its flags are returned), the DBE's mode changed at the last bar
TERMINATED, SETTLE, MODE_CHANGED = 1, 2, 4
#: the info figures of a :func:`run_bars` return that does not end the step (their types, no values)
NO_INFO: AccountInfo = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0.0, 0)

#: :func:`bot.env.rewards._log_ratio` compiled from its own source (the log return's floor)
_log_ratio = njit(cache=True)(rewards._log_ratio)


@njit(cache=True)
def run_bars(
    s: Any,
    bars: Any,
    d: Any,
    tab: Any,
    rec: Any,
    refs: Any,
    out: Any,
    scales: Any,
    n: int,
    t: int,
    last: int,
    target: float,
    size: float,
    first: bool,
    reward: float,
    log_scale: float,
    max_drawdown: float,
    pause_on_events: bool,
) -> tuple[int, int, int, float, int, AccountInfo]:
    """Simulate rows ``t + 1 .. last`` (or up to the first bar that needs Python) for one step.

    :param s: the account's state (:attr:`~bot.portfolio.account.Account.state`).
    :param bars: the market's float64 [rows, 5] bar table (:class:`~bot.env.shared_rows.MarketRows`).
    :param d: the DBE's state, ``tab`` its tables (:class:`~bot.dbe.DynamicBehaviorEngine`).
    :param rec: float64 [5, capacity] the episode's bar record; ``n`` bars are written.
    :param refs: the observation references (:attr:`~bot.env.decisions.ObservationReferences.values`), updated at
        the step's last bar; ``out`` float32 [12] gets the ``portfolio`` observation then, ``scales`` float64 [3]
        being :attr:`~bot.env.portfolio_obs.PortfolioObservation.scales` (see
        :func:`~bot.env.account_obs.observe_account`).
    :param t: the row observed last; ``last`` the step's last row.
    :param target: the decision's target exposure, ``size`` its size fraction.
    :param first: this call's first bar is the step's first (the one that places the order).
    :param reward: the step's reward so far, to which each bar's log return is added (when ``log_scale`` != 0:
        the reward is :class:`~bot.env.rewards.LogReturnReward`; else the env computes it from the record).
    :param pause_on_events: return after a bar with account events (the portfolio loggers are enabled).
    :return: ``(status, t, n, reward, flags, info)``: the :data:`TERMINATED` / :data:`SETTLE` /
        :data:`MODE_CHANGED` bits, the row reached, the bars recorded, the reward, the last bar's account flags (for
        ``settle``), and once the step's bars are done (the last row reached or the episode
        terminated) :func:`~bot.env.account_obs.observe_account`'s figures, else :data:`NO_INFO`. A status without
        :data:`TERMINATED` before the last row means: settle, then call again for the rest. A refused exposure
        returns :data:`SETTLE` with nothing changed.
    """
    equity = s[EQUITY]
    status = flags = 0
    while t < last:
        prev_equity = equity
        t += 1
        bar = bars[t]
        flags, equity, drawdown, exposure, qty, trade_pnl = process_bar(
            s, int(bar[0]), bar[1], bar[2], bar[3], bar[4], target, d[dbe_kernel.SL], d[dbe_kernel.TP], size, first
        )
        if flags & REFUSED:
            return SETTLE, t - 1, n, reward, flags, NO_INFO
        first = False
        changed = dbe_kernel.update(d, tab, t, drawdown, (flags & CLOSED) != 0, trade_pnl)
        if log_scale != 0.0:
            if prev_equity > 0.0 and equity > MIN_EQUITY_RATIO * prev_equity:
                reward += log_scale * math.log(equity / prev_equity)
            else:
                reward += log_scale * _log_ratio(prev_equity, equity)
        rec[ROW, n] = t
        rec[EQUITY_ROW, n] = equity
        rec[EXPOSURE_ROW, n] = exposure
        rec[QTY_ROW, n] = qty
        rec[DRAWDOWN_ROW, n] = drawdown
        n += 1
        status = 0
        if equity <= 0.0 or drawdown > max_drawdown:
            status = TERMINATED
        if flags & GROW or (pause_on_events and flags & EVENTS):
            status |= SETTLE
        if changed:
            status |= MODE_CHANGED
        if status:
            if not status & TERMINATED and t < last:
                return status, t, n, reward, flags, NO_INFO
            break
    # the step's bars are done (or the episode terminated): the references and the observation at its last bar
    update_references(refs, t, equity)
    return status, t, n, reward, flags, observe_account(out, s, d, refs, scales)


#: the argument types the env passes to :func:`run_bars` (its native entry point)
RUN_ARGS = (
    types.float64[::1],
    types.float64[:, ::1],
    types.float64[::1],
    types.float64[:, ::1],
    types.float64[:, ::1],
    types.float64[::1],
    types.float32[::1],
    types.float64[::1],
    types.int64,
    types.int64,
    types.int64,
    types.float64,
    types.float64,
    types.boolean,
    types.float64,
    types.float64,
    types.float64,
    types.boolean,
)


class EnvKernels:
    """The native entry points (:func:`bot.kernel_cache.entry_point`: no dispatcher typing per call) of
    :func:`run_bars`, the env's one compiled call a step, and of :func:`~bot.env.account_obs.observe_account`, its
    call at reset, as attributes ``run_bars`` and ``observe_account``. An entry point does not pickle: a copied or
    unpickled holder takes this process's own again."""

    __slots__ = ("observe_account", "run_bars")

    def __init__(self) -> None:
        self.run_bars: Callable[..., tuple[int, int, int, float, int, AccountInfo]] = entry_point(
            run_bars, RUN_ARGS
        )
        self.observe_account: Callable[..., AccountInfo] = entry_point(observe_account, OBSERVE_ARGS)

    def __reduce__(self) -> tuple[type[EnvKernels], tuple[()]]:
        return EnvKernels, ()


# numba checks only this file: an edit of the account's bar, the DBE's update or the reward's floor recompiles this
drop_stale_caches(run_bars, (bar_kernel, fill_kernel, dbe_kernel, rewards, account_obs, decisions, stats))
