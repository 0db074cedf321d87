"""write_report: every file exists, the PNGs are real images, the JSON, CSV and HTML hold the tables and sections."""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import replace
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from matplotlib.figure import Figure

from bot.config import PortfolioConfig
from bot.evaluation import report_charts
from bot.evaluation.baselines import buy_and_hold, flat, ma_crossover_runs, random_baseline, run_exposures
from bot.evaluation.metrics import TradeStats, compute_metrics
from bot.evaluation.report import json_safe, write_report
from bot.evaluation.report_charts import MAX_MARKERS, needs_log_scale, positions_figure
from bot.evaluation.report_sections import cost_breakdown, exit_reason_rows, monthly_returns
from bot.evaluation.results import BacktestResult, EvaluationReport
from bot.training.rollout import Costs, TradeRecord
from tests.support.market_builder import make_market, random_ohlcv

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HOUR_MS = 3_600_000
FUNDED = PortfolioConfig(order_type="market", funding_rate_8h=0.0001)
ZERO = PortfolioConfig(
    order_type="market", taker_fee=0.0, slippage_bps=0.0, slippage_range_frac=0.0, funding_rate_8h=0.0001
)


def _report(n: int, gap_at: int, timeframe: str, base_ms: int, vol: float = 0.002) -> EvaluationReport:
    market = make_market(random_ohlcv(n, seed=9, vol=vol), gap_at=gap_at, base_ms=base_ms)
    runs = [range(20, gap_at), range(gap_at + 30, n)]
    signals = ma_crossover_runs(market, runs, 5, 20, True)
    agent = run_exposures(market, runs, signals, FUNDED, "agent", timeframe)
    baselines = {
        "buy_and_hold": run_exposures(
            market, runs, [buy_and_hold(len(r)) for r in runs], FUNDED, "buy_and_hold", timeframe
        ),
        "flat": run_exposures(market, runs, [flat(len(r)) for r in runs], FUNDED, "flat", timeframe),
    }
    zero_cost = {
        "agent": run_exposures(market, runs, signals, ZERO, "agent", timeframe),
        "flat": run_exposures(market, runs, [flat(len(r)) for r in runs], ZERO, "flat", timeframe),
    }
    random = random_baseline(market, runs, [-1.0, 0.0, 1.0], FUNDED, timeframe, n_runs=4, seed=1)
    paced = random_baseline(market, runs, [-1.0, 0.0, 1.0], FUNDED, timeframe, n_runs=4, seed=1, switch_prob=0.05)
    return EvaluationReport(
        "test", timeframe, "TEST/USDT", "run_x (best)", agent, baselines, random, zero_cost, ["a note"], paced
    )


@pytest.fixture
def report() -> EvaluationReport:
    """400 bars of 5m (1.4 days) with a gap: a short span."""
    return _report(400, 200, "5m", 300_000)


@pytest.fixture(scope="module")
def long_report() -> EvaluationReport:
    """2,600 bars of 1h (about 108 days, four calendar months) with a gap; a volatile market."""
    return _report(2600, 1300, "1h", HOUR_MS, vol=0.01)


