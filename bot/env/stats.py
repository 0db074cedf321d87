"""End-of-episode summary scalars that the env puts into the last step's ``info`` (training callbacks average them)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from bot.portfolio import YEAR_MS, cost_drag

#: Cap of the per-episode cost drag in training summaries, so that an episode with no gross profit (infinite drag)
#: still averages into TensorBoard.
MAX_COST_DRAG = 10.0


class AccountTotals(Protocol):
    """What the summary reads of an account: a single-symbol :class:`~bot.portfolio.Account` or a basket's
    :meth:`~bot.portfolio.basket_account.BasketAccount.totals`."""

    @property
    def equity(self) -> float: ...
    @property
    def wins(self) -> int: ...
    @property
    def losses(self) -> int: ...
    @property
    def n_trades(self) -> int: ...
    @property
    def fees_paid(self) -> float: ...
    @property
    def slippage_paid(self) -> float: ...
    @property
    def funding_paid(self) -> float: ...
    @property
    def traded_notional(self) -> float: ...
    @property
    def is_liquidated(self) -> bool: ...
    @property
    def bars_held(self) -> int: ...


@dataclass(slots=True)
class EpisodeAccumulator:
    """Running sums over the steps of one episode (plain floats: the env updates them inline in ``step``).

    :param n_steps: steps taken.
    :param sum_return: sum of per-step simple equity returns.
    :param sum_return_sq: sum of their squares.
    :param sum_abs_exposure: sum of ``|exposure|`` after each step.
    :param max_drawdown: largest drawdown seen (fraction).
    :param sum_equity: sum of the equity after each bar (mean equity, for turnover).

    ``n_steps`` counts bars: with ``env.decision_every`` > 1 one env step adds several.
    """

    n_steps: int = 0
    sum_return: float = 0.0
    sum_return_sq: float = 0.0
    sum_abs_exposure: float = 0.0
    max_drawdown: float = 0.0
    sum_equity: float = 0.0

    def clear(self) -> None:
        """Zero every sum (start of an episode)."""
        self.n_steps = 0
        self.sum_return = 0.0
        self.sum_return_sq = 0.0
        self.sum_abs_exposure = 0.0
        self.max_drawdown = 0.0
        self.sum_equity = 0.0


#: rows of :attr:`BarRecord.bars`: the bar's dataset row, then the account after the bar
ROW, EQUITY_ROW, EXPOSURE_ROW, QTY_ROW, DRAWDOWN_ROW = range(5)


class BarRecord:
    """The row, equity, exposure, position and drawdown after every bar of an episode, for :func:`accumulate` at its
    end and for the env's ``step_marks``.

    ``bars`` is float64 [5, capacity] (rows :data:`ROW` .. :data:`DRAWDOWN_ROW`), written in place by
    the env's step kernel; ``n`` bars are written. Writes into preallocated rows cost less in the step than appends or
    running sums; :func:`accumulate` then gives the running sums' values, bit for bit.

    :param start_equity: the equity before the first bar (the first bar's return is measured from it).
    :param capacity: the most bars the episode can have.
    """

    __slots__ = ("bars", "n", "start_equity")

    def __init__(self, start_equity: float = 0.0, capacity: int = 0) -> None:
        self.start_equity = start_equity
        self.bars = np.empty((5, capacity))
        self.n = 0

    @property
    def equity(self) -> npt.NDArray[np.float64]:
        """float [n] the equity after each bar (a view)."""
        return self.bars[EQUITY_ROW, : self.n]

    @property
    def exposure(self) -> npt.NDArray[np.float64]:
        """float [n] the signed exposure after each bar (a view)."""
        return self.bars[EXPOSURE_ROW, : self.n]

    @property
    def drawdown(self) -> npt.NDArray[np.float64]:
        """float [n] the drawdown after each bar (a view)."""
        return self.bars[DRAWDOWN_ROW, : self.n]


def accumulate(record: BarRecord, acc: EpisodeAccumulator) -> None:
    """Set ``acc`` to the sums over ``record``'s bars: the values, summation order and rounding of running sums
    updated bar by bar (``np.add.accumulate`` adds left to right, where ``np.sum`` would add pairwise).

    :param record: the episode's bars.
    :param acc: overwritten; its fields as documented in :class:`EpisodeAccumulator`.
    """
    equity = record.equity
    n = equity.shape[0]
    acc.clear()
    if not n:
        return
    prev = np.empty(n)
    prev[0] = record.start_equity
    prev[1:] = equity[:-1]
    alive = prev > 0.0
    returns = np.zeros(n + 1)  # a leading 0.0: the running sums start at 0.0
    # overflow gives inf silently, as the Python float arithmetic of the running sums did
    with np.errstate(over="ignore"):
        returns[1:] = np.where(alive, equity / np.where(alive, prev, 1.0) - 1.0, 0.0)
        acc.sum_return_sq = float(np.add.accumulate(returns * returns)[-1])
    acc.n_steps = n
    acc.sum_return = float(np.add.accumulate(returns)[-1])
    terms = np.zeros(n + 1)
    terms[1:] = np.abs(record.exposure)
    acc.sum_abs_exposure = float(np.add.accumulate(terms)[-1])
    terms[1:] = equity
    acc.sum_equity = float(np.add.accumulate(terms)[-1])
    # fmax skips NaN, as the running "if drawdown > max_drawdown" did
    acc.max_drawdown = max(0.0, float(np.fmax.reduce(record.drawdown)))


def annualised_sharpe(acc: EpisodeAccumulator, base_ms: int) -> float:
    """Sharpe ratio of the per-step returns (risk-free 0), annualised with ``sqrt(bars per year)``: the running-sums
    form of :func:`bot.portfolio.metrics.sharpe_ratio`, updated inline in ``step`` without keeping the returns.

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


def episode_summary(
    acc: EpisodeAccumulator, initial_equity: float, pm: AccountTotals, base_ms: int
) -> dict[str, float]:
    """The summary scalars added to the final ``info`` of an episode.

    :param acc: the episode's sums.
    :param initial_equity: equity at reset (quote).
    :param pm: the episode's account after the last step.
    :param base_ms: bar length in milliseconds.
    :return: ``episode_return`` (final / initial - 1), ``final_equity``, ``sharpe`` (annualised), ``max_drawdown``,
        ``win_rate`` (0 without closed trades), ``exposure_mean`` (mean ``|exposure|``), ``episode_steps`` (bars),
        ``liquidated`` and ``bankrupt`` (final equity <= 0), and the cost diagnostics: ``turnover_per_day`` (notional
        traded / mean equity, per day), ``cost_share_equity`` (fees + slippage + funding / initial equity),
        ``cost_drag`` (the same costs / gross PnL, capped at 10 for averaging; 10 also stands for "no gross profit"),
        ``trades_per_day`` and ``avg_holding_bars`` of the closed trades.
    """
    closed = pm.wins + pm.losses
    final_equity = pm.equity
    days = acc.n_steps * base_ms / 86_400_000 if acc.n_steps else 0.0
    mean_equity = acc.sum_equity / acc.n_steps if acc.n_steps else initial_equity
    costs = pm.fees_paid + pm.slippage_paid + pm.funding_paid
    gross = final_equity - initial_equity + costs
    return {
        "episode_return": final_equity / initial_equity - 1.0,
        "final_equity": final_equity,
        "sharpe": annualised_sharpe(acc, base_ms),
        "max_drawdown": acc.max_drawdown,
        "win_rate": pm.wins / closed if closed else 0.0,
        "exposure_mean": acc.sum_abs_exposure / acc.n_steps if acc.n_steps else 0.0,
        "episode_steps": acc.n_steps,
        "liquidated": bool(pm.is_liquidated),
        "bankrupt": final_equity <= 0.0,
        "turnover_per_day": pm.traded_notional / mean_equity / days if days and mean_equity > 0.0 else 0.0,
        "cost_share_equity": costs / initial_equity,
        "cost_drag": min(cost_drag(costs, gross), MAX_COST_DRAG),
        "trades_per_day": pm.n_trades / days if days else 0.0,
        "avg_holding_bars": pm.bars_held / pm.n_trades if pm.n_trades else 0.0,
    }
