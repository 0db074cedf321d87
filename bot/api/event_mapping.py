"""Pure mapping from the trainer's JSON-lines events to job-row updates and WebSocket events."""

from __future__ import annotations

import logging
import math
import signal
import time
from typing import Any

from bot.api.db import Job, JobStatus
from bot.api.job_kinds import JOB_KINDS

logger = logging.getLogger(__name__)

#: (job columns to set, WebSocket event type, event data)
Update = tuple[dict[str, Any], str, dict[str, Any]]


def finite_number(value: Any) -> float | None:
    """``value`` as a float when it is a finite int or float (not a bool), else ``None`` (JSON has no NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _metrics(raw: Any) -> dict[str, float | None]:
    # JSON has no NaN/inf: non-finite or non-numeric metrics become null rather than breaking clients.
    if not isinstance(raw, dict):
        return {}
    return {str(k): finite_number(v) for k, v in raw.items()}


def _run_dir(event: dict[str, Any]) -> str | None:
    for key in ("run_dir", "path", "checkpoint"):
        value = event.get(key)
        if isinstance(value, str) and value:
            return value
    return None


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


def apply_event(job: Job, event: dict[str, Any]) -> Update | None:
    """The update a non-terminal trainer event causes, or ``None`` when it changes nothing.

    :param job: the job's current state.
    :param event: a ``started``, ``progress`` or ``checkpoint`` event.
    """
    kind = event["type"]
    at = finite_number(event.get("time")) or time.time()
    if kind == "started":
        if job.status != JobStatus.ACCEPTED:
            return None
        total = int(finite_number(event.get("total_timesteps")) or job.total_timesteps)
        run_dir = _run_dir(event) or job.run_dir
        fields = {"status": JobStatus.RUNNING, "started_at": job.started_at or at, "run_dir": run_dir,
                  "total_timesteps": total}
        return fields, "training.started", {"time": at, "attempt": job.attempt, "pid": job.pid, "run_dir": run_dir,
                                            "total_timesteps": total}
    if kind == "progress":
        steps = int(finite_number(event.get("timesteps")) or 0)
        total = int(finite_number(event.get("total_timesteps")) or job.total_timesteps)
        fps = finite_number(event.get("fps"))
        metrics = _metrics(event.get("metrics"))
        progress = min(1.0, steps / total) if total > 0 else 0.0
        fields = {"timesteps": steps, "total_timesteps": total, "fps": fps, "metrics": metrics}
        data = {"time": at, "timesteps": steps, "total_timesteps": total, "progress": progress, "fps": fps,
                "metrics": metrics}
        return fields, "training.progress", data
    if kind == "checkpoint":
        # the path is the numbered checkpoint (run_dir/step_N); the run folder itself comes with "started"
        path = _run_dir(event)
        at_steps = finite_number(event.get("timesteps"))
        saved: dict[str, Any] = {"time": at, "path": path, "run_dir": job.run_dir,
                                 "timesteps": int(at_steps) if at_steps is not None else None}
        return {"last_checkpoint": path}, "training.checkpoint", saved
    logger.warning("Ignored trainer event of unknown type %r for job %s", kind, job.id)
    return None


def finalize(job: Job, terminal: dict[str, Any] | None, code: int | None, tail: list[str], stopping: bool, *,
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
    kind = terminal["type"] if terminal else None
    run_dir = (_run_dir(terminal) if terminal else None) or job.run_dir
    base = {"exit_code": code, "run_dir": run_dir}
    if terminal is not None and kind == "completed":
        steps = int(finite_number(terminal.get("timesteps")) or job.total_timesteps)
        if code is not None and code != 0:
            logger.warning("Job %s reported completed but its trainer exited with %s", job.id, describe_exit(code))
        final_metrics = {f"validation/{k}": v for k, v in _metrics(terminal.get("metrics")).items()}
        metrics = {**(job.metrics or {}), **final_metrics}
        return ({"status": JobStatus.COMPLETED, "timesteps": steps, "error": None, "run_dir": run_dir,
                 "metrics": metrics}, "training.completed", {**base, "timesteps": steps, "metrics": final_metrics})
    if job.cancel_requested:
        # whatever the stop looked like from inside (a checkpoint and "cancelled", or workers that died of the
        # SIGTERM during start-up and a BrokenPipeError), the user asked for it: the job is cancelled
        if kind == "cancelled":
            reason = "cancelled by request"
        elif terminal is not None and kind == "failed":
            reason = f"cancelled by request (the trainer reported while stopping: {terminal.get('error')})"
        else:
            reason = f"cancelled by request ({describe_exit(code)})"
        return {"status": JobStatus.CANCELLED, "run_dir": run_dir}, "training.cancelled", {**base, "reason": reason}
    if terminal is not None and kind == "failed":
        error = str(terminal.get("error") or "the trainer reported a failure without an error message")
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
    if kind == "cancelled":
        return ({"status": JobStatus.CANCELLED, "run_dir": run_dir}, "training.cancelled",
                {**base, "reason": "the trainer was stopped by a signal from outside the API"})
    last = "\n".join(tail[-20:]) or "(no output)"
    error = f"trainer process ended with {describe_exit(code)} without reporting completion; last output:\n{last}"
    return {"status": JobStatus.FAILED, "error": error, "run_dir": run_dir}, "training.failed", {**base,
                                                                                                  "error": error}
