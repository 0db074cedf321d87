"""End-of-episode summary scalars that the env puts into the last step's ``info`` (training callbacks average them)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: Milliseconds per 365-day year, for annualising the per-bar Sharpe ratio.
YEAR_MS = 365 * 86_400_000


@dataclass(slots=True)
class EpisodeAccumulator:
    """Running sums over the steps of one episode (plain floats: the env updates them inline in ``step``).

    :param n_steps: steps taken.
    :param sum_return: sum of per-step simple equity returns.
    :param sum_return_sq: sum of their squares.
    :param sum_abs_exposure: sum of ``|exposure|`` after each step.
    :param max_drawdown: largest drawdown seen (fraction).
    """

    n_steps: int = 0
    sum_return: float = 0.0
    sum_return_sq: float = 0.0
    sum_abs_exposure: float = 0.0
    max_drawdown: float = 0.0

    def clear(self) -> None:
        """Zero every sum (start of an episode)."""
        self.n_steps = 0
        self.sum_return = 0.0
        self.sum_return_sq = 0.0
        self.sum_abs_exposure = 0.0
        self.max_drawdown = 0.0


def annualised_sharpe(acc: EpisodeAccumulator, base_ms: int) -> float:
    """Sharpe ratio of the per-step returns (risk-free 0), annualised with ``sqrt(bars per year)``.

    :param acc: the episode's sums.
    :param base_ms: bar length in milliseconds.
    :return: 0.0 with fewer than two steps or zero variance.
    """
    n = acc.n_steps
    if n < 2:
        return 0.0
    mean = acc.sum_return / n
    variance = (acc.sum_return_sq - n * mean * mean) / (n - 1)
    if variance <= 1e-24:
        return 0.0
    return mean / math.sqrt(variance) * math.sqrt(YEAR_MS / base_ms)


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


def episode_summary(
    acc: EpisodeAccumulator,
    initial_equity: float,
    final_equity: float,
    wins: int,
    losses: int,
    is_liquidated: bool,
    base_ms: int,
) -> dict[str, float | int | bool]:
    """The summary scalars added to the final ``info`` of an episode.

    :param acc: the episode's sums.
    :param initial_equity: equity at reset (quote).
    :param final_equity: equity after the last step.
    :param wins: closed trades with positive net PnL.
    :param losses: closed trades with zero or negative net PnL.
    :param is_liquidated: whether a liquidation happened in the episode.
    :param base_ms: bar length in milliseconds.
    :return: ``episode_return`` (final / initial - 1), ``final_equity``, ``sharpe`` (annualised), ``max_drawdown``,
        ``win_rate`` (0 without closed trades), ``exposure_mean`` (mean ``|exposure|``), ``episode_steps``,
        ``liquidated`` and ``bankrupt`` (final equity <= 0).
    """
    closed = wins + losses
    return {
        "episode_return": final_equity / initial_equity - 1.0,
        "final_equity": final_equity,
        "sharpe": annualised_sharpe(acc, base_ms),
        "max_drawdown": acc.max_drawdown,
        "win_rate": wins / closed if closed else 0.0,
        "exposure_mean": acc.sum_abs_exposure / acc.n_steps if acc.n_steps else 0.0,
        "episode_steps": acc.n_steps,
        "liquidated": bool(is_liquidated),
        "bankrupt": final_equity <= 0.0,
    }
