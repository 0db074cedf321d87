"""Pure mapping from the trainer's events (:mod:`bot.training.event_schema`) to job-row updates and WebSocket
events."""

from __future__ import annotations

import logging
import signal
from typing import Any

from bot.api.db import Job, JobStatus
from bot.api.job_kinds import JOB_KINDS
from bot.training import (
    CancelledEvent,
    CheckpointEvent,
    CompletedEvent,
    FailedEvent,
    ProgressEvent,
    StartedEvent,
    TerminalEvent,
    TrainerEvent,
    TrialEvent,
    UnknownEvent,
)

logger = logging.getLogger(__name__)

#: (job columns to set, WebSocket event type, event data)
Update = tuple[dict[str, Any], str, dict[str, Any]]


def describe_exit(code: int | None) -> str:
    """``exit code 3`` or ``killed by signal SIGKILL`` for a negative Popen return code; ``None`` is unknown."""
    if code is None:
        return "an unknown exit status (the trainer was started by a previous server)"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def apply_event(job: Job, event: TrainerEvent | UnknownEvent) -> Update | None:
    """The update a non-terminal trainer event causes, or ``None`` when it changes nothing.

    :param job: the job's current state.
    :param event: a ``started``, ``progress``, ``checkpoint`` or ``trial`` event (any other is logged and ignored).
    """
    if isinstance(event, StartedEvent):
        if job.status != JobStatus.ACCEPTED:
            return None
        total = event.total_timesteps or job.total_timesteps
        run_dir = event.run_dir or job.run_dir
        fields = {"status": JobStatus.RUNNING, "started_at": job.started_at or event.time, "run_dir": run_dir,
                  "total_timesteps": total}
        return fields, "training.started", {"time": event.time, "attempt": job.attempt, "pid": job.pid,
                                            "run_dir": run_dir, "total_timesteps": total}
    if isinstance(event, ProgressEvent):
        total = event.total_timesteps or job.total_timesteps
        metrics = dict(event.metrics)
        progress = min(1.0, event.timesteps / total) if total > 0 else 0.0
        fields = {"timesteps": event.timesteps, "total_timesteps": total, "fps": event.fps, "metrics": metrics}
        data = {"time": event.time, "timesteps": event.timesteps, "total_timesteps": total, "progress": progress,
                "fps": event.fps, "metrics": metrics}
        return fields, "training.progress", data
    if isinstance(event, CheckpointEvent):
        # the path is the numbered checkpoint (run_dir/step_N); the run folder itself comes with "started"
        saved = {"time": event.time, "path": event.path, "run_dir": job.run_dir, "timesteps": event.timesteps}
        return {"last_checkpoint": event.path}, "training.checkpoint", saved
    if isinstance(event, TrialEvent):
        # the job's trials table: one row per trial, replaced by its newest event
        row = event.model_dump(exclude={"type"})
        trials = {**(job.params or {}).get("trials", {}), event.trial_id: row}
        return {"params": {**(job.params or {}), "trials": trials}}, "tune.trial", row
    logger.warning("Ignored trainer event of unknown type %r for job %s", event.type, job.id)
    return None


def finalize(job: Job, terminal: TerminalEvent | None, code: int | None, tail: list[str], stopping: bool, *,
             restarted: bool = False, stalled_s: float | None = None) -> Update:
    """The final state of a job whose process exited.

    :param job: the job's state before exit.
    :param terminal: the ``completed``/``failed``/``cancelled`` event, or ``None`` if the trainer sent none.
    :param code: the process return code (``None``: unknown, for a trainer a previous server started).
    :param tail: the last lines of the process output (quoted when the trainer died without an error event).
    :param stopping: the server is shutting down (a stop is an interruption, not a user cancel).
    :param restarted: the trainer was left by a previous server and stopped by this one (an interruption too).
    :param stalled_s: the trainer was killed after this many seconds without any event (``api.stall_timeout_s``).
    """
    run_dir = (terminal.path if isinstance(terminal, CompletedEvent | CancelledEvent) else None) or job.run_dir
    base = {"exit_code": code, "run_dir": run_dir}
    if isinstance(terminal, CompletedEvent):
        steps = terminal.timesteps or job.total_timesteps
        if code is not None and code != 0:
            logger.warning("Job %s reported completed but its trainer exited with %s", job.id, describe_exit(code))
        final_metrics = {f"validation/{k}": v for k, v in terminal.metrics.items()}
        metrics = {**(job.metrics or {}), **final_metrics}
        return ({"status": JobStatus.COMPLETED, "timesteps": steps, "error": None, "run_dir": run_dir,
                 "metrics": metrics}, "training.completed", {**base, "timesteps": steps, "metrics": final_metrics})
    if job.cancel_requested:
        # whatever the stop looked like from inside (a checkpoint and "cancelled", or workers that died of the
        # SIGTERM during start-up and a BrokenPipeError), the user asked for it: the job is cancelled
        if isinstance(terminal, CancelledEvent):
            reason = "cancelled by request"
        elif isinstance(terminal, FailedEvent):
            reason = f"cancelled by request (the trainer reported while stopping: {terminal.error})"
        else:
            reason = f"cancelled by request ({describe_exit(code)})"
        return {"status": JobStatus.CANCELLED, "run_dir": run_dir}, "training.cancelled", {**base, "reason": reason}
    if isinstance(terminal, FailedEvent):
        error = terminal.error or "the trainer reported a failure without an error message"
        return ({"status": JobStatus.FAILED, "error": error, "run_dir": run_dir},
                "training.failed", {**base, "error": error})
    if stalled_s is not None:
        error = (f"stalled: no event or heartbeat from the trainer for {stalled_s:.0f} s (api.stall_timeout_s); its"
                 " process group was killed" + (f". Resume from {run_dir}" if run_dir else ""))
        return {"status": JobStatus.FAILED, "error": error, "run_dir": run_dir}, "training.failed", {**base,
                                                                                                      "error": error}
    if stopping or restarted:
        what = "restarted" if restarted else "stopped"
        if not JOB_KINDS[job.kind or "train"].resumable:  # an evaluation has no checkpoint to continue from
            error = f"the API server {what} while the {job.kind} job ran; start it again"
        elif run_dir:
            error = (f"the API server {what} while the job ran; POST /api/training/jobs/{job.id}/resume continues"
                     f" from {run_dir}")
        else:
            error = f"the API server {what} before the job wrote a checkpoint"
        return ({"status": JobStatus.INTERRUPTED, "error": error, "run_dir": run_dir},
                "training.interrupted", {**base, "error": error})
    if isinstance(terminal, CancelledEvent):
        return ({"status": JobStatus.CANCELLED, "run_dir": run_dir}, "training.cancelled",
                {**base, "reason": "the trainer was stopped by a signal from outside the API"})
    last = "\n".join(tail[-20:]) or "(no output)"
    error = f"trainer process ended with {describe_exit(code)} without reporting completion; last output:\n{last}"
    return {"status": JobStatus.FAILED, "error": error, "run_dir": run_dir}, "training.failed", {**base,
                                                                                                  "error": error}
