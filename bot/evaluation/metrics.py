"""The report's metrics of one backtest: its equity curve, trades and costs assembled into :class:`Metrics`.

The risk and return functions themselves (Sharpe, Sortino, drawdown, CAGR, cost drag, the 365-day annualisation)
live in :mod:`bot.portfolio.metrics`, shared with the env and validation.

Cost diagnostics split the net PnL into where it went: ``gross_pnl`` (price PnL at the bars' prices, before every
cost) ``- fees - slippage - funding == final_equity - initial_equity`` exactly. Rates per day count the days of
simulated bars (``(n_bars - 1)`` bars; data gaps between chained runs are not counted).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

from bot.config import TIMEFRAME_MS
from bot.portfolio import (
    DAY_MS,
    cagr,
    cost_drag,
    drawdown_series,
    max_drawdown_duration,
    periods_per_year,
    sharpe_ratio,
    simple_returns,
    sortino_ratio,
)
from bot.training import Costs


@dataclass(frozen=True, slots=True)
class TradeStats:
    """What the metrics need of one closed trade."""

    pnl: float
    bars_held: int


@dataclass(frozen=True, slots=True)
class Metrics:
    """Every reported metric. Fractions are fractions (0.1 = 10 %); durations are in bars and days; money in quote.

    ``fees_paid`` is fees + slippage (the execution costs, as before the split into ``fees`` and ``slippage``);
    ``cost_drag`` is ``(fees + slippage + funding) / gross_pnl`` when ``gross_pnl > 0``, ``inf`` when costs were paid
    without a gross edge, 0.0 when nothing was paid; ``fill_rate`` is NaN when no limit order was placed.
    """

    total_return: float
    cagr: float
    volatility: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown: float
    max_drawdown_bars: int
    max_drawdown_days: float
    win_rate: float
    profit_factor: float
    expectancy: float
    trades: int
    trades_per_day: float
    avg_holding_bars: float
    exposure: float
    turnover: float
    turnover_per_day: float
    fill_rate: float
    gross_pnl: float
    fees: float
    slippage: float
    funding: float
    fees_paid: float
    cost_drag: float
    cost_drag_equity: float
    final_equity: float
    n_bars: int
    days: float

    def as_dict(self) -> dict[str, float | int]:
        """Metric name -> value, in field order."""
        return asdict(self)


def compute_metrics(
    equity: npt.ArrayLike,
    exposure: npt.ArrayLike,
    trades: Sequence[TradeStats],
    costs: Costs,
    timeframe: str,
    risk_free_annual: float = 0.0,
) -> Metrics:
    """All metrics of one backtest.

    :param equity: float [n] equity marked at each bar's close, starting with the initial equity.
    :param exposure: float [n] signed position notional / equity at each bar's close.
    :param trades: closed trades (net PnL and bars held).
    :param costs: fees, slippage, funding, traded notional and limit-order counts of the whole curve.
    :param timeframe: bar timeframe, for the annualisation factor and the per-day rates.
    :param risk_free_annual: annual risk-free rate for Sharpe and Sortino.
    :raises ValueError: when the curve is empty, non-positive at the start, or the arrays differ in length.
    """
    eq = np.asarray(equity, dtype=np.float64)
    ex = np.asarray(exposure, dtype=np.float64)
    if eq.size == 0 or eq[0] <= 0:
        raise ValueError(f"equity curve must be non-empty and start positive, got {eq[:3]}")
    if ex.shape != eq.shape:
        raise ValueError(f"exposure has shape {ex.shape}, expected the equity's shape {eq.shape}")
    periods = periods_per_year(timeframe)
    rets = simple_returns(eq)
    growth = cagr(eq, periods)
    max_dd = float(drawdown_series(eq).max())
    dd_bars = max_drawdown_duration(eq)
    pnls = np.array([t.pnl for t in trades], dtype=np.float64)
    gains = float(pnls[pnls > 0].sum())
    losses = float(-pnls[pnls < 0].sum())
    if losses > 0:
        profit_factor = gains / losses
    else:
        profit_factor = math.inf if gains > 0 else 0.0
    days = (eq.size - 1) * TIMEFRAME_MS[timeframe] / DAY_MS
    turnover = float(costs.traded_notional / np.mean(eq))
    gross = float(eq[-1] - eq[0]) + costs.total
    return Metrics(
        total_return=float(eq[-1] / eq[0] - 1.0),
        cagr=growth,
        volatility=float(np.std(rets, ddof=1) * math.sqrt(periods)) if rets.size > 1 else 0.0,
        sharpe=sharpe_ratio(rets, periods, risk_free_annual),
        sortino=sortino_ratio(rets, periods, risk_free_annual),
        calmar=growth / max_dd if max_dd > 0 else 0.0,
        max_drawdown=max_dd,
        max_drawdown_bars=dd_bars,
        max_drawdown_days=dd_bars * TIMEFRAME_MS[timeframe] / DAY_MS,
        win_rate=float((pnls > 0).mean()) if pnls.size else 0.0,
        profit_factor=profit_factor,
        expectancy=float(pnls.mean()) if pnls.size else 0.0,
        trades=int(pnls.size),
        trades_per_day=pnls.size / days if days > 0 else 0.0,
        avg_holding_bars=float(np.mean([t.bars_held for t in trades])) if trades else 0.0,
        exposure=float(np.mean(ex != 0.0)),
        turnover=turnover,
        turnover_per_day=turnover / days if days > 0 else 0.0,
        fill_rate=costs.limit_fills / costs.limit_orders if costs.limit_orders > 0 else math.nan,
        gross_pnl=gross,
        fees=float(costs.fees),
        slippage=float(costs.slippage),
        funding=float(costs.funding),
        fees_paid=float(costs.fees + costs.slippage),
        cost_drag=cost_drag(costs.total, gross),
        cost_drag_equity=float(costs.total / eq[0]),
        final_equity=float(eq[-1]),
        n_bars=int(eq.size),
        days=days,
    )
