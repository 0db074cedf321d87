"""The ``portfolio`` half of the observation: one definition shared by the env and the live trader.

Entries, in the order of :data:`bot.env.spaces.PORTFOLIO_FEATURES`: signed exposure, unrealised PnL / equity,
cash / equity, bars in position / episode length (capped at 1), drawdown, DBE mode one-hot (3), DBE stop-loss and
take-profit as fractions of their upper bounds, DBE size fraction, log(equity / initial equity). Ratios are clipped to
[-PORTFOLIO_BOUND, PORTFOLIO_BOUND]; only an account close to ruin reaches the bound.

:func:`fill_basket_observation` writes the per-asset and account entries of the basket env (``env.mode:
portfolio``), compiled (numba): in Python they cost more than the rest of the env's step.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit

from bot.config import BotConfig
from bot.env import rewards, spaces
from bot.env.portfolio_spaces import ACCOUNT_FEATURES, ASSET_FEATURES
from bot.env.rewards import MIN_EQUITY_RATIO
from bot.env.spaces import PORTFOLIO_BOUND, PORTFOLIO_FEATURES
from bot.kernel_cache import drop_stale_caches
from bot.portfolio import basket_kernel
from bot.portfolio.basket_kernel import BARS, CASH, DRAWDOWN, ENTRY, EQUITY, EXPOSURE, MARK, N_ACCT, N_FLOAT_ROWS, QTY

_LOG_MIN_RATIO = math.log(MIN_EQUITY_RATIO)
_N_PORTFOLIO = len(PORTFOLIO_FEATURES)
_F32 = np.dtype(np.float32)


class PortfolioObservation:
    """Builds the float32 [12] ``portfolio`` vector from plain account and DBE figures.

    :param cfg: ``env.episode_length`` x ``env.decision_every`` (an episode in bars) scales the time in
        position, ``dbe.stop_loss.high`` and ``dbe.take_profit.high`` scale the DBE distances.
    """

    __slots__ = ("scales",)

    def __init__(self, cfg: BotConfig) -> None:
        #: the time, stop-loss and take-profit scales: the last three arguments of :func:`fill_portfolio_observation`
        self.scales = (
            1.0 / float(cfg.env.episode_length * cfg.env.decision_every),
            1.0 / float(cfg.dbe.stop_loss.high),
            1.0 / float(cfg.dbe.take_profit.high),
        )

    def vector(
        self,
        *,
        equity: float,
        initial_equity: float,
        unrealized_pnl: float,
        cash: float,
        exposure: float,
        bars_in_position: int,
        drawdown: float,
        dbe_mode: int,
        stop_loss_pct: float,
        take_profit_pct: float,
        size_fraction: float,
    ) -> npt.NDArray[np.float32]:
        """The portfolio observation, a new array; pass plain Python numbers (``float``, and ``int`` for the bars
        and the mode: other types make numba compile another variant).

        Keyword-only: eleven numbers in a row are too easy to swap. The env's step calls
        :func:`fill_portfolio_observation` positionally, inside :func:`bot.env.account_obs.observe_account` (its
        test pins the order).
        """
        out = np.empty(_N_PORTFOLIO, _F32)
        fill_portfolio_observation(
            out,
            equity,
            initial_equity,
            unrealized_pnl,
            cash,
            exposure,
            bars_in_position,
            drawdown,
            dbe_mode,
            stop_loss_pct,
            take_profit_pct,
            size_fraction,
            *self.scales,
        )
        return out


@njit(cache=True)
def fill_portfolio_observation(
    out: npt.NDArray[np.float32],
    equity: float,
    initial_equity: float,
    unrealized_pnl: float,
    cash: float,
    exposure: float,
    bars_in_position: int,
    drawdown: float,
    dbe_mode: int,
    stop_loss_pct: float,
    take_profit_pct: float,
    size_fraction: float,
    time_scale: float,
    sl_scale: float,
    tp_scale: float,
) -> None:
    """Write the single-asset ``portfolio`` observation into ``out`` (float32 [12], the order of
    :data:`~bot.env.spaces.PORTFOLIO_FEATURES`).

    Every entry is computed in float64 and rounded to float32 on the store. The ratios and the log return are
    clipped to +-PORTFOLIO_BOUND (a NaN becomes the bound with its sign); with equity <= 0 the fractions are 0 and
    the log return is log(MIN_EQUITY_RATIO). ``time_scale``, ``sl_scale`` and ``tp_scale`` are
    :attr:`PortfolioObservation.scales`.
    """
    bound = PORTFOLIO_BOUND
    if equity > 0.0:
        inv = 1.0 / equity
        upnl = unrealized_pnl * inv
        cash_frac = cash * inv
        log_eq = math.log(equity / initial_equity)
    else:
        upnl = 0.0
        cash_frac = 0.0
        log_eq = _LOG_MIN_RATIO
    held = bars_in_position * time_scale
    out[0] = exposure if -bound <= exposure <= bound else math.copysign(bound, exposure)
    out[1] = upnl if -bound <= upnl <= bound else math.copysign(bound, upnl)
    out[2] = cash_frac if -bound <= cash_frac <= bound else math.copysign(bound, cash_frac)
    out[3] = held if held < 1.0 else 1.0
    out[4] = drawdown
    out[5] = 1.0 if dbe_mode == 0 else 0.0
    out[6] = 1.0 if dbe_mode == 1 else 0.0
    out[7] = 1.0 if dbe_mode == 2 else 0.0
    out[8] = stop_loss_pct * sl_scale
    out[9] = take_profit_pct * tp_scale
    out[10] = size_fraction
    out[11] = log_eq if -bound <= log_eq <= bound else math.copysign(bound, log_eq)


@njit(cache=True)
def _clip(x: float, bound: float) -> float:
    """``min(max(x, -bound), bound)`` with Python's ``min``/``max`` semantics (a NaN stays NaN)."""
    x = -bound if -bound > x else x
    return bound if bound < x else x


