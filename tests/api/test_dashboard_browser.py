"""The dashboard in a real browser (Debian's chromium via Playwright) against the real server, the REAL trainer and
the REAL evaluator: one server and one short training job for the whole module. Every view at desktop (1400 px)
and phone (390 px) width; screenshots go to test-artifacts/.

The tests run in file order and share the module's job: the first watches it train live and cancels it once its
chart has more than 20 points (progress events come every 2 s), the next evaluate its checkpoint from the page.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.api import ApiSettings, create_app
from bot.api.db import Job, JobStatus, MetricSample, make_engine, make_session_factory
from bot.api.job_limits import JobLimits
from tests.api.helpers import AUTH, REPO_ROOT, TOKEN, fake_command, wait_for
from tests.api.live_server import ThreadedServer, free_port
from tests.api.paper_state_file import write_dry_run_state

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
DESKTOP = {"width": 1400, "height": 1000}
PHONE = {"width": 390, "height": 844}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.timeout(420),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                       "(apt-get install -y chromium; .ci/run installs it)"),
]
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

# A small synthetic run: fast steps, no periodic checkpoints or validation; a cancel saves its checkpoint.
TINY_CONFIG = """\
seed: 1
data:
  source: synthetic
  symbol: SYN/USDT
  timeframes: [5m, 1h]
  synthetic: {n_bars: 4000, seed: 7, signal_strength: 0.5}
features:
  indicators: [log_return, rsi, signal]
env: {window: 8, episode_length: 256}
evaluation: {n_random_runs: 3}
training:
  algo: ppo
  n_workers: 1
  n_envs_per_worker: 2
  checkpoint_freq: 0
  eval_freq: 0
  ppo: {n_steps: 128, batch_size: 128, n_epochs: 1, net_arch: [32, 32]}
"""
JOB_TIMEOUT_MS = 240_000  # torch import, dataset build and > 20 progress events (2 s apart) on a busy 2-core machine


@dataclass
class Dashboard:
    """The module's server, its short training job and the browser."""

    server: ThreadedServer
    browser: Any
    job_id: str
    workdir: Path

    def page(self, viewport: dict[str, int], route: str = "#/jobs", service_workers: str = "allow") -> Any:
        """A fresh page (own storage) holding the token, opened at ``route`` (``service_workers="block"`` lets
        ``page.route`` see every API request)."""
        context = self.browser.new_context(viewport=viewport, service_workers=service_workers)
        context.add_init_script(f"localStorage.setItem('botApiToken', '{TOKEN}')")
        page = context.new_page()
        page.goto(f"{self.server.base_url}/dashboard{route}")
        return page

    def run_id(self) -> str:
        """The run folder of the module's job (known once it has started)."""
        job = httpx.get(f"{self.server.base_url}/api/training/jobs/{self.job_id}").json()
        return Path(job["checkpoint"]).name


def _settings(workdir: Path, **overrides: Any) -> ApiSettings:
    fields: dict[str, Any] = {
        "db_path": workdir / "store" / "api.sqlite", "token": TOKEN, "config_dir": workdir / "config",
        "checkpoint_dir": workdir / "checkpoints", "jobs_dir": workdir / "store" / "jobs",
        "paper_state_path": workdir / "paper_state.sqlite", "trusted_hosts": ("127.0.0.1", "localhost"),
        "limits": JobLimits(max_workers=8), "workdir": REPO_ROOT, "poll_interval_s": 0.1, "cancel_grace_s": 30.0,
    }
    return ApiSettings(**{**fields, **overrides})


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    workdir = tmp_path_factory.mktemp("dashboard")
    (workdir / "config").mkdir()
    shutil.copy(REPO_ROOT / "config" / "demo.yaml", workdir / "config" / "demo.yaml")
    (workdir / "config" / "tiny.yaml").write_text(TINY_CONFIG)
    write_dry_run_state(workdir / "paper_state.sqlite")
    ARTIFACTS.mkdir(exist_ok=True)
    server = ThreadedServer(create_app(_settings(workdir)))
    reply = httpx.post(f"{server.base_url}/api/training/jobs", headers=AUTH,
                       json={"config": "tiny.yaml", "timesteps": 5_000_000, "workers": 1})
    assert reply.status_code == 202, reply.text
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield Dashboard(server, browser, reply.json()["job_id"], workdir)
        finally:
            browser.close()
            server.stop()


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"dashboard_{name}.png"), full_page=True)


