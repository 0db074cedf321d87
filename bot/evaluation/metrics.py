"""Performance metrics of an equity curve and its trades, with one annualisation factor per timeframe.

Crypto trades every day, so a year is 365 days: a 5m series has ``365 * 288 = 105,120`` periods a year. Definitions
follow empyrical (the test suite checks them against it): returns are simple per-bar returns of equity; Sharpe is
``mean(r - rf) / std(r, ddof=1) * sqrt(P)``; Sortino divides the annualised mean excess return by the annualised root
mean square of the negative excess returns; CAGR compounds over the number of bars, ``(final/initial) ** (P / n) - 1``.

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
from bot.env.stats import sharpe_ratio

_DAY_MS = 86_400_000
_YEAR_MS = 365 * _DAY_MS


def periods_per_year(timeframe: str) -> float:
    """Bars per 365-day year for a timeframe such as ``"5m"``.

    :raises ValueError: for an unknown timeframe.
    """
    if timeframe not in TIMEFRAME_MS:
        raise ValueError(f"unknown timeframe {timeframe!r}; expected one of {sorted(TIMEFRAME_MS)}")
    return _YEAR_MS / TIMEFRAME_MS[timeframe]


@dataclass(frozen=True, slots=True)
class TradeStats:
    """What the metrics need of one closed trade."""

    pnl: float
    bars_held: int


@dataclass(frozen=True, slots=True)
class Costs:
    """What a backtest paid and traded (quote amounts, except the order counts).

    :param fees: exchange fees paid (>= 0).
    :param slippage: slippage paid against the bars' prices (>= 0; inside the fill prices, reported on its own).
    :param funding: funding paid (signed: negative when funding was received).
    :param traded_notional: traded notional, valued at the fill bars' opens.
    :param limit_orders: limit orders placed (0 with market orders).
    :param limit_fills: limit orders filled.
    """

    fees: float = 0.0
    slippage: float = 0.0
    funding: float = 0.0
    traded_notional: float = 0.0
    limit_orders: int = 0
    limit_fills: int = 0

    @property
    def total(self) -> float:
        """Fees + slippage + funding: everything between the gross and the net PnL."""
        return self.fees + self.slippage + self.funding

    def scaled(self, factor: float) -> Costs:
        """The quote amounts times ``factor`` (an account chained onto a grown one); order counts unchanged."""
        return Costs(
            self.fees * factor,
            self.slippage * factor,
            self.funding * factor,
            self.traded_notional * factor,
            self.limit_orders,
            self.limit_fills,
        )

    def __add__(self, other: Costs) -> Costs:
        return Costs(
            self.fees + other.fees,
            self.slippage + other.slippage,
            self.funding + other.funding,
            self.traded_notional + other.traded_notional,
            self.limit_orders + other.limit_orders,
            self.limit_fills + other.limit_fills,
        )


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


def simple_returns(equity: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Per-bar simple returns of an equity curve (length n - 1)."""
    eq = np.asarray(equity, dtype=np.float64)
    return eq[1:] / eq[:-1] - 1.0


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
    days = (eq.size - 1) * TIMEFRAME_MS[timeframe] / _DAY_MS
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
        max_drawdown_days=dd_bars * TIMEFRAME_MS[timeframe] / 86_400_000,
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