@njit(cache=True)
def fill_basket_observation(
    assets: npt.NDArray[np.float32],
    account: npt.NDArray[np.float32],
    observable: npt.NDArray[np.bool_],
    f: npt.NDArray[np.float64],
    k: npt.NDArray[np.int64],
    acct: npt.NDArray[np.float64],
    gross: float,
    start_equity: float,
    time_scale: float,
) -> None:
    """Write the per-asset and account halves of the portfolio env's observation (``env.mode: portfolio``).

    The account is read from the basket kernel's state arrays (``f``, ``k``, ``acct``:
    :attr:`~bot.portfolio.basket_account.BasketAccount.kernel_arrays`), which takes fewer arguments than its
    columns one by one (each costs the call time). ``assets`` float32 [N, 4] gets, per asset: observable (1/0),
    signed exposure, unrealised PnL / equity, bars in position x ``time_scale`` (capped at 1); ``account`` float32
    [4]: cash / equity, ``gross`` exposure, drawdown, log(equity / ``start_equity``). Every entry is computed in
    float64, clipped to [-PORTFOLIO_BOUND, PORTFOLIO_BOUND] and then rounded to float32; an account at or below 0
    equity observes 0 for the ratios and log(MIN_EQUITY_RATIO).
    """
    bound = PORTFOLIO_BOUND
    equity = acct[EQUITY]
    alive = equity > 0.0
    for i in range(assets.shape[0]):
        held = k[BARS, i] * time_scale
        assets[i, 0] = 1.0 if observable[i] else 0.0
        assets[i, 1] = _clip(f[EXPOSURE, i], bound) if alive else 0.0
        assets[i, 2] = _clip(f[QTY, i] * (f[MARK, i] - f[ENTRY, i]) / equity, bound) if alive else 0.0
        assets[i, 3] = _clip(1.0 if held > 1.0 else held, bound)
    drawdown = acct[DRAWDOWN]
    if alive:
        account[0] = _clip(acct[CASH] / equity, bound)
        account[1] = _clip(gross, bound)
        account[2] = _clip(drawdown, bound)
        account[3] = _clip(math.log(equity / start_equity), bound)
    else:
        account[0] = 0.0
        account[1] = 0.0
        account[2] = _clip(drawdown, bound)
        account[3] = _clip(_LOG_MIN_RATIO, bound)


def observe_positions(
    tradable: npt.NDArray[np.bool_],
    positions: npt.NDArray[np.float64],
    exposure: npt.NDArray[np.float64],
    bars_in_position: npt.NDArray[np.int64],
    account: tuple[float, float, float, float],
    start_equity: float,
    time_scale: float,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """The ``assets`` and ``account`` observation of positions held outside a basket (the live portfolio trader's),
    by the env's own :func:`fill_basket_observation`.

    :param positions: float [N, 3] each asset's quantity, mark price and entry price.
    :param exposure: float [N] signed notional / equity.
    :param account: equity, cash, drawdown and gross exposure.
    :return: float32 [N, 4] and [4], new arrays.
    """
    n = len(tradable)
    f = np.zeros((N_FLOAT_ROWS, n))
    f[QTY], f[MARK], f[ENTRY] = positions.T
    f[EXPOSURE] = exposure
    k = np.zeros((BARS + 1, n), np.int64)
    k[BARS] = bars_in_position
    acct = np.zeros(N_ACCT)
    acct[EQUITY], acct[CASH], acct[DRAWDOWN], gross = account
    assets = np.empty((n, len(ASSET_FEATURES)), np.float32)
    observed = np.empty(len(ACCOUNT_FEATURES), np.float32)
    fill_basket_observation(assets, observed, tradable, f, k, acct, gross, start_equity, time_scale)
    return assets, observed


# the modules whose constants these compile in (numba checks only this file)
drop_stale_caches(fill_basket_observation, [basket_kernel, rewards, spaces])
