"""Write an evaluation as ``metrics.json``, ``report.md``, ``report.html`` and PNG charts (readable offline)."""

from __future__ import annotations

import html
import io
import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from bot.atomic import atomic_write_bytes
from bot.evaluation.metrics import drawdown_series
from bot.evaluation.results import BacktestResult, EvaluationReport

#: Metrics shown in the tables, in order, with how to format them.
_TABLE: list[tuple[str, str]] = [
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
    ("avg_holding_bars", "num"),
    ("exposure", "pct"),
    ("turnover", "num"),
    ("fees_paid", "num"),
    ("final_equity", "num"),
]


def _fmt(value: float, kind: str) -> str:
    if kind == "int" and isinstance(value, float) and math.isfinite(value) and value != int(value):
        kind = "num"  # a mean of counts
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else ("-inf" if value < 0 else "nan")
    if kind == "pct":
        return f"{value * 100:.2f}%"
    if kind == "int":
        return f"{int(value)}"
    return f"{value:.3f}"


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats (an infinite profit factor) as strings, recursively: JSON has no inf."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _save(fig: Figure, path: Path) -> None:
    """Save a figure as PNG atomically and free it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def _dates(result: BacktestResult) -> np.ndarray:
    return result.time_ms.astype("datetime64[ms]")


def _plot_equity(report: EvaluationReport, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(11, 4.5))
    for res in [report.agent, *report.baselines.values()]:
        ax.plot(_dates(res), res.equity, label=res.name, linewidth=1.6 if res is report.agent else 1.0)
    ax.set_title(f"Equity, {report.symbol} {report.timeframe}, {report.split} split (costs included)")
    ax.set_ylabel("equity (quote)")
    ax.legend(loc="best", fontsize=8)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
    fig.tight_layout()
    _save(fig, path)


def _plot_drawdown(report: EvaluationReport, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(11, 3))
    for res in [report.agent, *report.baselines.values()]:
        ax.plot(_dates(res), -100 * drawdown_series(res.equity), label=res.name, linewidth=1.0)
    ax.set_title("Drawdown (%)")
    ax.legend(loc="lower left", fontsize=8)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
    fig.tight_layout()
    _save(fig, path)


def _plot_positions(result: BacktestResult, path: Path) -> None:
    fig, (ax_p, ax_x) = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True, height_ratios=[3, 1])
    ax_p.plot(_dates(result), result.price, color="0.3", linewidth=0.8, label="close")
    for side, marker, color in (("long", "^", "tab:green"), ("short", "v", "tab:red")):
        trades = [t for t in result.trades if t.side == side]
        if trades:
            ax_p.scatter(
                np.array([t.entry_time_ms for t in trades], dtype="datetime64[ms]"),
                [t.entry_price for t in trades],
                marker=marker,
                color=color,
                s=18,
                label=f"{side} entry",
            )
    exits = result.trades
    if exits:
        ax_p.scatter(
            np.array([t.exit_time_ms for t in exits], dtype="datetime64[ms]"),
            [t.exit_price for t in exits],
            marker="x",
            color="k",
            s=14,
            label="exit",
        )
    ax_p.set_title(f"{result.name}: position over price with trade markers")
    ax_p.legend(loc="best", fontsize=8)
    ax_x.fill_between(_dates(result), result.exposure, step="post", color="tab:blue", alpha=0.5)
    ax_x.set_ylabel("exposure")
    ax_x.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax_x.xaxis.get_major_locator()))
    fig.tight_layout()
    _save(fig, path)


def _rows(report: EvaluationReport) -> list[tuple[str, dict[str, Any]]]:
    rows: list[tuple[str, dict[str, Any]]] = [(report.agent.name, report.agent.metrics.as_dict())]
    rows += [(name, res.metrics.as_dict()) for name, res in report.baselines.items()]
    rows += [(r.name, r.mean) for r in report.randoms]
    return rows


def _verdict_lines(report: EvaluationReport) -> list[str]:
    """Plain facts for the question "is the agent worth anything": what it beats, net of costs."""
    agent = report.agent.metrics
    beaten = [name for name, res in report.baselines.items() if agent.total_return > res.metrics.total_return]
    sharper = [name for name, res in report.baselines.items() if agent.sharpe > res.metrics.sharpe]
    lines = [
        "",
        "## Verdict",
        "",
        f"- Net of costs the agent returned {_fmt(agent.total_return, 'pct')} (Sharpe {_fmt(agent.sharpe, 'num')}):"
        f" a higher return than {len(beaten)} of {len(report.baselines)} baselines"
        f" ({', '.join(beaten) or 'none'}), a higher Sharpe than {len(sharper)} ({', '.join(sharper) or 'none'}).",
    ]
    for r in report.randoms:
        share = r.share_beaten_by(agent.total_return)
        lines.append(f"- Its total return beats {share:.0%} of the runs of the {r.name} policy.")
    zero = report.zero_cost.get(report.agent.name)
    if zero is not None:
        lines.append(
            f"- Without fees and slippage it would have returned {_fmt(zero.metrics.total_return, 'pct')}:"
            f" costs took {_fmt(zero.metrics.total_return - agent.total_return, 'pct')} of return."
        )
    days = (int(report.agent.time_ms[-1]) - int(report.agent.time_ms[0])) / 86_400_000
    if days < 30:
        lines.append(f"- The test covers only {days:.1f} days: every figure here is noisy; test on more data.")
    return lines


def _random_lines(report: EvaluationReport) -> list[str]:
    """Each random baseline's spread, and where the agent falls in it."""
    kinds = dict(_TABLE)
    agent = report.agent.metrics.as_dict()
    lines: list[str] = []
    for r in report.randoms:
        pace = (
            "a new uniform level every bar"
            if r.switch_prob >= 1.0
            else f"a new level with probability {r.switch_prob:.3g} per bar (trades about as often as the agent)"
        )
        lines += [
            "",
            f"## Random policy: {pace}",
            "",
            f"{r.n_runs} seeded runs: mean, 95% CI of the mean, and the 2.5-97.5% range of single runs.",
            "",
            "| metric | mean | 95% CI of the mean | 2.5% - 97.5% of runs | agent |",
            "|---|---|---|---|---|",
        ]
        for key in ("total_return", "sharpe", "max_drawdown", "trades", "fees_paid"):
            kind = kinds[key]
            lines.append(
                f"| {key} | {_fmt(r.mean[key], kind)} | [{_fmt(r.ci_low[key], kind)}, {_fmt(r.ci_high[key], kind)}] |"
                f" [{_fmt(r.p025[key], kind)}, {_fmt(r.p975[key], kind)}] | {_fmt(agent[key], kind)} |"
            )
        share = r.share_beaten_by(report.agent.metrics.total_return)
        lines += ["", f"The agent's total return beats {share:.0%} of these runs."]
    return lines


