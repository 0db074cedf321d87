"""Baseline policies run through the same PortfolioManager and costs as the agent.

Each baseline is a causal exposure series: the value at row t is decided at bar t's close from closes up to t, and is
executed by the PortfolioManager at bar t+1's open, exactly like the agent's actions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from bot.config import PortfolioConfig
from bot.data import MarketData
from bot.evaluation.backtest import chain_segments
from bot.evaluation.results import BacktestResult, RandomBaseline
from bot.portfolio import PortfolioManager
from bot.training import Segment, account_costs, account_trades


def buy_and_hold(n: int) -> npt.NDArray[np.float64]:
    """Fully long on every bar."""
    return np.ones(n, dtype=np.float64)


def flat(n: int) -> npt.NDArray[np.float64]:
    """Never in the market: the zero line every policy must beat after costs."""
    return np.zeros(n, dtype=np.float64)


def ma_crossover(close: npt.NDArray[np.float64], fast: int, slow: int, can_short: bool) -> npt.NDArray[np.float64]:
    """Long while the fast moving average of closes is above the slow one; short (or flat on spot) below.

    Both averages at row t use closes up to and including t only; rows before ``slow`` bars of history are flat.

    :raises ValueError: when ``fast >= slow``.
    """
    if fast >= slow:
        raise ValueError(f"ma_crossover needs fast < slow, got fast={fast}, slow={slow}")
    csum = np.concatenate([[0.0], np.cumsum(close, dtype=np.float64)])
    out = np.zeros(close.size, dtype=np.float64)
    if close.size < slow:
        return out
    idx = np.arange(slow - 1, close.size)
    fast_ma = (csum[idx + 1] - csum[idx + 1 - fast]) / fast
    slow_ma = (csum[idx + 1] - csum[idx + 1 - slow]) / slow
    out[idx] = np.where(fast_ma > slow_ma, 1.0, -1.0 if can_short else 0.0)
    return out


def random_levels(n: int, levels: Sequence[float], seed: int, switch_prob: float = 1.0) -> npt.NDArray[np.float64]:
    """Uniformly random discrete exposure levels: a new draw on every bar (what an untrained agent does), or with
    probability ``switch_prob`` per bar, the level being held otherwise (a random policy that trades as often as the
    agent).

    :raises ValueError: when ``switch_prob`` is not in (0, 1].
    """
    if not 0.0 < switch_prob <= 1.0:
        raise ValueError(f"switch_prob={switch_prob} must lie in (0, 1]")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(levels), size=n)
    if switch_prob < 1.0:
        switch = rng.random(n) < switch_prob
        switch[0] = True
        draws = draws[np.maximum.accumulate(np.where(switch, np.arange(n), 0))]
    return np.asarray(levels, dtype=np.float64)[draws]


def agent_pace(exposure: npt.NDArray[np.float64], n_levels: int) -> float:
    """The ``switch_prob`` at which :func:`random_levels` changes position as often as an exposure series does.

    A change is a bar whose exposure sign differs from the previous bar's (entries, exits, reversals, stops). A new draw
    repeats the held level with probability ``1 / n_levels``, so the rate of changes is divided by ``1 - 1/n_levels``.

    :return: a probability in (0, 1]; at least one change over the series is assumed so that it is never 0.
    """
    changes = max(1, int(np.count_nonzero(np.diff(np.sign(exposure)))))
    return min(1.0, changes / max(1, exposure.size - 1) / (1.0 - 1.0 / n_levels))


def simulate_exposures(
    market: MarketData, rows: range, exposures: npt.NDArray[np.float64], portfolio_cfg: PortfolioConfig
) -> Segment:
    """Run an exposure series through a fresh PortfolioManager over the gap-free rows ``rows`` of ``market``.

    The decision ``exposures[i]`` (taken at the close of row ``rows[i]``) fills at the open of the next row; the last
    decision is never executed. No stop loss, take profit or DBE sizing: baselines are plain exposure policies.

    :param exposures: float [len(rows)] target exposure decided at each row's close.
    :return: the run on its own account (chain runs with :func:`~bot.evaluation.backtest.chain_segments`).
    :raises ValueError: when the lengths differ or fewer than two rows are given.
    """
    if len(rows) < 2:
        raise ValueError(f"a backtest needs at least 2 bars, got rows {rows}")
    if exposures.shape[0] != len(rows):
        raise ValueError(f"exposures has {exposures.shape[0]} values for {len(rows)} rows")
    pm = PortfolioManager(portfolio_cfg)
    sl = slice(rows.start, rows.stop)
    t_ms = market.open_time_ms[sl].astype(np.int64)
    opens, highs, lows, closes = (a[sl].tolist() for a in (market.open, market.high, market.low, market.close))
    times = t_ms.tolist()
    targets = exposures.tolist()
    n = len(rows)
    equity = np.empty(n, dtype=np.float64)
    exposure = np.empty(n, dtype=np.float64)
    equity[0] = pm.equity
    exposure[0] = 0.0
    traded = 0.0
    stop = n
    for i in range(1, n):
        qty_before = pm.position_qty
        pm.process_bar(times[i], opens[i], highs[i], lows[i], closes[i], targets[i - 1], 0.0, 0.0, 1.0)
        traded += abs(pm.position_qty - qty_before) * opens[i]
        equity[i] = pm.equity
        exposure[i] = pm.exposure
        if pm.equity <= 0.0:
            stop = i + 1
            break
    price = market.close[sl].astype(np.float64)[:stop]
    trades, held = account_trades(pm, t_ms[:stop], float(price[-1]))
    return Segment(
        t_ms[:stop],
        equity[:stop],
        exposure[:stop],
        price,
        trades,
        held,
        account_costs(pm, traded),
        bankrupt=pm.equity <= 0.0,
    )


def run_exposures(
    market: MarketData,
    runs: Sequence[range],
    exposures: Sequence[npt.NDArray[np.float64]],
    portfolio_cfg: PortfolioConfig,
    name: str,
    timeframe: str,
    risk_free_annual: float = 0.0,
) -> BacktestResult:
    """Simulate one exposure series per gap-free run and chain the runs into one result.

    :param runs: row ranges of the gap-free runs (the agent's evaluation episodes), in time order.
    :param exposures: one exposure series per run, aligned with its rows.
    """
    segments = []
    for rows, series in zip(runs, exposures, strict=True):
        segment = simulate_exposures(market, rows, series, portfolio_cfg)
        segments.append(segment)
        if segment.bankrupt:
            break
    return chain_segments(segments, name, timeframe, risk_free_annual)


def ma_crossover_runs(
    market: MarketData, runs: Sequence[range], fast: int, slow: int, can_short: bool
) -> list[npt.NDArray[np.float64]]:
    """:func:`ma_crossover` per run, warmed up on the closes of the run's gap-free segment before its first row.

    The averages never mix closes from both sides of a data gap.
    """
    out = []
    for rows in runs:
        segment = market.segment_id[rows.start]
        first = rows.start
        while first > 0 and market.segment_id[first - 1] == segment:
            first -= 1
        signal = ma_crossover(market.close[first : rows.stop].astype(np.float64), fast, slow, can_short)
        out.append(signal[rows.start - first :])
    return out


def _split_series(series: npt.NDArray[np.float64], runs: Sequence[range]) -> list[npt.NDArray[np.float64]]:
    bounds = np.cumsum([len(r) for r in runs])[:-1]
    return list(np.split(series, bounds))


def t_quantile_975(df: int) -> float:
    """The 97.5 % quantile of Student's t distribution with ``df`` degrees of freedom (two-sided 95 % interval).

    Exact table values up to 30 degrees of freedom, then the Cornish-Fisher expansion (error below 1e-4).

    :raises ValueError: for ``df < 1``.
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959963984540054
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


_T975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip


def mean_ci(values: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Column means of ``values`` [runs, metrics] and the half-width of their 95 % t confidence interval.

    Non-finite entries (an infinite profit factor) are left out of their column; a column with fewer than two finite
    values has a zero half-width.
    """
    finite = np.isfinite(values)
    count = finite.sum(axis=0)
    safe = np.where(finite, values, 0.0)
    mean = np.divide(safe.sum(axis=0), count, out=np.full(values.shape[1], np.nan), where=count > 0)
    dev = np.where(finite, values - mean, 0.0)
    half = np.zeros(values.shape[1])
    for j, n in enumerate(count.tolist()):
        if n > 1:
            half[j] = t_quantile_975(n - 1) * float(np.sqrt((dev[:, j] ** 2).sum() / (n - 1) / n))
    return mean, half


def finite_percentile(values: npt.NDArray[np.float64], q: float) -> npt.NDArray[np.float64]:
    """Column percentiles of ``values`` [runs, metrics] over the finite entries; NaN for a column with none (a fill
    rate without limit orders), without numpy's all-NaN warning."""
    out = np.full(values.shape[1], np.nan)
    for j in range(values.shape[1]):
        column = values[:, j][np.isfinite(values[:, j])]
        if column.size:
            out[j] = np.percentile(column, q)
    return out


def random_baseline(
    market: MarketData,
    runs: Sequence[range],
    levels: Sequence[float],
    portfolio_cfg: PortfolioConfig,
    timeframe: str,
    n_runs: int,
    seed: int,
    risk_free_annual: float = 0.0,
    switch_prob: float = 1.0,
) -> RandomBaseline:
    """The random policy over ``n_runs`` seeded runs: mean, 95 % CI of the mean and 2.5-97.5 % range per metric.

    Run ``k`` draws its levels with seed ``seed + k``, so the baseline is reproducible.

    :param runs: row ranges of the gap-free runs (the agent's evaluation episodes).
    :param levels: the discrete target exposures to draw from (the agent's action levels).
    :param switch_prob: chance per bar of a new draw (see :func:`random_levels`).
    :raises ValueError: when ``n_runs < 1``.
    """
    if n_runs < 1:
        raise ValueError(f"n_runs={n_runs} must be >= 1; set evaluation.n_random_runs to 1 or more")
    total = sum(len(r) for r in runs)
    results = [
        run_exposures(
            market,
            runs,
            _split_series(random_levels(total, levels, seed + k, switch_prob), runs),
            portfolio_cfg,
            "random",
            timeframe,
            risk_free_annual,
        )
        for k in range(n_runs)
    ]
    keys = list(results[0].metrics.as_dict())
    table = np.array([[float(r.metrics.as_dict()[k]) for k in keys] for r in results], dtype=np.float64)
    mean, half = mean_ci(table)
    low_q, high_q = finite_percentile(table, 2.5), finite_percentile(table, 97.5)
    return RandomBaseline(
        n_runs=n_runs,
        mean=dict(zip(keys, mean.tolist(), strict=True)),
        ci_low=dict(zip(keys, (mean - half).tolist(), strict=True)),
        ci_high=dict(zip(keys, (mean + half).tolist(), strict=True)),
        p025=dict(zip(keys, low_q.tolist(), strict=True)),
        p975=dict(zip(keys, high_q.tolist(), strict=True)),
        total_returns=tuple(table[:, keys.index("total_return")].tolist()),
        example=results[0],
        switch_prob=switch_prob,
    )
