"""Write an evaluation as ``metrics.json``, ``equity.csv``, ``report.md``, ``report.html`` and PNG charts.

Every file is readable offline and written atomically. A ``--fees-off`` report says so in its title, in every chart
title and in its headline sentences, so that a zero-cost figure is never mistaken for a tradable one.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.atomic import atomic_write_bytes
from bot.evaluation.report_charts import plot_costs, plot_drawdown, plot_equity, plot_positions
from bot.evaluation.report_format import cost_tag, is_short_span, json_safe, span_days
from bot.evaluation.report_html import markdown_to_html
from bot.evaluation.report_sections import (
    cost_breakdown,
    exit_lines,
    exit_reason_rows,
    metrics_lines,
    monthly_lines,
    monthly_returns,
    random_lines,
    sensitivity_lines,
    verdict_lines,
    where_lines,
)
from bot.evaluation.results import BacktestResult, EvaluationReport

__all__ = ["equity_columns", "json_safe", "write_report"]


def _title(report: EvaluationReport) -> str:
    suffix = " (--fees-off: ZERO fees and slippage)" if report.fees_off else ""
    return f"Evaluation of {report.checkpoint}{suffix}"


def _markdown(report: EvaluationReport) -> str:
    costs = (
        "Every policy runs through the same PortfolioManager with ZERO fees and slippage (--fees-off; funding kept)"
        if report.fees_off
        else "Every policy runs through the same PortfolioManager with the same fees, slippage and funding"
    )
    lines = [
        f"# {_title(report)}",
        "",
        f"Split **{report.split}**, {report.symbol} {report.timeframe}, {report.agent.metrics.n_bars} bars over"
        f" {span_days(report.agent):.1f} days. {costs}; decisions at bar close, fills at the next open.",
        "",
        *metrics_lines(report),
        *verdict_lines(report),
        *where_lines(report),
        *exit_lines(report),
        *monthly_lines(report),
        *random_lines(report),
        *sensitivity_lines(report),
        "",
        "![equity](equity.png)",
        "",
        "![drawdown](drawdown.png)",
        "",
        "![positions](positions.png)",
        "",
        "Every policy's equity at each bar's close is in equity.csv (one column per policy, by bar open time, UTC).",
    ]
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in report.notes]
    if report.fees_off:  # every section title too: a section read on its own must not pass for a tradable result
        lines = [f"{line} (--fees-off)" if line.startswith("## ") else line for line in lines]
    return "\n".join(lines) + "\n"


def equity_columns(report: EvaluationReport) -> dict[str, BacktestResult]:
    """Column name -> result of every policy curve in ``equity.csv``: the agent, the baselines, one run of each random
    policy, and the zero-cost re-runs (suffixed ``_zero_cost``)."""
    columns = {report.agent.name: report.agent, **report.baselines}
    if report.random is not None:
        columns["random_run1"] = report.random.example
    if report.random_paced is not None:
        columns["random_at_agent_pace_run1"] = report.random_paced.example
    columns.update({f"{name}_zero_cost": res for name, res in report.zero_cost.items()})
    return columns


def _equity_csv(report: EvaluationReport) -> bytes:
    """``open_time`` (ISO, UTC) and the equity of every policy at that bar's close; empty after a bankruptcy."""
    columns = equity_columns(report)
    times: npt.NDArray[np.int64] = np.unique(np.concatenate([r.time_ms for r in columns.values()]))
    table = np.full((times.size, len(columns)), np.nan)
    for j, res in enumerate(columns.values()):
        table[np.searchsorted(times, res.time_ms), j] = res.equity
    stamps = times.astype("datetime64[ms]").astype(str)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["open_time", *columns])
    for stamp, row in zip(stamps.tolist(), table.tolist(), strict=True):
        writer.writerow([f"{stamp}Z", *("" if v != v else repr(v) for v in row)])  # v != v: NaN, no mark there
    return buffer.getvalue().encode()


def _payload(report: EvaluationReport) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "split": report.split,
        "symbol": report.symbol,
        "timeframe": report.timeframe,
        "checkpoint": report.checkpoint,
        "fees_off": report.fees_off,
        "span_days": span_days(report.agent),
        "annualised_metrics_meaningful": not is_short_span(report),
        "agent": report.agent.metrics.as_dict(),
        "baselines": {k: v.metrics.as_dict() for k, v in report.baselines.items()},
        "zero_cost": {k: v.metrics.as_dict() for k, v in report.zero_cost.items()},
        "exit_reasons": {
            reason: {"trades": n, "share": share, "pnl": pnl}
            for reason, n, share, pnl in exit_reason_rows(report.agent)
        },
        "monthly_returns": {"agent": monthly_returns(report.agent)},
        "equity_file": "equity.csv",
        "notes": report.notes,
    }
    if "buy_and_hold" in report.baselines:
        payload["monthly_returns"]["buy_and_hold"] = monthly_returns(report.baselines["buy_and_hold"])
    for key, r in (("random", report.random), ("random_paced", report.random_paced)):
        if r is not None:
            payload[key] = {
                "n_runs": r.n_runs,
                "switch_prob": r.switch_prob,
                "mean": r.mean,
                "ci95_low": r.ci_low,
                "ci95_high": r.ci_high,
                "p2_5": r.p025,
                "p97_5": r.p975,
                "agent_beats_share": r.share_beaten_by(report.agent.metrics.total_return),
            }
    return payload


def write_report(report: EvaluationReport, out_dir: str | Path) -> dict[str, Path]:
    """Write metrics.json, equity.csv, report.md, report.html and the charts (equity, drawdown, positions, costs).

    CAGR and Calmar are shown as ``n/a`` for spans under 90 days (metrics.json keeps their values and
    says ``annualised_metrics_meaningful: false``).

    :return: file kind -> path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = ("equity", "drawdown", "positions", "costs")
    paths = {name: out / f"{name}.png" for name in names}
    paths |= {
        "metrics": out / "metrics.json",
        "equity_csv": out / "equity.csv",
        "markdown": out / "report.md",
        "html": out / "report.html",
    }
    plot_equity(report, paths["equity"])
    plot_drawdown(report, paths["drawdown"])
    plot_positions(report, paths["positions"])
    plot_costs(cost_breakdown(report), f"Where the return went ({cost_tag(report)})", paths["costs"])
    atomic_write_bytes(paths["metrics"], json.dumps(json_safe(_payload(report)), indent=2).encode())
    atomic_write_bytes(paths["equity_csv"], _equity_csv(report))
    markdown = _markdown(report)
    atomic_write_bytes(paths["markdown"], markdown.encode())
    atomic_write_bytes(paths["html"], markdown_to_html(_title(report), markdown).encode())
    return paths
