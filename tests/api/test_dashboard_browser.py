"""The dashboard in a real browser (Debian's chromium via Playwright) driving the REAL trainer: start a job from the
page, watch its progress bar advance to completed, see a validation error, cancel another job. Screenshots go to
test-artifacts/."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.api import ApiSettings, create_app
from bot.api.settings import DEFAULT_TRAINER_COMMAND
from tests.api.helpers import REPO_ROOT, TOKEN
from tests.api.live_server import ThreadedServer

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                       "(apt-get install -y chromium; .ci/run installs it)"),
]


# A small synthetic run: long enough (several seconds) for the trainer's 2 s progress events to move the bar.
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
training:
  algo: ppo
  n_workers: 1
  n_envs_per_worker: 2
  checkpoint_freq: 0
  eval_freq: 0
  ppo: {n_steps: 128, batch_size: 128, n_epochs: 1, net_arch: [32, 32]}
"""
JOB_START_TIMEOUT_MS = 90_000  # torch import + dataset build on a busy 2-core machine


@pytest.fixture
def server(make_settings: Callable[..., ApiSettings], config_dir: Path) -> Iterator[ThreadedServer]:
    (config_dir / "tiny.yaml").write_text(TINY_CONFIG)
    running = ThreadedServer(
        create_app(make_settings(trainer_command=DEFAULT_TRAINER_COMMAND, max_concurrent_jobs=2, cancel_grace_s=30.0))
    )
    yield running
    running.stop()


def test_dashboard_starts_watches_and_cancels_jobs(server: ThreadedServer) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(f"{server.base_url}/dashboard")
            expect(page.locator("#rest-health")).to_have_class(re.compile(r"\bok\b"))
            expect(page.locator("#ws-health")).to_have_class(re.compile(r"\bwarn\b"))  # no token yet
            page.fill("#token-input", TOKEN)
            page.click("#token-save")
            expect(page.locator("#ws-health")).to_have_class(re.compile(r"\bok\b"))
            assert page.evaluate("localStorage.getItem('botApiToken')") == TOKEN
            expect(page.locator("#paper-message")).to_contain_text("no paper trader running")

            # a validation error reaches the page, naming the field
            page.fill("#f-overrides", "training.n_workers=0")
            page.click("#start-submit")
            expect(page.locator("#form-message")).to_contain_text("overrides")
            expect(page.locator("#form-message")).to_contain_text("training.n_workers")
            page.fill("#f-overrides", "")

            page.select_option("#f-config", "tiny.yaml")
            page.fill("#f-timesteps", "12000")
            page.click("#start-submit")
            expect(page.locator("#form-message")).to_contain_text("accepted")
            first_id = page.locator("#d-id").inner_text()
            seen: list[str] = []
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                text = page.locator("#d-progress-text").inner_text()
                if not seen or seen[-1] != text:
                    seen.append(text)
                if page.locator("#d-status").inner_text() == "completed":
                    break
                time.sleep(0.05)
            expect(page.locator("#d-status")).to_have_text("completed")
            expect(page.locator("#d-progress-text")).to_contain_text("100%")
            expect(page.locator("#d-checkpoint")).to_contain_text("checkpoints")
            percents = [int(t.split("%")[0]) for t in seen]
            assert len(set(percents)) >= 3 and percents == sorted(percents), seen
            expect(page.locator("#d-logs")).to_contain_text("bot train")
            page.screenshot(path=str(ARTIFACTS / "api_dashboard_completed.png"), full_page=True)

            page.fill("#f-timesteps", "1000000")
            page.click("#start-submit")
            row = page.locator(f"#jobs-body tr:not([data-job-id='{first_id}'])").first
            expect(row).to_have_attribute("data-status", "running", timeout=JOB_START_TIMEOUT_MS)
            row.locator("button.cancel").click()
            expect(row).to_have_attribute("data-status", "cancelled", timeout=60_000)
            expect(page.locator(f"#jobs-body tr[data-job-id='{first_id}']")).to_have_attribute(
                "data-status", "completed")
            expect(page.locator("#events")).to_contain_text("training.cancelled")
            page.screenshot(path=str(ARTIFACTS / "api_dashboard.png"), full_page=True)
        finally:
            browser.close()
