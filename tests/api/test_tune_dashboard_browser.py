"""The dashboard's live trials table of a tune job, in a real browser (Debian's chromium via Playwright) against the
real server and the fake tune command (tests/api/fake_tuner.py): rows appear and update as the trials report, and
the job's Cancel button ends the unfinished ones as ``stopped``."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.api import ApiSettings, create_app
from tests.api.helpers import AUTH, REPO_ROOT, TOKEN
from tests.api.live_server import ThreadedServer
from tests.api.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
FAKE_TUNER = Path(__file__).resolve().parent / "fake_tuner.py"


def test_the_trials_table_updates_live_and_cancel_stops_the_trials(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    shutil.copy(REPO_ROOT / "config" / "demo.yaml", tmp_path / "config" / "demo.yaml")
    settings = ApiSettings(
        db_path=tmp_path / "store" / "api.sqlite", token=TOKEN, config_dir=tmp_path / "config",
        checkpoint_dir=tmp_path / "checkpoints", jobs_dir=tmp_path / "store" / "jobs", workdir=REPO_ROOT,
        trusted_hosts=("127.0.0.1", "localhost"), poll_interval_s=0.1, cancel_grace_s=30.0,
        tuner_command=(sys.executable, str(FAKE_TUNER), "--scenario", "slow"),
    )
    server = ThreadedServer(create_app(settings))
    try:
        reply = httpx.post(f"{server.base_url}/api/tune/jobs", headers=AUTH, json={
            "config": "demo.yaml", "num_samples": 2, "scheduler": "asha",
            "space": {"training.ppo.learning_rate": {"loguniform": [1e-4, 1e-3]}}})
        assert reply.status_code == 202, reply.text
        job_id = reply.json()["job_id"]
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(viewport=DESKTOP)
                context.add_init_script(f"localStorage.setItem('botApiToken', '{TOKEN}')")
                page: Any = context.new_page()
                page.goto(f"{server.base_url}/dashboard#/jobs/{job_id}")
                first, second = page.locator("#d-trials tr[data-trial-id=t0]"), page.locator(
                    "#d-trials tr[data-trial-id=t1]")
                expect(first).to_have_attribute("data-status", "terminated", timeout=30_000)
                expect(second).to_have_attribute("data-status", "running")
                expect(page.locator("#d-trials")).to_contain_text("learning_rate=0.002")
                # live: the running trial's step grows as its events arrive over the WebSocket
                step = int(second.locator("td").nth(2).inner_text().replace(",", ""))
                page.wait_for_function(
                    "s => Number(document.querySelector('#d-trials tr[data-trial-id=t1] td:nth-child(3)')"
                    ".textContent.replace(/,/g, '')) > s", arg=step, timeout=30_000)
                # the best trial comes first
                assert page.locator("#d-trials tbody tr").first.get_attribute("data-trial-id") == "t1"
                page.locator("#d-cancel").click()
                expect(second).to_have_attribute("data-status", "stopped", timeout=30_000)
                expect(page.locator("#d-status")).to_have_text("cancelled", timeout=30_000)
            finally:
                browser.close()
    finally:
        server.stop()
