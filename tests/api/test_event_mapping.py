"""Mapping of trainer events to job state, in particular the final status of every kind of process exit."""

from __future__ import annotations

import time
from typing import Any

from bot.api.db import Job, JobStatus
from bot.api.event_mapping import apply_event, describe_exit, finalize
from bot.training.event_schema import TerminalEvent, TrainerEvent, UnknownEvent, parse_event


def _job(**fields: Any) -> Job:
    now = time.time()
    values: dict[str, Any] = dict(
        id="j1", status=JobStatus.RUNNING, algo="ppo", workers=1, seed=1, symbol="X/Y", timeframe="5m",
        config_name="demo.yaml", overrides=[], created_at=now, updated_at=now, queued_at=now, total_timesteps=1000,
        timesteps=0, metrics={}, attempt=1, cancel_requested=False, run_dir="/ck/run",
    )
    values.update(fields)
    return Job(**values)


def _event(**fields: Any) -> TrainerEvent | UnknownEvent:
    """An event as the job runner gets it: a decoded line parsed with the trainer's event contract."""
    return parse_event({"time": 1.0, **fields})


def _terminal(**fields: Any) -> TerminalEvent:
    event = _event(**fields)
    assert isinstance(event, TerminalEvent)
    return event


def test_describe_exit() -> None:
    assert describe_exit(3) == "exit code 3"
    assert describe_exit(-9) == "killed by signal SIGKILL"


def test_started_is_ignored_unless_accepted() -> None:
    started = _event(type="started", run_dir="/ck/new", total_timesteps=1000)
    assert apply_event(_job(status=JobStatus.RUNNING), started) is None
    fields, kind, data = apply_event(_job(status=JobStatus.ACCEPTED), started) or ({}, "", {})
    assert (fields["status"], kind, data["run_dir"]) == (JobStatus.RUNNING, "training.started", "/ck/new")


def test_progress_sanitises_metrics_and_computes_progress() -> None:
    event = _event(type="progress", timesteps=250, total_timesteps=1000, fps=50,
                   metrics={"reward": float("inf"), "loss": 0.5, "name": "text"})
    fields, kind, data = apply_event(_job(), event) or ({}, "", {})
    assert kind == "training.progress" and data["progress"] == 0.25
    assert fields["metrics"] == {"reward": None, "loss": 0.5, "name": None}


def test_checkpoint_keeps_the_run_folder() -> None:
    event = _event(type="checkpoint", path="/ck/run/step_500", timesteps=500)
    fields, _, data = apply_event(_job(), event) or ({}, "", {})
    assert fields == {"last_checkpoint": "/ck/run/step_500"}
    assert data["run_dir"] == "/ck/run"


def test_unknown_event_type_is_ignored() -> None:
    assert apply_event(_job(), _event(type="mystery")) is None


def test_exit_without_terminal_event_is_failed_with_output() -> None:
    fields, kind, data = finalize(_job(), None, 1, ["line a", "Traceback: boom"], stopping=False)
    assert fields["status"] == JobStatus.FAILED and kind == "training.failed"
    assert "exit code 1 without reporting completion" in data["error"] and "Traceback: boom" in data["error"]


def test_exit_zero_without_completed_is_still_failed() -> None:
    fields, _, _ = finalize(_job(), None, 0, [], stopping=False)
    assert fields["status"] == JobStatus.FAILED


def test_completed_merges_validation_metrics() -> None:
    terminal = _terminal(type="completed", timesteps=990, path="/ck/run", metrics={"sharpe": 1.5})
    fields, kind, data = finalize(_job(metrics={"loss": 0.1}), terminal, 0, [], stopping=False)
    assert fields["status"] == JobStatus.COMPLETED and kind == "training.completed"
    assert fields["metrics"] == {"loss": 0.1, "validation/sharpe": 1.5}
    assert data["timesteps"] == 990


def test_cancelled_event_is_interrupted_when_the_server_stops() -> None:
    terminal = _terminal(type="cancelled", path="/ck/run", reason="SIGTERM", timesteps=500)
    fields, kind, _ = finalize(_job(), terminal, 130, [], stopping=True)
    assert (fields["status"], kind) == (JobStatus.INTERRUPTED, "training.interrupted")
    fields, kind, _ = finalize(_job(cancel_requested=True), terminal, 130, [], stopping=True)
    assert (fields["status"], kind) == (JobStatus.CANCELLED, "training.cancelled")
    fields, _, data = finalize(_job(), terminal, 130, [], stopping=False)
    assert fields["status"] == JobStatus.CANCELLED and "outside the API" in data["reason"]


def test_a_requested_cancel_wins_over_the_failure_the_stop_caused() -> None:
    """Cancel during start-up: the SIGTERM kills the workers and the trainer reports BrokenPipeError."""
    terminal = _terminal(type="failed", error="BrokenPipeError: [Errno 32] Broken pipe")
    fields, kind, data = finalize(_job(cancel_requested=True), terminal, 1, [], stopping=False)
    assert (fields["status"], kind) == (JobStatus.CANCELLED, "training.cancelled")
    assert "BrokenPipeError" in data["reason"]


def test_a_stalled_trainer_is_failed_as_stalled() -> None:
    fields, kind, data = finalize(_job(), None, -9, [], stopping=False, stalled_s=121.4)
    assert (fields["status"], kind) == (JobStatus.FAILED, "training.failed")
    assert data["error"].startswith("stalled: no event or heartbeat from the trainer for 121 s")


def test_a_trainer_left_by_a_previous_server_ends_interrupted_with_an_unknown_exit_status() -> None:
    cancelled = _terminal(type="cancelled", path="/ck/run", reason="SIGTERM", timesteps=500)
    fields, kind, data = finalize(_job(), cancelled, None, [], stopping=False, restarted=True)
    assert (fields["status"], kind) == (JobStatus.INTERRUPTED, "training.interrupted")
    assert "restarted" in data["error"] and data["exit_code"] is None
    fields, _, data = finalize(_job(), None, None, [], stopping=False)
    assert "unknown exit status" in data["error"]
    _, _, data = finalize(_job(kind="evaluate"), None, None, [], stopping=True)
    assert data["error"] == "the API server stopped while the evaluate job ran; start it again"
