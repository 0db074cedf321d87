"""``/api/training``: submit, list, inspect, cancel and resume training jobs (thin: the runner does the work)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.exceptions import RequestValidationError

from bot.api.db import Job, JobStatus
from bot.api.deps import AppState, StateDep, require_token
from bot.api.job_request import JobRequestError, list_configs, resolve_job
from bot.api.log_files import run_log_path, tail_lines
from bot.api.runner import JobStateError
from bot.api.schemas import (
    ConfigList,
    JobAccepted,
    JobCreate,
    JobList,
    JobResume,
    JobView,
    LinesView,
    MetricPoint,
    MetricsView,
)

router = APIRouter(prefix="/api/training", tags=["training"])
Auth = [Depends(require_token)]


def _job(state: AppState, job_id: str) -> Job:
    job = state.store.get(job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"job {job_id!r} does not exist; list jobs with GET"
                            " /api/training/jobs")
    return job


def _accepted(job: Job) -> JobAccepted:
    return JobAccepted(job_id=job.id, status=job.status, job=JobView.of(job))


@router.get("/configs")
def get_configs(state: StateDep) -> ConfigList:
    """Config names a job may use (files inside config/)."""
    return ConfigList(configs=list_configs(state.settings.config_dir))


@router.post("/jobs", status_code=status.HTTP_202_ACCEPTED, dependencies=Auth)
def create_job(body: JobCreate, state: StateDep) -> JobAccepted:
    """Queue a training job; it becomes ``running`` when the trainer process reports ``started``."""
    try:
        resolved = resolve_job(state.settings, body)
    except JobRequestError as e:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", e.field), "msg": str(e), "input": getattr(body, e.field)}]
        ) from e
    return _accepted(state.runner.submit(resolved))


@router.get("/jobs")
def list_jobs(
    state: StateDep,
    status_filter: Annotated[JobStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> JobList:
    """Jobs, newest first."""
    return JobList(jobs=[JobView.of(j) for j in state.store.list_jobs(limit=limit, status=status_filter)])


@router.get("/jobs/{job_id}")
def get_job(job_id: str, state: StateDep) -> JobView:
    """One job: status, progress, timesteps, fps, latest metrics, checkpoint and error."""
    return JobView.of(_job(state, job_id))


@router.get("/jobs/{job_id}/metrics")
def get_metrics(
    job_id: str, state: StateDep, limit: Annotated[int, Query(ge=1, le=100_000)] = 5000
) -> MetricsView:
    """The job's metric series (one point per progress event), oldest first."""
    _job(state, job_id)
    points = [
        MetricPoint(time=p.time, timesteps=p.timesteps, fps=p.fps, metrics=p.metrics or {})
        for p in state.store.metrics(job_id, limit)
    ]
    return MetricsView(job_id=job_id, points=points)


@router.get("/jobs/{job_id}/logs")
def get_logs(
    job_id: str,
    state: StateDep,
    tail: Annotated[int, Query(ge=1, le=10_000)] = 200,
    source: Annotated[Literal["output", "run"], Query()] = "output",
) -> LinesView:
    """The last ``tail`` lines the trainer printed (``source=output``: stdout and stderr, warnings and errors) or of
    the run folder's log file (``source=run``: the SmartLogger file with INFO lines)."""
    job = _job(state, job_id)
    if source == "output":
        return LinesView(source=f"job {job_id} output", lines=state.store.tail_logs(job_id, tail))
    path = run_log_path(job.run_dir, state.settings.checkpoint_dir)
    if path is None:
        return LinesView(source=f"job {job_id} has no run log yet", lines=[])
    redact = state.runner.redactor(job)
    return LinesView(source=str(path), lines=[redact(line) for line in tail_lines(path, tail)])


@router.post("/jobs/{job_id}/cancel", status_code=status.HTTP_202_ACCEPTED, dependencies=Auth)
def cancel_job(job_id: str, state: StateDep) -> JobAccepted:
    """Cancel a queued job, or ask a running trainer to checkpoint and stop (then ``cancelled``)."""
    _job(state, job_id)
    try:
        return _accepted(state.runner.cancel(job_id))
    except JobStateError as e:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(e)) from e


@router.post("/jobs/{job_id}/resume", status_code=status.HTTP_202_ACCEPTED, dependencies=Auth)
def resume_job(job_id: str, state: StateDep, body: JobResume | None = None) -> JobAccepted:
    """Queue an interrupted, failed or cancelled job again; the trainer continues from its run folder."""
    _job(state, job_id)
    limit = state.settings.limits.max_timesteps
    if body is not None and body.timesteps is not None and body.timesteps > limit:
        raise RequestValidationError([{"type": "value_error", "loc": ("body", "timesteps"), "input": body.timesteps,
                                       "msg": f"timesteps={body.timesteps} is more than api.max_timesteps={limit}"}])
    try:
        return _accepted(state.runner.resume(job_id, body.timesteps if body else None))
    except JobStateError as e:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(e)) from e
