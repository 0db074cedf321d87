"""How the evaluation report writes numbers: the metrics table, value formats, costs wording, JSON-safe values."""

from __future__ import annotations

import math
from typing import Any

from bot.evaluation.results import BacktestResult, EvaluationReport

#: Spans shorter than this many days get no CAGR or Calmar: annualising a few weeks gives meaningless numbers.
SHORT_SPAN_DAYS = 90.0

#: Metrics shown in the tables, in order, with how to format them.
TABLE: list[tuple[str, str]] = [
    ("total_return", "pct"),
    ("cagr", "pct"),
    ("volatility", "pct"),
    ("sharpe", "num"),
    ("sortino", "num"),
    ("calmar", "num"),
    ("max_drawdown", "pct"),
    ("max_drawdown_days", "num"),
    ("win_rate", "pct"),
    ("profit_factor", "num"),
    ("expectancy", "num"),
    ("trades", "int"),
    ("trades_per_day", "num"),
    ("avg_holding_bars", "num"),
    ("exposure", "pct"),
    ("turnover", "num"),
    ("turnover_per_day", "num"),
    ("cost_drag", "pct"),
    ("cost_drag_equity", "pct"),
    ("fill_rate", "pct"),
    ("final_equity", "num"),
]

#: Every metric's format, the table's and the rest (cost amounts in quote).
KINDS: dict[str, str] = {
    **dict(TABLE),
    "gross_pnl": "num",
    "fees": "num",
    "slippage": "num",
    "funding": "num",
    "fees_paid": "num",
}

#: Annualised metrics hidden for short spans.
ANNUALISED = ("cagr", "calmar")


def fmt(value: float, kind: str) -> str:
    """``value`` as text: ``pct`` (fraction as percent), ``int`` or ``num``; non-finite as inf / -inf / n/a."""
    if kind == "int" and isinstance(value, float) and math.isfinite(value) and value != int(value):
        kind = "num"  # a mean of counts
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else ("-inf" if value < 0 else "n/a")
    if kind == "pct":
        return f"{value * 100:.2f}%"
    if kind == "int":
        return f"{int(value)}"
    return f"{value:.3f}"


def span_days(result: BacktestResult) -> float:
    """Calendar days between the first and the last mark of a result."""
    return (int(result.time_ms[-1]) - int(result.time_ms[0])) / 86_400_000


def is_short_span(report: EvaluationReport) -> bool:
    """True when the evaluated span is too short for annualised metrics (CAGR, Calmar)."""
    return span_days(report.agent) < SHORT_SPAN_DAYS


def metric_cell(key: str, value: float, short_span: bool) -> str:
    """One table cell; CAGR and Calmar read ``n/a: span < 90 days`` on short spans."""
    if short_span and key in ANNUALISED:
        return f"n/a: span < {SHORT_SPAN_DAYS:.0f} days"
    return fmt(value, KINDS.get(key, "num"))


def cost_tag(report: EvaluationReport) -> str:
    """What costs the figures include, for titles: every title of a ``--fees-off`` report says so."""
    if report.fees_off:
        return "--fees-off: ZERO fees and slippage, funding kept"
    return "fees, slippage and funding included"


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats (an infinite profit factor) as strings, recursively: JSON has no inf."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
