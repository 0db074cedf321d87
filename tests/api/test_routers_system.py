"""Health, server log tail, sync status (with and without a paper trader) and monitoring statistics."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from tests.api.helpers import submit, wait_status
from tests.api.paper_state_file import N_BARS, write_dry_run_state

ClientFactory = Callable[..., TestClient]


def test_health(make_client: ClientFactory) -> None:
    body = make_client().get("/api/health").json()
    assert body["status"] == "ok" and body["db"] == "ok" and body["auth_configured"] is True


def test_log_tail_returns_the_end_of_the_server_log(make_client: ClientFactory, tmp_path: Path) -> None:
    log_path = tmp_path / "store" / "server.log"
    client = make_client()
    assert client.get("/status/log_tail").json()["lines"] == []  # no log written yet
    log_path.write_text("".join(f"2026-01-01 INFO bot.api: line {i}\n" for i in range(300)))
    body = client.get("/status/log_tail", params={"n": 200}).json()
    assert body["source"] == str(log_path)
    assert len(body["lines"]) == 200 and body["lines"][-1].endswith("line 299")
    assert client.get("/status/log_tail", params={"n": 1}).json()["lines"] == ["2026-01-01 INFO bot.api: line 299"]
    assert client.get("/status/log_tail", params={"n": 0}).status_code == 422


def test_sync_status_without_paper_trader(make_client: ClientFactory) -> None:
    body = make_client().get("/api/sync/status").json()
    assert body["backend"]["status"] == "ok"
    assert body["jobs"]["by_status"]["running"] == 0
    assert body["websocket"] == {"clients": 0, "last_seq": 0}
    assert body["paper"]["running"] is False
    assert body["paper"]["message"].startswith("no paper trader running")


def test_sync_status_and_paper_view_read_the_paper_trader_state(make_client: ClientFactory, tmp_path: Path) -> None:
    write_dry_run_state(tmp_path / "paper_state.sqlite")
    client = make_client()
    paper = client.get("/api/sync/status").json()["paper"]
    assert paper["running"] is True and paper["account"]["bars_processed"] == N_BARS
    view = client.get("/api/paper", params={"limit": 5}).json()
    assert len(view["bars"]) == 5 and [f["side"] for f in view["fills"]] == ["buy", "sell", "buy"]
    assert view["position"]["qty"] == 0.1 and view["kill_switch"] is None
    assert client.get("/api/paper", params={"limit": 0}).status_code == 422


def test_monitoring_dashboard_statistics(make_client: ClientFactory) -> None:
    client = make_client()
    job_id = submit(client)
    wait_status(client, job_id, "completed")
    stats = client.get("/api/monitoring/dashboard").json()
    assert stats["jobs_total"] == 1
    assert stats["jobs_by_status"]["completed"] == 1
    assert stats["success_rate"] == 1.0
    assert stats["timesteps_trained"] == 500
    assert stats["metric_points"] == 5
    assert stats["last_event_seq"] == stats["events_total"] == 9


def test_dashboard_page_and_assets_are_served(make_client: ClientFactory) -> None:
    client = make_client()
    assert client.get("/", follow_redirects=False).headers["location"] == "/dashboard"
    page = client.get("/dashboard")
    assert page.status_code == 200 and "<title>" in page.text
    # every script and stylesheet comes from this server (no CDN: the page works offline)
    resources = re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', page.text)
    assert resources and all(r.startswith("/") for r in resources), resources
    for path in resources:
        assert client.get(path).status_code == 200, path
    for module in ("app.js", "util.js", "charts.js", "jobs.js", "runs.js", "paper.js"):
        assert client.get(f"/static/{module}").status_code == 200, module
    assert "serviceWorker" in client.get("/static/app.js").text
    worker = client.get("/sw.js")
    assert worker.status_code == 200 and worker.headers["content-type"].startswith("text/javascript")
    vendor = client.get("/static/vendor/uplot/uPlot.iife.min.js", headers={"Accept-Encoding": "gzip"})
    assert vendor.headers["content-encoding"] == "gzip"
    assert client.get("/static/chart.js").status_code == 404  # the hand-drawn charts are gone