def _no_horizontal_overflow(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"page is {width} px wide at {page.viewport_size['width']} px"


def _chart_points(page: Any, minimum: int, timeout_ms: float = 30_000) -> None:
    page.wait_for_function(f"Number(document.querySelector('#d-chart')?.dataset.points || 0) > {minimum}",
                           timeout=timeout_ms)
    assert page.locator("#d-chart canvas").count() >= 1


def test_jobs_view_watches_a_real_job_live_then_cancels_it(dash: Dashboard) -> None:
    page = dash.page(DESKTOP)
    expect(page.locator("#rest-health")).to_have_class(re.compile(r"\bok\b"))
    expect(page.locator("#ws-health")).to_have_class(re.compile(r"\bok\b"))
    # the models strip (the sync status's models block): the running PPO job (its start waits for torch's import
    # and, on a fresh machine, the numba kernels' first compile: a job's time, not the page's), no LSTM job yet
    expect(page.locator("#models .model", has_text="PPO").first).to_contain_text("running", timeout=JOB_TIMEOUT_MS)
    expect(page.locator("#models .model", has_text="LSTM")).to_contain_text("no job yet")
    # a validation error from the start form names the field
    page.click("#start-panel summary")
    page.fill("#f-overrides", "training.n_workers=0")
    page.click("#start-submit")
    expect(page.locator("#form-message")).to_contain_text("training.n_workers")
    page.fill("#f-overrides", "")
    page.locator(f"#jobs-list li[data-job-id='{dash.job_id}'] a").click()
    expect(page).to_have_url(re.compile(f"#/jobs/{dash.job_id}$"))
    expect(page.locator("#d-status")).to_have_text("running", timeout=JOB_TIMEOUT_MS)
    first = page.locator("#d-progress-text").inner_text()
    _chart_points(page, 20, JOB_TIMEOUT_MS)  # live: the points arrive over the WebSocket
    assert page.locator("#d-progress-text").inner_text() != first
    _shot(page, "job_running_1400")
    page.reload()  # the route survives a reload
    expect(page.locator("#d-id")).to_have_text(dash.job_id)
    _chart_points(page, 20)
    page.click("button.tab:text('losses')")
    _chart_points(page, 20)
    page.click("#d-cancel")
    expect(page.locator("#d-status")).to_have_text("cancelled", timeout=60_000)
    expect(page.locator(f"#jobs-list li[data-job-id='{dash.job_id}']")).to_have_attribute("data-status", "cancelled")
    expect(page.locator("#d-run-link")).to_have_text(dash.run_id())
    _shot(page, "job_cancelled_1400")


def test_runs_view_evaluates_a_checkpoint_and_opens_its_report(dash: Dashboard) -> None:
    run_id = dash.run_id()
    page = dash.page(DESKTOP, "#/runs")
    page.locator(f"#runs-list li[data-run-id='{run_id}'] a").click()
    expect(page.locator("#r-id")).to_have_text(run_id)
    expect(page.locator("#run-detail")).to_contain_text("SYN/USDT")
    page.select_option("#e-which", "latest")
    page.click("#e-submit")
    expect(page.locator("#e-message")).to_contain_text("accepted")
    page.locator("#e-message a").click()
    expect(page.locator("#d-status")).to_have_text("completed", timeout=JOB_TIMEOUT_MS)
    page.click("#d-run-link")
    expect(page).to_have_url(re.compile(f"#/runs/{run_id}/report/eval_test_latest$"))
    report = page.frame_locator("#r-report")
    expect(report.locator("h1")).to_contain_text("Evaluation of")
    expect(report.locator("img").first).to_be_visible()
    page.reload()
    expect(page.frame_locator("#r-report").locator("h1")).to_contain_text("Evaluation of")
    _shot(page, "report_1400")


def test_paper_view_shows_candles_fills_position_and_equity(dash: Dashboard) -> None:
    page = dash.page(DESKTOP, "#/paper")
    expect(page.locator("#paper-state")).to_have_text("running")
    expect(page.locator("#paper-price")).to_have_attribute("data-kind", "candles")
    expect(page.locator("#paper-fills tbody tr")).to_have_count(3)
    expect(page.locator("#paper-kpis")).to_contain_text("armed (not tripped)")
    expect(page.locator("#paper-kpis")).to_contain_text("0.1 @")
    assert page.locator("#paper-price canvas").count() >= 1 and page.locator("#paper-equity canvas").count() >= 1
    _shot(page, "paper_1400")


def test_paper_view_draws_a_close_line_for_bars_without_candles(dash: Dashboard) -> None:
    """A state file written before the trader kept candles: ``GET /api/paper`` gives their open/high/low as null."""

    def without_candles(route: Any) -> None:
        response = route.fetch()
        view = response.json()
        view["bars"] = [{**bar, "open": None, "high": None, "low": None, "volume": None} for bar in view["bars"]]
        route.fulfill(response=response, json=view)

    page = dash.page(DESKTOP, service_workers="block")
    page.route("**/api/paper*", without_candles)
    page.goto(f"{dash.server.base_url}/dashboard#/paper")
    expect(page.locator("#paper-price")).to_have_attribute("data-kind", "close")
    expect(page.locator("#paper-fills tbody tr")).to_have_count(3)
    _shot(page, "paper_close_line_1400")


def test_every_view_fits_a_phone(dash: Dashboard) -> None:
    run_id = dash.run_id()
    page = dash.page(PHONE)
    views = [
        ("jobs", "#/jobs", "#jobs-list li[data-job-id]"),
        ("job", f"#/jobs/{dash.job_id}", "#d-chart canvas"),
        ("runs", "#/runs", "#runs-list li[data-run-id]"),
        ("run", f"#/runs/{run_id}", "#evaluate-form"),
        ("report", f"#/runs/{run_id}/report/eval_test_latest", "#r-report"),
        ("paper", "#/paper", "#paper-fills tbody tr"),
    ]
    for name, route, ready in views:
        page.goto(f"{dash.server.base_url}/dashboard{route}")
        expect(page.locator(ready).first).to_be_visible()
        if name == "job":
            _chart_points(page, 20)
            expect(page.locator("#jobs-list")).to_be_hidden()  # one column: the detail alone, with a way back
            expect(page.locator("#job-detail .back")).to_be_visible()
        _no_horizontal_overflow(page)
        _shot(page, f"{name}_390")


def _nan_job(db_path: Path) -> str:
    """A completed job whose metrics went NaN halfway (stored as null, as the event mapping stores them)."""
    sessions = make_session_factory(make_engine(db_path))
    now = time.time()
    job = Job(id="nanjob000001", kind="train", params={}, status=JobStatus.COMPLETED, algo="ppo", workers=1, seed=0,
              symbol="SYN/USDT", timeframe="5m", config_name="demo.yaml", overrides=[], created_at=now,
              updated_at=now, queued_at=now, started_at=now, finished_at=now + 60, total_timesteps=3000,
              timesteps=3000, metrics={"reward": None, "validation/sharpe": None}, attempt=1)
    with sessions() as session, session.begin():
        session.add(job)
        session.add_all(MetricSample(job_id=job.id, time=now + i, timesteps=100 * i, fps=50.0,
                                     metrics={"reward": float(i) if i < 15 else None}) for i in range(30))
    return job.id


def test_bad_routes_tokens_nan_metrics_and_a_server_restart(dash: Dashboard) -> None:
    workdir = dash.workdir / "restart"
    (workdir / "config").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "config" / "demo.yaml", workdir / "config" / "demo.yaml")
    settings = _settings(workdir, trainer_command=fake_command("complete"), cancel_grace_s=5.0)
    nan_id = _nan_job(settings.db_path)
    port = free_port()
    server = ThreadedServer(create_app(settings), port=port)
    try:
        page = dash.page(DESKTOP, "#/jobs/no-such-job")
        page.goto(f"{server.base_url}/dashboard#/jobs/no-such-job")
        expect(page.locator("#d-missing")).to_contain_text("no-such-job does not exist")
        page.locator(f"#jobs-list li[data-job-id='{nan_id}'] a").click()  # recovers without a reload
        expect(page.locator("#d-chart-note")).to_contain_text("NaN or missing")
        expect(page.locator("#job-detail")).to_contain_text("NaN (not a number)")
        page.goto(f"{server.base_url}/dashboard#/runs/not%20a%20run!")
        expect(page.locator("#r-missing")).to_contain_text("plain folder name")
        # an expired token: the start form and the live events say so
        page.fill("#token-input", "expired-token")
        page.click("#token-save")
        expect(page.locator("#ws-health")).to_have_class(re.compile(r"\bbad\b"))
        expect(page.locator("#banner")).to_contain_text("token")
        page.goto(f"{server.base_url}/dashboard#/jobs")
        page.click("#start-panel summary")
        page.click("#start-submit")
        expect(page.locator("#form-message")).to_contain_text("token rejected")
        page.fill("#token-input", TOKEN)
        page.click("#token-save")
        expect(page.locator("#ws-health")).to_have_class(re.compile(r"\bok\b"))
        # the server goes away while the page is open, and comes back on the same address
        page.wait_for_function("navigator.serviceWorker.controller !== null")  # the shell is cached
        server.stop()
        expect(page.locator("#offline")).to_be_visible(timeout=20_000)
        expect(page.locator("#jobs-list li[data-job-id]").first).to_be_visible()  # the last data stays
        page.reload()  # the service worker serves the page and the last answers
        expect(page.locator("#offline")).to_be_visible(timeout=20_000)
        expect(page.locator(f"#jobs-list li[data-job-id='{nan_id}']")).to_be_visible()
        _shot(page, "offline_1400")
        server = ThreadedServer(create_app(settings), port=port)
        expect(page.locator("#offline")).to_be_hidden(timeout=30_000)
        expect(page.locator("#ws-health")).to_have_class(re.compile(r"\bok\b"), timeout=30_000)
        expect(page.locator("#rest-health")).to_have_class(re.compile(r"\bok\b"))
    finally:
        server.stop()
    wait_for(lambda: not server.thread.is_alive(), timeout_s=30)
