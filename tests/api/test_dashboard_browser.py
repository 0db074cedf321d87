"""The dashboard in a real browser (Debian's chromium via Playwright): start a job from the page, watch its
progress bar advance to completed, see a validation error, cancel another job. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.api import ApiSettings, create_app
from tests.api.helpers import REPO_ROOT, TOKEN, fake_command
from tests.api.live_server import ThreadedServer

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(180),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                       "(apt-get install -y chromium; .ci/run installs it)"),
]


@pytest.fixture
def server(make_settings: Callable[..., ApiSettings]) -> Iterator[ThreadedServer]:
    # the fake trainer reports 5 progress steps 0.6 s apart, so the bar visibly advances
    running = ThreadedServer(create_app(make_settings(trainer_command=fake_command("complete", step_delay_s=0.6),
                                                      max_concurrent_jobs=2)))
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

            page.fill("#f-timesteps", "500")
            page.click("#start-submit")
            expect(page.locator("#form-message")).to_contain_text("accepted")
            first_id = page.locator("#d-id").inner_text()
            seen: list[str] = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                text = page.locator("#d-progress-text").inner_text()
                if not seen or seen[-1] != text:
                    seen.append(text)
                if page.locator("#d-status").inner_text() == "completed":
                    break
                time.sleep(0.05)
            expect(page.locator("#d-status")).to_have_text("completed")
            expect(page.locator("#d-progress-text")).to_contain_text("100%")
            percents = [int(t.split("%")[0]) for t in seen]
            assert len(set(percents)) >= 3 and percents == sorted(percents), seen
            expect(page.locator("#d-logs")).to_contain_text("fake trainer argv")
            page.screenshot(path=str(ARTIFACTS / "api_dashboard_completed.png"), full_page=True)

            page.click("#start-submit")
            row = page.locator(f"#jobs-body tr:not([data-job-id='{first_id}'])").first
            expect(row).to_have_attribute("data-status", "running")
            row.locator("button.cancel").click()
            expect(row).to_have_attribute("data-status", "cancelled", timeout=20_000)
            expect(page.locator(f"#jobs-body tr[data-job-id='{first_id}']")).to_have_attribute(
                "data-status", "completed")
            expect(page.locator("#events")).to_contain_text("training.cancelled")
            page.screenshot(path=str(ARTIFACTS / "api_dashboard.png"), full_page=True)
        finally:
            browser.close()