def test_write_report_files(report: EvaluationReport, tmp_path: Path) -> None:
    paths = write_report(report, tmp_path / "out")
    charts = {"equity", "drawdown", "positions", "costs"}
    assert set(paths) == charts | {"metrics", "equity_csv", "markdown", "html"}
    for kind in charts:
        data = paths[kind].read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
        image = mpimg.imread(paths[kind])
        assert image.shape[0] > 200 and image.shape[1] > 800
    payload = json.loads(paths["metrics"].read_text())
    assert payload["agent"]["n_bars"] == report.agent.metrics.n_bars
    assert set(payload["baselines"]) == {"buy_and_hold", "flat"}
    assert payload["random"]["n_runs"] == 4
    assert payload["random"]["ci95_low"]["total_return"] <= payload["random"]["mean"]["total_return"]
    assert payload["random_paced"]["switch_prob"] == 0.05
    assert set(payload["zero_cost"]) == {"agent", "flat"}
    assert payload["fees_off"] is False and payload["annualised_metrics_meaningful"] is False
    assert payload["equity_file"] == "equity.csv" and payload["agent"]["fill_rate"] == "nan"
    assert sum(e["trades"] for e in payload["exit_reasons"].values()) == report.agent.metrics.trades
    markdown = paths["markdown"].read_text()
    assert "## Random policy: a new level with probability 0.05 per bar" in markdown
    for text in (
        "| total_return |",
        "| turnover_per_day |",
        "| cost_drag |",
        "| trades_per_day |",
        "| fill_rate | n/a |",
        "## Cost sensitivity",
        "95% CI of the mean",
        "![equity](equity.png)",
        "## Where the return went",
        "![where the return went](costs.png)",
        "## Exit reasons (agent)",
        "## Monthly returns",
        "equity.csv",
        "a note",
        "Net of fees, slippage and funding the agent returned",
    ):
        assert text in markdown, text
    assert "--fees-off" not in markdown
    assert (
        "## Verdict" in markdown
        and "of 2 baselines" in markdown
        and "runs of the random (mean of 4) policy" in markdown
    )
    assert "costs took" in markdown and "test covers only 1.4 days" in markdown
    page = paths["html"].read_text()
    assert page.startswith("<!doctype html>") and "http" not in page  # nothing to fetch: readable offline
    for text in ('<img src="equity.png"', "<h2>Cost sensitivity</h2>", "<td>total_return</td>", "<li>a note</li>"):
        assert text in page
    assert "<h2>Where the return went</h2>" in page and '<img src="costs.png"' in page
    assert not list((tmp_path / "out").glob(".*"))  # no temp files left behind


def test_short_spans_show_no_cagr_or_calmar(
    report: EvaluationReport, long_report: EvaluationReport, tmp_path: Path
) -> None:
    short = write_report(report, tmp_path / "short")["markdown"].read_text()
    assert "| cagr | n/a: span < 90 days |" in short and "| calmar | n/a: span < 90 days |" in short
    assert "CAGR and Calmar are not shown: the span of 1.4 days is under 90" in short
    paths = write_report(long_report, tmp_path / "long")
    long = paths["markdown"].read_text()
    assert "n/a: span" not in long and "CAGR and Calmar are not shown" not in long
    cagr = long_report.agent.metrics.cagr
    assert f"| cagr | {cagr * 100:.2f}% |" in long
    assert json.loads(paths["metrics"].read_text())["annualised_metrics_meaningful"] is True


def test_where_the_return_went_adds_up(long_report: EvaluationReport, tmp_path: Path) -> None:
    breakdown = cost_breakdown(long_report)
    assert set(breakdown) == {"agent", "buy_and_hold", "flat", long_report.randoms[0].name, long_report.randoms[1].name}
    for name, result in [("agent", long_report.agent), *long_report.baselines.items()]:
        parts = breakdown[name]
        assert parts["gross"] + parts["fees"] + parts["slippage"] + parts["funding"] == pytest.approx(parts["net"])
        assert parts["net"] == pytest.approx(100 * result.metrics.total_return, rel=1e-9, abs=1e-9)
    agent = long_report.agent.metrics
    assert agent.funding != 0.0 and agent.fees > 0.0 and agent.slippage > 0.0
    assert breakdown["flat"] == {"gross": 0.0, "fees": 0.0, "slippage": 0.0, "funding": 0.0, "net": 0.0}
    markdown = write_report(long_report, tmp_path)["markdown"].read_text()
    row = next(line for line in markdown.splitlines() if line.startswith("| agent | ") and "%)" in line)
    assert f"{agent.gross_pnl:+.2f}" in row and f"{-agent.fees:+.2f}" in row and f"{-agent.funding:+.2f}" in row


def test_exit_reason_breakdown_by_hand() -> None:
    trades = tuple(
        TradeRecord(0, 1, "long", 1.0, 1.0, pnl, reason)
        for pnl, reason in ((5.0, "signal"), (-2.0, "stop_loss"), (3.0, "signal"), (-1.0, "open_at_end"), (4.0, "odd"))
    )
    result = replace(_tiny_result([100.0, 101.0]), trades=trades)
    rows = {reason: (n, share, pnl) for reason, n, share, pnl in exit_reason_rows(result)}
    assert list(rows) == ["signal", "stop_loss", "take_profit", "max_holding", "liquidation", "open_at_end", "odd"]
    assert rows["signal"] == (2, 0.4, 8.0) and rows["stop_loss"] == (1, 0.2, -2.0)
    assert rows["take_profit"] == (0, 0.0, 0.0) and rows["open_at_end"] == (1, 0.2, -1.0) and rows["odd"][0] == 1


