"""Risk and return metrics of an equity curve, one definition each: the env's episode summary, validation and the
evaluation report all use these.

Crypto trades every day, so a year is 365 days: a 5m series has ``365 * 288 = 105,120`` periods a year. Definitions
follow empyrical (the evaluation tests check them against it): returns are simple per-bar returns of equity; Sharpe is
``mean(r - rf) / std(r, ddof=1) * sqrt(P)``; Sortino divides the annualised mean excess return by the annualised root
mean square of the negative excess returns; CAGR compounds over the number of bars, ``(final/initial) ** (P / n) - 1``.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from bot.config import TIMEFRAME_MS

DAY_MS = 86_400_000
#: Milliseconds per 365-day year, for annualising per-bar figures.
YEAR_MS = 365 * DAY_MS


def periods_per_year(timeframe: str) -> float:
    """Bars per 365-day year for a timeframe such as ``"5m"``.

    :raises ValueError: for an unknown timeframe.
    """
    if timeframe not in TIMEFRAME_MS:
        raise ValueError(f"unknown timeframe {timeframe!r}; expected one of {sorted(TIMEFRAME_MS)}")
    return YEAR_MS / TIMEFRAME_MS[timeframe]


def simple_returns(equity: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Per-bar simple returns of an equity curve (length n - 1)."""
    eq = np.asarray(equity, dtype=np.float64)
    return eq[1:] / eq[:-1] - 1.0


def sharpe_ratio(returns: npt.NDArray[np.float64], periods: float, risk_free_annual: float = 0.0) -> float:
    """Annualised Sharpe ratio of per-bar returns, ``mean(r - rf) / std(r, ddof=1) * sqrt(periods)``.

    The one definition behind validation (best-model selection) and the evaluation report.

    :return: 0.0 for fewer than two returns or zero variance.
    """
    if returns.size < 2:
        return 0.0
    excess = returns - risk_free_annual / periods
    std = float(np.std(excess, ddof=1))
    if std == 0.0 or not math.isfinite(std):
        return 0.0
    return float(np.mean(excess)) / std * math.sqrt(periods)


def sortino_ratio(returns: npt.NDArray[np.float64], periods: float, risk_free_annual: float = 0.0) -> float:
    """Annualised Sortino ratio; ``inf`` when there is no downside and a positive mean, 0.0 when empty."""
    if returns.size == 0:
        return 0.0
    excess = returns - risk_free_annual / periods
    downside = math.sqrt(float(np.mean(np.minimum(excess, 0.0) ** 2))) * math.sqrt(periods)
    mean_annual = float(np.mean(excess)) * periods
    if downside == 0.0:
        return math.inf if mean_annual > 0 else 0.0
    return mean_annual / downside


def drawdown_series(equity: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Drawdown per bar as a positive fraction below the running peak."""
    eq = np.asarray(equity, dtype=np.float64)
    peak = np.maximum.accumulate(eq)
    return 1.0 - eq / peak


def max_drawdown_duration(equity: npt.ArrayLike) -> int:
    """Longest run of bars spent below a previous peak (until a new high, or the end)."""
    eq = np.asarray(equity, dtype=np.float64)
    peak = np.maximum.accumulate(eq)
    underwater = eq < peak
    longest = run = 0
    for is_under in underwater:
        run = run + 1 if is_under else 0
        longest = max(longest, run)
    return longest


def cagr(equity: npt.ArrayLike, periods: float) -> float:
    """Compound annual growth rate over ``len(equity) - 1`` bars."""
    eq = np.asarray(equity, dtype=np.float64)
    n = eq.size - 1
    if n <= 0 or eq[0] <= 0:
        return 0.0
    growth = eq[-1] / eq[0]
    if growth <= 0:
        return -1.0
    log_annual = math.log(growth) * periods / n
    # a few bars of gains annualise to astronomically large numbers: report inf rather than overflow
    return math.expm1(log_annual) if log_annual < 700 else math.inf


def cost_drag(costs: float, gross_pnl: float) -> float:
    """Share of the gross PnL that costs took: ``costs / gross_pnl``; ``inf`` when costs ate a non-existent edge
    (``gross_pnl <= 0``), 0.0 when nothing was paid (or funding received on balance)."""
    if costs <= 0.0:
        return 0.0
    return costs / gross_pnl if gross_pnl > 0.0 else math.inf
