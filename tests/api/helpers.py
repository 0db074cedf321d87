"""Helpers of the API tests: the token, the fake trainer command, job submission and polling."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

REPO_ROOT = Path(__file__).resolve().parents[2]
FAKE_TRAINER = Path(__file__).resolve().parent / "fake_trainer.py"
TOKEN = "test-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def wait_for(predicate: Callable[[], Any], timeout_s: float = 20.0, interval_s: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s} s")


def fake_command(mode: str, step_delay_s: float = 0.01) -> tuple[str, ...]:
    """Trainer command of the fake trainer in one scripted scenario."""
    return (sys.executable, str(FAKE_TRAINER), "--mode", mode, "--step-delay", str(step_delay_s))


def submit(client: TestClient, **body: Any) -> str:
    """POST a job (tiny defaults) and return its id."""
    payload = {"config": "demo.yaml", "timesteps": 500, "workers": 1, **body}
    response = client.post("/api/training/jobs", json=payload, headers=AUTH)
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def job_state(client: TestClient, job_id: str) -> dict[str, Any]:
    """GET the job's view."""
    response = client.get(f"/api/training/jobs/{job_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_status(client: TestClient, job_id: str, *statuses: str, timeout_s: float = 20.0) -> dict[str, Any]:
    """Wait until the job reaches one of ``statuses`` and return its view."""
    result: dict[str, Any] = wait_for(
        lambda: (s := job_state(client, job_id))["status"] in statuses and s, timeout_s
    )
    return result