def _tiny_result(equity: list[float], time_ms: list[int] | None = None, name: str = "agent") -> BacktestResult:
    times = np.array(time_ms if time_ms is not None else range(len(equity)), dtype=np.int64)
    eq = np.array(equity, dtype=np.float64)
    metrics = compute_metrics(eq, np.zeros_like(eq), [TradeStats(1.0, 1)], Costs(), "1h")
    return BacktestResult(name, times, eq, np.zeros_like(eq), eq.copy(), (), metrics)


def test_monthly_returns_by_hand() -> None:
    jan31 = int(np.datetime64("2024-01-31T22:00", "ms").astype(np.int64))
    times = [jan31, jan31 + HOUR_MS, jan31 + 2 * HOUR_MS, jan31 + 3 * HOUR_MS, jan31 + 30 * 24 * HOUR_MS]
    result = _tiny_result([100.0, 110.0, 99.0, 121.0, 133.1], times)
    months = monthly_returns(result)
    assert list(months) == ["2024-01", "2024-02", "2024-03"]
    assert months["2024-01"] == pytest.approx(0.10)  # 100 -> 110 (the last January close)
    assert months["2024-02"] == pytest.approx(0.10)  # 110 -> 121
    assert months["2024-03"] == pytest.approx(0.10)  # 121 -> 133.1


def test_monthly_table_has_agent_and_buy_and_hold(long_report: EvaluationReport, tmp_path: Path) -> None:
    paths = write_report(long_report, tmp_path)
    markdown = paths["markdown"].read_text()
    agent = monthly_returns(long_report.agent)
    assert len(agent) == 4 and "| month | agent | buy_and_hold | agent - buy_and_hold |" in markdown
    assert np.prod([1 + r for r in agent.values()]) == pytest.approx(1 + long_report.agent.metrics.total_return)
    first = next(iter(agent))
    bh = monthly_returns(long_report.baselines["buy_and_hold"])[first]
    assert f"| {first} | {agent[first] * 100:.2f}% | {bh * 100:.2f}% |" in markdown
    assert json.loads(paths["metrics"].read_text())["monthly_returns"]["buy_and_hold"][first] == pytest.approx(bh)


def test_equity_file_has_every_policy(report: EvaluationReport, tmp_path: Path) -> None:
    rows = list(csv.reader(write_report(report, tmp_path)["equity_csv"].read_text().splitlines()))
    header, body = rows[0], rows[1:]
    assert header == [
        "open_time",
        "agent",
        "buy_and_hold",
        "flat",
        "random_run1",
        "random_at_agent_pace_run1",
        "agent_zero_cost",
        "flat_zero_cost",
    ]
    assert len(body) == report.agent.time_ms.size  # every policy is marked on the same bars
    assert body[0][0] == str(report.agent.time_ms.astype("datetime64[ms]")[0]) + "Z"
    np.testing.assert_array_equal([float(r[1]) for r in body], report.agent.equity)  # written exactly
    np.testing.assert_array_equal([float(r[3]) for r in body], report.baselines["flat"].equity)


