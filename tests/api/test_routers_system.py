"""Health, server log tail, sync status (with and without a paper trader) and monitoring statistics."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from tests.api.helpers import submit, wait_status

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


def test_sync_status_reads_the_paper_account_snapshot(make_client: ClientFactory, tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "paper_state.sqlite") as conn:
        conn.execute("CREATE TABLE account_snapshots (updated_at REAL, equity REAL, cash REAL, position REAL)")
        conn.execute("INSERT INTO account_snapshots VALUES (?, 9000, 9000, 0)", (time.time() - 60,))
        conn.execute("INSERT INTO account_snapshots VALUES (?, 10100.5, 5000, 0.1)", (time.time(),))
    paper = make_client().get("/api/sync/status").json()["paper"]
    assert paper["running"] is True
    assert paper["account"]["equity"] == 10100.5


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
    for asset in ("app.js", "style.css", "chart.js"):
        assert client.get(f"/static/{asset}").status_code == 200
    assert "http://" not in page.text and "https://" not in page.text  # no CDN: works offline
