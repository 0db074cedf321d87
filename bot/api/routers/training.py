"""``/api/training``: submit, list, inspect, cancel and resume training jobs (thin: the runner does the work)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.exceptions import RequestValidationError

from bot.api.db import Job, JobStatus
from bot.api.deps import AppState, StateDep, invalid_field, require_token
from bot.api.downsample import downsample_keys
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
from bot.training import finite_number

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
        raise invalid_field(e, body) from e
    return _accepted(state.runner.submit(resolved))


@router.get("/jobs")
def list_jobs(
    state: StateDep,
    status_filter: Annotated[JobStatus | None, Query(alias="status")] = None,
    kind: Annotated[str | None, Query(pattern=r"^[a-z_]{1,16}$", description="train or evaluate")] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int | None, Query(ge=1, le=1000)] = None,
    limit: Annotated[int | None, Query(ge=1, le=1000, description="the page size (older name)")] = None,
) -> JobList:
    """One page of jobs, newest first, with the number of matching jobs."""
    size = page_size or limit or 200
    jobs, total = state.store.page_jobs(page, size, status=status_filter, kind=kind)
    return JobList(jobs=[JobView.of(j) for j in jobs], total=total, page=page, page_size=size)


@router.get("/jobs/{job_id}")
def get_job(job_id: str, state: StateDep) -> JobView:
    """One job: status, progress, timesteps, fps, latest metrics, checkpoint and error."""
    return JobView.of(_job(state, job_id))


@router.get("/jobs/{job_id}/metrics")
def get_metrics(
    job_id: str,
    state: StateDep,
    limit: Annotated[int, Query(ge=1, le=100_000, description="newest points read")] = 100_000,
    max_points: Annotated[int, Query(ge=3, le=100_000, description="points kept per metric (LTTB)")] = 1000,
) -> MetricsView:
    """The job's metric series (one point per progress event), oldest first; a longer series is downsampled with
    LTTB per metric, so the chart keeps its shape."""
    _job(state, job_id)
    samples = state.store.metrics(job_id, limit)
    keys = sorted({k for p in samples for k in (p.metrics or {})})
    series = {k: [finite_number((p.metrics or {}).get(k)) for p in samples] for k in keys}
    kept = downsample_keys([float(p.timesteps) for p in samples], series, max_points)
    points = [MetricPoint(time=samples[i].time, timesteps=samples[i].timesteps, fps=finite_number(samples[i].fps),
                          metrics={k: series[k][i] for k in keys if k in (samples[i].metrics or {})})
              for i in kept]
    return MetricsView(job_id=job_id, points=points, total_points=len(samples))


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
