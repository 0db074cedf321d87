"""Result containers of a backtest: one policy's curves, trades and metrics, and a whole evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from bot.evaluation.metrics import Metrics
from bot.training import TradeRecord


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """One policy run over a split.

    :param name: policy name ("agent", "buy_and_hold", ...).
    :param time_ms: int64 [n] bar open times of the marks.
    :param equity: float64 [n] equity at each bar's close.
    :param exposure: float64 [n] signed exposure at each bar's close.
    :param price: float64 [n] close price.
    :param trades: closed trades.
    :param metrics: the computed metrics.
    """

    name: str
    time_ms: npt.NDArray[np.int64]
    equity: npt.NDArray[np.float64]
    exposure: npt.NDArray[np.float64]
    price: npt.NDArray[np.float64]
    trades: tuple[TradeRecord, ...]
    metrics: Metrics


@dataclass(frozen=True, slots=True)
class RandomBaseline:
    """The random policy over many seeded runs, per metric.

    :param n_runs: seeded runs.
    :param mean: mean of each metric over the runs (non-finite values left out).
    :param ci_low: lower end of the 95 % confidence interval of the mean (Student t).
    :param ci_high: upper end of that interval.
    :param p025: 2.5 % percentile of the runs: where a random policy's own result falls, unlike the CI of the mean.
    :param p975: 97.5 % percentile of the runs.
    :param total_returns: total return of each run (to rank the agent among them).
    :param example: the first run, for charts.
    :param switch_prob: chance per bar of drawing a new level (1 = every bar; less = the agent's trading pace).
    """

    n_runs: int
    mean: dict[str, float]
    ci_low: dict[str, float]
    ci_high: dict[str, float]
    p025: dict[str, float]
    p975: dict[str, float]
    total_returns: tuple[float, ...]
    example: BacktestResult
    switch_prob: float = 1.0

    @property
    def name(self) -> str:
        """Label in reports: the switching probability shows which random policy this is."""
        if self.switch_prob >= 1.0:
            return f"random (mean of {self.n_runs})"
        return f"random at agent pace (p={self.switch_prob:.3g}, mean of {self.n_runs})"

    def share_beaten_by(self, total_return: float) -> float:
        """Fraction of the random runs whose total return is below ``total_return``."""
        return sum(r < total_return for r in self.total_returns) / self.n_runs


@dataclass(slots=True)
class EvaluationReport:
    """Everything a report shows: the agent, baselines, random policies, and the same with zero costs.

    :param split: the evaluated split.
    :param timeframe: bar timeframe.
    :param symbol: symbol label.
    :param checkpoint: label of the evaluated checkpoint.
    :param agent: the agent's result with the configured costs (zero costs under ``--fees-off``).
    :param baselines: name -> result of buy-and-hold, flat and the MA crossover on the same bars and costs.
    :param random: the random policy drawing a new level every bar, or None.
    :param zero_cost: the agent and the baselines again with zero fees and slippage (empty under ``--fees-off``).
    :param notes: facts about the run shown at the end of the report (costs, runs, inference, warnings).
    :param random_paced: the random policy trading at the agent's pace, or None.
    :param fees_off: every result was computed with zero fees and slippage (``--fees-off``; funding kept).
    """

    split: str
    timeframe: str
    symbol: str
    checkpoint: str
    agent: BacktestResult
    baselines: dict[str, BacktestResult]
    random: RandomBaseline | None
    zero_cost: dict[str, BacktestResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    random_paced: RandomBaseline | None = None
    fees_off: bool = False

    @property
    def randoms(self) -> list[RandomBaseline]:
        """The random baselines present: a new level every bar, and at the agent's trading pace."""
        return [r for r in (self.random, self.random_paced) if r is not None]
