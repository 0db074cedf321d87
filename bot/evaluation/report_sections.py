"""Markdown sections of the evaluation report: metrics, verdict, where the return went, exits, months, randoms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from bot.evaluation.report_format import (
    KINDS,
    SHORT_SPAN_DAYS,
    TABLE,
    fmt,
    is_short_span,
    metric_cell,
    span_days,
)
from bot.evaluation.results import BacktestResult, EvaluationReport
from bot.portfolio import cost_drag
from bot.training import OPEN_AT_END

#: Exit reasons in the order the breakdown lists them (others the portfolio may add follow).
EXIT_REASONS = ("signal", "stop_loss", "take_profit", "max_holding", "liquidation", OPEN_AT_END)


def policy_rows(report: EvaluationReport) -> list[tuple[str, Mapping[str, Any]]]:
    """(name, metrics) of the agent, every baseline and each random policy's mean, in report order."""
    rows: list[tuple[str, Mapping[str, Any]]] = [(report.agent.name, report.agent.metrics.as_dict())]
    rows += [(name, res.metrics.as_dict()) for name, res in report.baselines.items()]
    rows += [(r.name, r.mean) for r in report.randoms]
    return rows


def metrics_lines(report: EvaluationReport) -> list[str]:
    """The metrics table: one row per metric, one column per policy."""
    rows = policy_rows(report)
    short = is_short_span(report)
    lines = ["| metric | " + " | ".join(name for name, _ in rows) + " |", "|---|" + "---|" * len(rows)]
    for key, _ in TABLE:
        lines.append(f"| {key} | " + " | ".join(metric_cell(key, vals[key], short) for _, vals in rows) + " |")
    if short:
        lines += [
            "",
            f"CAGR and Calmar are not shown: the span of {span_days(report.agent):.1f} days is under"
            f" {SHORT_SPAN_DAYS:.0f}, and annualising it would extrapolate noise (metrics.json keeps the raw values).",
        ]
    return lines


def verdict_lines(report: EvaluationReport) -> list[str]:
    """Plain facts for the question "is the agent worth anything": what it beats, with the costs the report used."""
    agent = report.agent.metrics
    beaten = [name for name, res in report.baselines.items() if agent.total_return > res.metrics.total_return]
    sharper = [name for name, res in report.baselines.items() if agent.sharpe > res.metrics.sharpe]
    basis = "With ZERO fees and slippage (--fees-off)" if report.fees_off else "Net of fees, slippage and funding"
    lines = [
        "",
        "## Verdict",
        "",
        f"- {basis} the agent returned {fmt(agent.total_return, 'pct')} (Sharpe {fmt(agent.sharpe, 'num')}):"
        f" a higher return than {len(beaten)} of {len(report.baselines)} baselines"
        f" ({', '.join(beaten) or 'none'}), a higher Sharpe than {len(sharper)} ({', '.join(sharper) or 'none'}).",
    ]
    if report.fees_off:
        lines.append("- These figures leave out fees and slippage: they are not what the agent would have earned.")
    for r in report.randoms:
        share = r.share_beaten_by(agent.total_return)
        lines.append(f"- Its total return beats {share:.0%} of the runs of the {r.name} policy.")
    zero = report.zero_cost.get(report.agent.name)
    if zero is not None:
        lines.append(
            f"- Without fees and slippage it would have returned {fmt(zero.metrics.total_return, 'pct')}:"
            f" costs took {fmt(zero.metrics.total_return - agent.total_return, 'pct')} of return."
        )
    days = span_days(report.agent)
    if days < 30:
        lines.append(f"- The test covers only {days:.1f} days: every figure here is noisy; test on more data.")
    return lines


def cost_breakdown(report: EvaluationReport) -> dict[str, dict[str, float]]:
    """Policy -> gross PnL, fees, slippage, funding (as subtracted, so negative when paid) and net PnL, in percent of
    the initial equity (the random policies as their means)."""
    initial = float(report.agent.equity[0])
    out: dict[str, dict[str, float]] = {}
    for name, m in policy_rows(report):
        gross, fees, slip, funding = (float(m[k]) for k in ("gross_pnl", "fees", "slippage", "funding"))
        out[name] = {
            "gross": 100 * gross / initial,
            "fees": -100 * fees / initial,
            "slippage": -100 * slip / initial,
            "funding": -100 * funding / initial,
            "net": 100 * (gross - fees - slip - funding) / initial,
        }
    return out


def _money(value: float, initial: float) -> str:
    value += 0.0  # -0.0 (a cost of nothing, negated) reads as +0.00
    return f"{value:+.2f} ({100 * value / initial:+.2f}%)"


