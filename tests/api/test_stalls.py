"""Stalled and stopped trainers (real uvicorn, fake trainer): a silent trainer fails as stalled and frees its slot,
heartbeats keep a slow one alive, cancel is fast even for a stopped trainer, and a cancel is always ``cancelled``."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psutil
import pytest

from tests.api.helpers import AUTH, fake_command, wait_for
from tests.api.live_server import ThreadedServer

Serve = Callable[..., ThreadedServer]


def _submit(server: ThreadedServer) -> str:
    response = httpx.post(f"{server.base_url}/api/training/jobs", headers=AUTH, timeout=30,
                          json={"config": "demo.yaml", "timesteps": 100_000, "workers": 1})
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def _job(server: ThreadedServer, job_id: str) -> dict[str, Any]:
    result: dict[str, Any] = httpx.get(f"{server.base_url}/api/training/jobs/{job_id}", timeout=30).json()
    return result


def _wait(server: ThreadedServer, job_id: str, *statuses: str, timeout_s: float = 20.0) -> dict[str, Any]:
    result: dict[str, Any] = wait_for(lambda: (j := _job(server, job_id))["status"] in statuses and j, timeout_s)
    return result


def _cancel(server: ThreadedServer, job_id: str) -> None:
    response = httpx.post(f"{server.base_url}/api/training/jobs/{job_id}/cancel", headers=AUTH, timeout=30)
    assert response.status_code == 202, response.text


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def stopped_pids() -> Iterator[list[int]]:
    """Process groups a test stopped with SIGSTOP; they are killed after the test whatever happened."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def test_a_stopped_trainer_fails_as_stalled_and_frees_its_slot(serve: Serve, stopped_pids: list[int]) -> None:
    server = serve(trainer_command=fake_command("slow", step_delay_s=0.05), stall_timeout_s=3.0,
                   max_concurrent_jobs=1)
    first, second = _submit(server), _submit(server)
    pid = _wait(server, first, "running")["pid"]
    wait_for(lambda: _job(server, first)["timesteps"] > 0)
    stopped_pids.append(pid)
    os.killpg(pid, signal.SIGSTOP)
    failed = _wait(server, first, "failed")
    assert failed["error"].startswith("stalled: no event or heartbeat from the trainer"), failed["error"]
    assert "api.stall_timeout_s" in failed["error"] and failed["exit_code"] == -9 and failed["pid"] is None
    wait_for(lambda: _gone(pid), timeout_s=10)  # the whole process group was killed
    assert _wait(server, second, "running")["attempt"] == 1  # the slot went to the queued job
    _cancel(server, second)
    _wait(server, second, "cancelled")


def test_heartbeats_keep_a_trainer_that_sends_nothing_else_alive(serve: Serve, tmp_path: Any) -> None:
    server = serve(trainer_command=fake_command("hang_before_start"), stall_timeout_s=2.0)
    job_id = _submit(server)
    events = tmp_path / "store" / "jobs" / job_id / "events-1.jsonl"
    # three stall timeouts' worth of heartbeats (one each 0.2 s) and nothing else
    wait_for(lambda: events.exists() and events.read_text().count('"heartbeat"') >= 30)
    job = _job(server, job_id)
    assert job["status"] == "accepted" and job["pid"] is not None and job["error"] is None
    _cancel(server, job_id)
    _wait(server, job_id, "cancelled")


def test_cancel_of_a_stopped_trainer_does_not_wait_for_the_kill_deadline(serve: Serve,
                                                                         stopped_pids: list[int]) -> None:
    server = serve(trainer_command=fake_command("slow", step_delay_s=0.05), cancel_grace_s=60.0)
    job_id = _submit(server)
    pid = _wait(server, job_id, "running")["pid"]
    stopped_pids.append(pid)
    os.killpg(pid, signal.SIGSTOP)
    _cancel(server, job_id)
    # SIGCONT follows the SIGTERM, so the trainer checkpoints and exits now rather than being killed after 60 s
    job = _wait(server, job_id, "cancelled", "failed", timeout_s=20.0)
    assert (job["status"], job["exit_code"]) == ("cancelled", 130)


def test_cancel_during_start_up_is_cancelled_not_a_broken_pipe(serve: Serve, tmp_path: Any) -> None:
    server = serve(trainer_command=fake_command("starting"), cancel_grace_s=60.0)
    job_id = _submit(server)
    pid = wait_for(lambda: _job(server, job_id)["pid"])
    events = tmp_path / "store" / "jobs" / job_id / "events-1.jsonl"
    # the first heartbeat comes after the trainer set its SIGTERM handler (which reports the BrokenPipeError)
    wait_for(lambda: events.exists() and "heartbeat" in events.read_text())
    _cancel(server, job_id)
    job = _wait(server, job_id, "cancelled", "failed")
    assert job["status"] == "cancelled", job["error"]
    assert job["pid"] is None and _gone(pid)


def test_a_cancel_whose_stop_breaks_the_workers_is_still_cancelled(serve: Serve) -> None:
    server = serve(trainer_command=fake_command("broken_pipe_on_term", step_delay_s=0.05))
    job_id = _submit(server)
    _wait(server, job_id, "running")
    _cancel(server, job_id)
    job = _wait(server, job_id, "cancelled", "failed")
    assert job["status"] == "cancelled", job["error"]
