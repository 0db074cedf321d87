"""write_report: every file exists, the PNGs are real images, the JSON and HTML hold the tables."""

from __future__ import annotations

import json
import math
import os
from dataclasses import replace
from pathlib import Path

import matplotlib.image as mpimg
import pytest

from bot.config import PortfolioConfig
from bot.evaluation.baselines import buy_and_hold, flat, ma_crossover_runs, random_baseline, run_exposures
from bot.evaluation.report import json_safe, write_report
from bot.evaluation.results import EvaluationReport
from tests.support.market_builder import make_market, random_ohlcv

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def report() -> EvaluationReport:
    market = make_market(random_ohlcv(400, seed=9), gap_at=200)
    runs = [range(20, 200), range(230, 400)]
    costs = PortfolioConfig()
    agent = run_exposures(market, runs, ma_crossover_runs(market, runs, 5, 20, True), costs, "agent", "5m")
    baselines = {
        "buy_and_hold": run_exposures(market, runs, [buy_and_hold(len(r)) for r in runs], costs, "buy_and_hold", "5m"),
        "flat": run_exposures(market, runs, [flat(len(r)) for r in runs], costs, "flat", "5m"),
    }
    zero = PortfolioConfig(taker_fee=0.0, slippage_bps=0.0, slippage_range_frac=0.0)
    zero_cost = {
        "agent": run_exposures(market, runs, ma_crossover_runs(market, runs, 5, 20, True), zero, "agent", "5m"),
        "flat": run_exposures(market, runs, [flat(len(r)) for r in runs], zero, "flat", "5m"),
    }
    random = random_baseline(market, runs, [-1.0, 0.0, 1.0], costs, "5m", n_runs=4, seed=1)
    paced = random_baseline(market, runs, [-1.0, 0.0, 1.0], costs, "5m", n_runs=4, seed=1, switch_prob=0.05)
    return EvaluationReport(
        "test", "5m", "TEST/USDT", "run_x (best)", agent, baselines, random, zero_cost, ["a note"], paced
    )


def test_write_report_files(report: EvaluationReport, tmp_path: Path) -> None:
    paths = write_report(report, tmp_path / "out")
    assert set(paths) == {"equity", "drawdown", "positions", "metrics", "markdown", "html"}
    for kind in ("equity", "drawdown", "positions"):
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
    assert "## Random policy: a new level with probability 0.05 per bar" in paths["markdown"].read_text()
    assert set(payload["zero_cost"]) == {"agent", "flat"}
    markdown = paths["markdown"].read_text()
    for text in ("| total_return |", "## Cost sensitivity", "95% CI of the mean", "![equity](equity.png)", "a note"):
        assert text in markdown
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
    assert not list((tmp_path / "out").glob(".*"))  # no temp files left behind


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