def where_lines(report: EvaluationReport) -> list[str]:
    """ "Where the return went": gross PnL -> fees -> slippage -> funding -> net PnL, agent vs every policy."""
    initial = float(report.agent.equity[0])
    intro = (
        "Price PnL before every cost (gross), what each cost took, and what was left (net), in quote and in % of the"
        f" initial equity of {initial:.2f}. Cost drag is the costs' share of the gross PnL (inf: costs were paid"
        " without a gross edge)."
    )
    if report.fees_off:
        intro += " This is a --fees-off report: fees and slippage were set to ZERO; funding was kept."
    lines = [
        "",
        "## Where the return went",
        "",
        intro,
        "",
        "| policy | gross PnL | fees | slippage | funding | net PnL | cost drag | costs / initial equity |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, m in policy_rows(report):
        gross, fees, slip, funding = (float(m[k]) for k in ("gross_pnl", "fees", "slippage", "funding"))
        costs = fees + slip + funding
        cells = [_money(gross, initial), *(_money(-v, initial) for v in (fees, slip, funding))]
        cells.append(_money(gross - costs, initial))
        # from the row's own amounts: for a random policy, the drag of its mean costs on its mean gross PnL
        cells += [fmt(cost_drag(costs, gross), "pct"), fmt(costs / initial, "pct")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "![where the return went](costs.png)"]
    return lines


def exit_reason_rows(result: BacktestResult) -> list[tuple[str, int, float, float]]:
    """(reason, trades, share of trades, total PnL) per exit reason of ``result``'s trades."""
    reasons = list(EXIT_REASONS) + sorted({t.exit_reason for t in result.trades} - set(EXIT_REASONS))
    n = len(result.trades)
    rows = []
    for reason in reasons:
        pnls = [t.pnl for t in result.trades if t.exit_reason == reason]
        rows.append((reason, len(pnls), len(pnls) / n if n else 0.0, float(sum(pnls))))
    return rows


def exit_lines(report: EvaluationReport) -> list[str]:
    """The agent's trades by exit reason: count, share and total PnL."""
    lines = [
        "",
        "## Exit reasons (agent)",
        "",
        f"Why each of the agent's {len(report.agent.trades)} trades ended ({OPEN_AT_END}: still open at the end of a"
        " run, marked at its last close).",
        "",
        "| exit reason | trades | share | total PnL |",
        "|---|---|---|---|",
    ]
    for reason, count, share, pnl in exit_reason_rows(report.agent):
        lines.append(f"| {reason} | {count} | {fmt(share, 'pct')} | {pnl:+.2f} |")
    return lines


def monthly_returns(result: BacktestResult) -> dict[str, float]:
    """Calendar month (``YYYY-MM``, by bar open time, UTC) -> return over the month, from the previous month's last
    equity (the initial equity for the first month) to the month's last equity."""
    months = result.time_ms.astype("datetime64[ms]").astype("datetime64[M]")
    last = np.flatnonzero(np.append(months[1:] != months[:-1], True))
    out: dict[str, float] = {}
    previous = float(result.equity[0])
    for i in last.tolist():
        end = float(result.equity[i])
        out[str(months[i])] = end / previous - 1.0 if previous > 0 else 0.0
        previous = end
    return out


def monthly_lines(report: EvaluationReport) -> list[str]:
    """Monthly returns of the agent next to buy-and-hold's."""
    agent = monthly_returns(report.agent)
    bh_result = report.baselines.get("buy_and_hold")
    bh = monthly_returns(bh_result) if bh_result is not None else {}
    lines = [
        "",
        "## Monthly returns",
        "",
        "| month | agent | buy_and_hold | agent - buy_and_hold |",
        "|---|---|---|---|",
    ]
    for month, value in agent.items():
        other = bh.get(month)
        cells = [fmt(value, "pct"), "" if other is None else fmt(other, "pct")]
        cells.append("" if other is None else fmt(value - other, "pct"))
        lines.append(f"| {month} | " + " | ".join(cells) + " |")
    return lines


def random_lines(report: EvaluationReport) -> list[str]:
    """Each random baseline's spread, and where the agent falls in it."""
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
        for key in ("total_return", "sharpe", "max_drawdown", "trades", "turnover_per_day", "cost_drag_equity"):
            kind = KINDS[key]
            lines.append(
                f"| {key} | {fmt(r.mean[key], kind)} | [{fmt(r.ci_low[key], kind)}, {fmt(r.ci_high[key], kind)}] |"
                f" [{fmt(r.p025[key], kind)}, {fmt(r.p975[key], kind)}] | {fmt(agent[key], kind)} |"
            )
        share = r.share_beaten_by(report.agent.metrics.total_return)
        lines += ["", f"The agent's total return beats {share:.0%} of these runs."]
    return lines


def sensitivity_lines(report: EvaluationReport) -> list[str]:
    """The same policies with zero fees and slippage next to their results with costs."""
    if not report.zero_cost:
        return []
    lines = [
        "",
        "## Cost sensitivity",
        "",
        "The same policies with zero fees and slippage (the agent re-run: its actions may change with costs).",
        "",
        "| policy | total return with costs | without costs | Sharpe with costs | without costs | fees + slippage |",
        "|---|---|---|---|---|---|",
    ]
    for name, res in report.zero_cost.items():
        with_costs = report.agent if name == report.agent.name else report.baselines.get(name)
        if with_costs is not None:
            a, b = with_costs.metrics, res.metrics
            lines.append(
                f"| {name} | {fmt(a.total_return, 'pct')} | {fmt(b.total_return, 'pct')} |"
                f" {fmt(a.sharpe, 'num')} | {fmt(b.sharpe, 'num')} | {fmt(a.fees_paid, 'num')} |"
            )
    return lines
