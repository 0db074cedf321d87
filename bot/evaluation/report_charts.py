"""PNG charts of the evaluation report: equity, drawdown, the agent's positions, and where the return went."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bot.atomic import atomic_write_bytes
from bot.evaluation.report_format import cost_tag
from bot.evaluation.results import BacktestResult, EvaluationReport
from bot.portfolio import drawdown_series
from bot.training import TradeRecord

#: A curve growing or shrinking by more than this factor is drawn on a log scale (else the rest look flat).
LOG_SCALE_FACTOR = 3.0

#: Most trade markers drawn per side and kind: beyond it the markers are sampled evenly (thousands overlap to a smear).
MAX_MARKERS = 150


def save_png(fig: Figure, path: Path) -> None:
    """Save a figure as PNG atomically and free it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def _dates(time_ms: npt.NDArray[np.int64]) -> npt.NDArray[np.datetime64]:
    return time_ms.astype("datetime64[ms]")


def _date_axis(ax: Axes) -> None:
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))


def needs_log_scale(curves: Sequence[npt.NDArray[np.float64]], factor: float = LOG_SCALE_FACTOR) -> bool:
    """True when any curve's largest positive value exceeds its smallest by more than ``factor``."""
    for curve in curves:
        positive = curve[curve > 0]
        if positive.size and float(positive.max()) > factor * float(positive.min()):
            return True
    return False


def plot_equity(report: EvaluationReport, path: Path) -> None:
    """Every policy's equity; log scale when one of them grows or shrinks by more than ``LOG_SCALE_FACTOR``."""
    results = [report.agent, *report.baselines.values()]
    fig, ax = plt.subplots(figsize=(11, 4.5))
    for res in results:
        ax.plot(_dates(res.time_ms), res.equity, label=res.name, linewidth=1.6 if res is report.agent else 1.0)
    scale = ""
    if needs_log_scale([r.equity for r in results]):
        ax.set_yscale("log")
        scale = ", log scale"
    ax.set_title(f"Equity, {report.symbol} {report.timeframe}, {report.split} split ({cost_tag(report)}{scale})")
    ax.set_ylabel("equity (quote)")
    ax.legend(loc="best", fontsize=8)
    _date_axis(ax)
    fig.tight_layout()
    save_png(fig, path)


def plot_drawdown(report: EvaluationReport, path: Path) -> None:
    """Every policy's drawdown below its running peak, in percent."""
    fig, ax = plt.subplots(figsize=(11, 3))
    for res in [report.agent, *report.baselines.values()]:
        ax.plot(_dates(res.time_ms), -100 * drawdown_series(res.equity), label=res.name, linewidth=1.0)
    ax.set_title(f"Drawdown (%) ({cost_tag(report)})")
    ax.legend(loc="lower left", fontsize=8)
    _date_axis(ax)
    fig.tight_layout()
    save_png(fig, path)


def sample_trades(trades: Sequence[TradeRecord], limit: int = MAX_MARKERS) -> tuple[list[TradeRecord], int]:
    """At most ``limit`` trades, evenly spread over the sequence, and the step between them (1 = all)."""
    step = max(1, math.ceil(len(trades) / limit))
    return list(trades[::step]), step


def _markers(ax: Axes, trades: Sequence[TradeRecord]) -> None:
    """Entry and exit markers per side, sampled when there are too many to read."""
    for side, marker, color in (("long", "^", "tab:green"), ("short", "v", "tab:red")):
        shown, step = sample_trades([t for t in trades if t.side == side])
        if not shown:
            continue
        every = "" if step == 1 else f", every {step}th"
        times = np.array([t.entry_time_ms for t in shown], dtype="datetime64[ms]")
        ax.scatter(
            times, [t.entry_price for t in shown], marker=marker, color=color, s=16, label=f"{side} entry{every}"
        )
        exits = np.array([t.exit_time_ms for t in shown], dtype="datetime64[ms]")
        ax.scatter(
            exits, [t.exit_price for t in shown], marker="x", color=color, s=12, linewidths=0.8, label=f"{side} exit"
        )


def positions_figure(result: BacktestResult, tag: str) -> Figure:
    """Price with (sampled) trade markers over the exposure as a filled step area: readable with thousands of trades.

    :param result: the agent's result.
    :param tag: the costs wording for the title.
    """
    fig, (ax_p, ax_x) = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True, height_ratios=[3, 1.4])
    dates = _dates(result.time_ms)
    ax_p.plot(dates, result.price, color="0.3", linewidth=0.7, label="close")
    _markers(ax_p, result.trades)
    ax_p.set_title(f"{result.name}: price, trades ({len(result.trades)}) and exposure ({tag})")
    ax_p.legend(loc="best", fontsize=8)
    ex = result.exposure
    ax_x.fill_between(dates, ex, 0.0, where=ex > 0, step="post", color="tab:green", alpha=0.6, linewidth=0)
    ax_x.fill_between(dates, ex, 0.0, where=ex < 0, step="post", color="tab:red", alpha=0.6, linewidth=0)
    ax_x.axhline(0.0, color="0.5", linewidth=0.5)
    ax_x.set_ylabel("exposure")
    _date_axis(ax_x)
    fig.tight_layout()
    return fig


def plot_positions(report: EvaluationReport, path: Path) -> None:
    """The agent's positions chart (see :func:`positions_figure`)."""
    save_png(positions_figure(report.agent, cost_tag(report)), path)


#: The parts of "where the return went", in order: gross, then each cost (subtracted), then net.
COST_PARTS: tuple[tuple[str, str], ...] = (
    ("gross", "tab:blue"),
    ("fees", "tab:red"),
    ("slippage", "tab:orange"),
    ("funding", "tab:purple"),
    ("net", "tab:green"),
)


def plot_costs(breakdown: dict[str, dict[str, float]], title: str, path: Path) -> None:
    """Grouped bars per policy: gross PnL, minus fees, slippage and funding, and the net PnL (% of initial equity).

    :param breakdown: policy -> part (``gross``, ``fees``, ``slippage``, ``funding``, ``net``) -> signed percent.
    """
    names = list(breakdown)
    x = np.arange(len(names), dtype=np.float64)
    width = 0.8 / len(COST_PARTS)
    fig, ax = plt.subplots(figsize=(max(8.0, 1.6 * len(names) + 3), 4.2))
    for k, (part, color) in enumerate(COST_PARTS):
        values = [breakdown[name][part] for name in names]
        ax.bar(x + (k - (len(COST_PARTS) - 1) / 2) * width, values, width, label=part, color=color)
    ax.axhline(0.0, color="0.3", linewidth=0.6)
    ax.set_xticks(x, names, fontsize=8, rotation=8 if len(names) > 4 else 0)
    ax.set_ylabel("% of initial equity")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8, ncols=len(COST_PARTS))
    fig.tight_layout()
    save_png(fig, path)