def _chart_titles(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Patch the PNG writer to record (title, y scale) of every axes of every chart written."""
    seen: list[tuple[str, str]] = []

    def record(fig: Figure, path: Path) -> None:
        seen.extend((ax.get_title(), ax.get_yscale()) for ax in fig.axes if ax.get_title())
        path.write_bytes(PNG_SIGNATURE)

    monkeypatch.setattr(report_charts, "save_png", record)
    return seen


def test_fees_off_reports_say_so_everywhere(
    report: EvaluationReport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    titles = _chart_titles(monkeypatch)
    paths = write_report(replace(report, fees_off=True, zero_cost={}), tmp_path)
    assert len(titles) == 4 and all("--fees-off: ZERO fees and slippage" in title for title, _ in titles)
    markdown = paths["markdown"].read_text()
    assert markdown.startswith("# Evaluation of run_x (best) (--fees-off: ZERO fees and slippage)")
    assert "with ZERO fees and slippage (--fees-off; funding kept)" in markdown.splitlines()[2]
    assert "With ZERO fees and slippage (--fees-off) the agent returned" in markdown
    assert "they are not what the agent would have earned" in markdown
    assert "This is a --fees-off report" in markdown and "Net of fees" not in markdown
    headings = [line for line in markdown.splitlines() if line.startswith("#")]
    assert len(headings) > 5 and all("--fees-off" in line for line in headings)
    assert "<title>Evaluation of run_x (best) (--fees-off: ZERO fees and slippage)</title>" in paths["html"].read_text()
    assert json.loads(paths["metrics"].read_text())["fees_off"] is True


def test_equity_goes_log_scale_when_a_curve_grows_large(
    report: EvaluationReport, long_report: EvaluationReport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert needs_log_scale([np.array([100.0, 150.0, 310.0])]) and needs_log_scale([np.array([100.0, 30.0, 0.0])])
    assert not needs_log_scale([np.array([100.0, 250.0, 120.0]), np.array([100.0, 40.0])])
    titles = _chart_titles(monkeypatch)
    write_report(report, tmp_path / "linear")
    assert titles[0][1] == "linear" and "log scale" not in titles[0][0]
    grown = replace(report.agent, equity=report.agent.equity * np.linspace(1.0, 5.0, report.agent.equity.size))
    titles.clear()
    write_report(replace(report, agent=grown), tmp_path / "log")
    assert titles[0][1] == "log" and "log scale" in titles[0][0]


def test_positions_chart_samples_thousands_of_trades(report: EvaluationReport) -> None:
    n = 5000
    times = report.agent.time_ms
    trades = tuple(
        TradeRecord(int(times[i % 300]), int(times[i % 300 + 1]), "long" if i % 2 else "short", 1.0, 1.0, 0.0, "signal")
        for i in range(n)
    )
    fig = positions_figure(replace(report.agent, trades=trades), "costs")
    markers = [c for c in fig.axes[0].collections]
    assert len(markers) == 4  # entries and exits of each side
    assert all(len(c.get_offsets()) <= MAX_MARKERS for c in markers)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "long entry, every 17th" in labels and "(5000)" in fig.axes[0].get_title()
    assert len(fig.axes[1].collections) == 2  # exposure: long and short filled step areas
    report_charts.plt.close(fig)


def test_report_files_get_ordinary_permissions(report: EvaluationReport, tmp_path: Path) -> None:
    # temp files are created 0600; the reports must stay readable by others (a web server, a colleague)
    old = os.umask(0o022)
    try:
        paths = write_report(report, tmp_path / "out")
    finally:
        os.umask(old)
    assert {oct(p.stat().st_mode & 0o777) for p in paths.values()} == {oct(0o644)}


def test_infinite_metrics_are_written_as_strings(report: EvaluationReport, tmp_path: Path) -> None:
    agent = replace(report.agent, metrics=replace(report.agent.metrics, profit_factor=math.inf))
    paths = write_report(replace(report, agent=agent), tmp_path)
    assert json.loads(paths["metrics"].read_text())["agent"]["profit_factor"] == "inf"
    assert "| profit_factor | inf |" in paths["markdown"].read_text()
    assert json_safe({"a": [math.nan, 1.0]}) == {"a": ["nan", 1.0]}


def test_report_without_random_or_zero_cost(report: EvaluationReport, tmp_path: Path) -> None:
    paths = write_report(replace(report, random=None, random_paced=None, zero_cost={}, notes=[]), tmp_path)
    markdown = paths["markdown"].read_text()
    assert "Cost sensitivity" not in markdown and "Random policy" not in markdown
    assert "random" not in json.loads(paths["metrics"].read_text())
    assert paths["equity_csv"].read_text().splitlines()[0] == "open_time,agent,buy_and_hold,flat"