def _markdown(report: EvaluationReport) -> str:
    rows = _rows(report)
    lines = [
        f"# Evaluation of {report.checkpoint}",
        "",
        f"Split **{report.split}**, {report.symbol} {report.timeframe}, bars {report.agent.metrics.n_bars}. "
        "Same PortfolioManager and costs for every policy; decisions at bar close, fills at the next open.",
        "",
        "| metric | " + " | ".join(name for name, _ in rows) + " |",
        "|---|" + "---|" * len(rows),
    ]
    for key, kind in _TABLE:
        lines.append(f"| {key} | " + " | ".join(_fmt(vals[key], kind) for _, vals in rows) + " |")
    lines += _verdict_lines(report)
    lines += _random_lines(report)
    if report.zero_cost:
        lines += [
            "",
            "## Cost sensitivity",
            "",
            "The same policies with zero fees and slippage (the agent re-run: its actions may change with costs).",
            "",
            "| policy | total return with costs | without costs | Sharpe with costs | without costs | costs paid |",
            "|---|---|---|---|---|---|",
        ]
        for name, res in report.zero_cost.items():
            with_costs = report.agent if name == report.agent.name else report.baselines.get(name)
            if with_costs is not None:
                a, b = with_costs.metrics, res.metrics
                lines.append(
                    f"| {name} | {_fmt(a.total_return, 'pct')} | {_fmt(b.total_return, 'pct')} |"
                    f" {_fmt(a.sharpe, 'num')} | {_fmt(b.sharpe, 'num')} | {_fmt(a.fees_paid, 'num')} |"
                )
    lines += ["", "![equity](equity.png)", "", "![drawdown](drawdown.png)", "", "![positions](positions.png)"]
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in report.notes]
    return "\n".join(lines) + "\n"


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
    "img{max-width:100%;display:block;margin:1em 0}"
)


def _inline(text: str) -> str:
    """Escape, then turn ``**bold**`` into ``<b>`` (the only inline markup the markdown report uses)."""
    parts = html.escape(text).split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))


def _block(line: str) -> str:
    """One non-table, non-list markdown line as HTML: a heading, an image or a paragraph."""
    if line.startswith("## "):
        return f"<h2>{_inline(line[3:])}</h2>"
    if line.startswith("# "):
        return f"<h1>{_inline(line[2:])}</h1>"
    if line.startswith("!["):
        alt, src = line[2:].split("](", 1)
        return f'<img src="{html.escape(src.rstrip(")"))}" alt="{html.escape(alt)}">'
    return f"<p>{_inline(line)}</p>"


def _html(title: str, markdown: str) -> str:
    """Render the report's markdown (headings, tables, images, lists, paragraphs) as a standalone HTML page."""
    out: list[str] = []
    table: list[list[str]] = []
    items: list[str] = []

    def flush() -> None:
        if table:
            head = "".join(f"<th>{_inline(c)}</th>" for c in table[0])
            body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in table[1:])
            out.append(f"<table><tr>{head}</tr>{body}</table>")
            table.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            items.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= set("-: ") for c in cells):
                table.append(cells)
            continue
        if line.startswith("- "):
            items.append(line[2:])
            continue
        flush()
        if line:
            out.append(_block(line))
    flush()
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>\n" + "\n".join(out) + "\n</body></html>\n"
    )


def write_report(report: EvaluationReport, out_dir: str | Path) -> dict[str, Path]:
    """Write metrics.json, report.md, report.html, equity.png, drawdown.png and positions.png into ``out_dir``.

    :return: file kind -> path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "equity": out / "equity.png",
        "drawdown": out / "drawdown.png",
        "positions": out / "positions.png",
        "metrics": out / "metrics.json",
        "markdown": out / "report.md",
        "html": out / "report.html",
    }
    _plot_equity(report, paths["equity"])
    _plot_drawdown(report, paths["drawdown"])
    _plot_positions(report.agent, paths["positions"])
    payload: dict[str, Any] = {
        "split": report.split,
        "symbol": report.symbol,
        "timeframe": report.timeframe,
        "checkpoint": report.checkpoint,
        "agent": report.agent.metrics.as_dict(),
        "baselines": {k: v.metrics.as_dict() for k, v in report.baselines.items()},
        "zero_cost": {k: v.metrics.as_dict() for k, v in report.zero_cost.items()},
        "notes": report.notes,
    }
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
    atomic_write_bytes(paths["metrics"], json.dumps(json_safe(payload), indent=2).encode())
    markdown = _markdown(report)
    atomic_write_bytes(paths["markdown"], markdown.encode())
    atomic_write_bytes(paths["html"], _html(f"Evaluation of {report.checkpoint}", markdown).encode())
    return paths
