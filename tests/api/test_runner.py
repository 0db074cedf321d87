"""Status truth of the job runner: started only on the trainer's event, crashes become failed with the reason,
a server stop or restart marks jobs interrupted, and resume continues from the run folder."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.api import ApiSettings, create_app
from bot.api.db import Job, JobStatus, make_engine, make_session_factory
from tests.api.helpers import AUTH, FAKE_TRAINER, fake_command, job_state, submit, wait_for, wait_status

ClientFactory = Callable[..., TestClient]


def _event_types(client: TestClient, job_id: str) -> list[str]:
    hub = client.app.state.bot.hub  # type: ignore[attr-defined]
    return [m["type"] for m in hub.since(0) if m["job_id"] == job_id]


def test_crash_without_events_is_failed_with_exit_code_and_output(make_client: ClientFactory) -> None:
    client = make_client(trainer_command=fake_command("crash"))
    job_id = submit(client)
    job = wait_status(client, job_id, "failed")
    assert job["exit_code"] == 3
    assert "exit code 3 without reporting completion" in job["error"]
    assert "RuntimeError: boom in the fake trainer" in job["error"]
    assert _event_types(client, job_id) == ["job.accepted", "training.failed"]  # never "started"


def test_failed_event_carries_the_trainer_error(make_client: ClientFactory) -> None:
    client = make_client(trainer_command=fake_command("fail_event"))
    job_id = submit(client)
    job = wait_status(client, job_id, "failed")
    assert job["error"] == "ConfigError: data.path=/nope.csv does not exist"
    assert job["exit_code"] == 2
    assert _event_types(client, job_id) == ["job.accepted", "training.started", "training.failed"]


def test_a_terminal_status_is_never_visible_before_its_event(make_client: ClientFactory) -> None:
    """Status and terminal event are committed together: whoever reads the status can read the event."""
    client = make_client(trainer_command=fake_command("fail_event"), max_concurrent_jobs=4)
    ids = [submit(client) for _ in range(4)]
    pending = set(ids)

    def all_checked() -> bool:
        for job_id in list(pending):
            if job_state(client, job_id)["status"] == "failed":
                assert "training.failed" in _event_types(client, job_id)
                pending.discard(job_id)
        return not pending

    wait_for(all_checked, interval_s=0.0)


def test_job_is_not_running_until_the_trainer_says_started(make_client: ClientFactory) -> None:
    client = make_client(trainer_command=fake_command("hang_before_start"))
    job_id = submit(client)
    launched = wait_for(lambda: (s := job_state(client, job_id))["pid"] and s)
    time.sleep(0.5)
    assert job_state(client, job_id)["status"] == "accepted"
    assert launched["progress"] == 0.0
    client.post(f"/api/training/jobs/{job_id}/cancel", headers=AUTH)
    assert wait_status(client, job_id, "cancelled")["pid"] is None


def test_trainer_ignoring_sigterm_is_killed_after_the_grace_period(make_client: ClientFactory) -> None:
    client = make_client(trainer_command=fake_command("ignore_term"), cancel_grace_s=0.5)
    job_id = submit(client)
    wait_status(client, job_id, "running")
    client.post(f"/api/training/jobs/{job_id}/cancel", headers=AUTH)
    job = wait_status(client, job_id, "cancelled", "failed")
    assert job["status"] == "cancelled"
    assert job["exit_code"] == -9
    hub = client.app.state.bot.hub  # type: ignore[attr-defined]
    last = [m for m in hub.since(0) if m["job_id"] == job_id][-1]
    assert "killed by signal SIGKILL" in last["data"]["reason"]


def test_malformed_lines_are_skipped_and_a_run_without_progress_still_reports_its_end(
    make_client: ClientFactory,
) -> None:
    client = make_client(trainer_command=fake_command("garbage"))
    job_id = submit(client)
    assert wait_status(client, job_id, "completed", "failed")["status"] == "completed"
    assert _event_types(client, job_id) == ["job.accepted", "training.started", "training.progress",
                                            "training.completed"]
    points = client.get(f"/api/training/jobs/{job_id}/metrics").json()["points"]
    assert [p["timesteps"] for p in points] == [500]


def test_processes_a_finished_trainer_leaves_behind_are_killed(make_client: ClientFactory) -> None:
    client = make_client(trainer_command=fake_command("leave_child"))
    job_id = submit(client)
    wait_status(client, job_id, "completed")
    job_dir = client.app.state.bot.settings.jobs_dir / job_id  # type: ignore[attr-defined]
    child_pid = int((job_dir / "child.pid").read_text())

    def gone() -> bool:
        try:
            return psutil.Process(child_pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    try:
        wait_for(gone, timeout_s=10)
    finally:
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(child_pid).kill()


def test_unstartable_trainer_is_failed(make_client: ClientFactory, tmp_path: Path) -> None:
    client = make_client(trainer_command=(str(tmp_path / "no_such_python"),))
    job_id = submit(client)
    job = wait_status(client, job_id, "failed")
    assert "could not start the trainer" in job["error"]
    assert "no_such_python" in job["error"]


def test_server_stop_interrupts_and_resume_completes(make_settings: Callable[..., ApiSettings]) -> None:
    slow = make_settings(trainer_command=fake_command("slow", step_delay_s=0.05))
    with TestClient(create_app(slow)) as client:
        job_id = submit(client)
        wait_status(client, job_id, "running")
        wait_for(lambda: job_state(client, job_id)["timesteps"] > 0)
    quick = make_settings(trainer_command=fake_command("complete"))
    with TestClient(create_app(quick)) as client:
        job = job_state(client, job_id)
        assert job["status"] == "interrupted"
        assert "resume" in job["error"] and job["checkpoint"]
        response = client.post(f"/api/training/jobs/{job_id}/resume", headers=AUTH)
        assert response.status_code == 202
        done = wait_status(client, job_id, "completed")
        assert done["attempt"] == 2 and done["progress"] == 1.0
        types = _event_types(client, job_id)
        assert types.count("training.started") == 2
        assert types.index("training.interrupted") < types.index("training.completed")


def test_restart_after_a_crash_stops_the_orphan_and_marks_interrupted(
    make_settings: Callable[..., ApiSettings], tmp_path: Path
) -> None:
    settings = make_settings()
    sessions = make_session_factory(make_engine(settings.db_path))
    events = settings.jobs_dir / "orphan" / "events-1.jsonl"
    events.parent.mkdir(parents=True)
    orphan = subprocess.Popen(
        [sys.executable, str(FAKE_TRAINER), "--mode", "slow", "--step-delay", "0.05", "--checkpoint-dir",
         str(tmp_path / "ck"), "--timesteps", "100000", "--events-jsonl", str(events)],
        start_new_session=True, stdout=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: events.exists() and "progress" in events.read_text())
        now = time.time()
        with sessions() as session, session.begin():
            session.add(Job(id="orphan", status=JobStatus.RUNNING, algo="ppo", workers=1, seed=1, symbol="X/Y",
                            timeframe="5m", config_name="demo.yaml", overrides=[], created_at=now, updated_at=now,
                            queued_at=now, total_timesteps=100000, timesteps=0, metrics={}, pid=orphan.pid,
                            attempt=1, cancel_requested=False))
        with TestClient(create_app(settings)) as client:
            job = wait_status(client, "orphan", "interrupted")
            assert job["checkpoint"] == str(tmp_path / "ck" / "fake_orphan")
            assert job["timesteps"] > 0
            assert orphan.wait(timeout=10) == 130  # stopped with SIGTERM: it wrote its checkpoint
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()
    with sessions() as session:
        assert session.scalars(select(Job.status)).one() == JobStatus.INTERRUPTED
