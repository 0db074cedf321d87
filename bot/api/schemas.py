"""Pydantic request and response bodies of the control API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bot.api.db import Job, JobStatus
from bot.config import Timeframe

Algo = Literal["ppo", "ddqn", "maskable_ppo", "recurrent_ppo", "rf", "gbm"]

#: Hard ceiling of one override; the configurable limit (api.max_override_chars) is checked after parsing.
Override = Annotated[str, StringConstraints(max_length=100_000)]


class JobCreate(BaseModel):
    """Body of ``POST /api/training/jobs``. Omitted fields take the config's value.

    Strict: ``"1000"`` or ``true`` is not an integer, and NaN or Infinity is no number of any field.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    config: str = Field(
        "demo.yaml", min_length=1, max_length=200, description="config file name inside config/ (e.g. demo.yaml)"
    )
    overrides: list[Override] = Field(
        default_factory=list, max_length=1000,
        description="dotted.key=value overrides, as --set on the CLI (api.max_overrides and api.max_override_chars)",
    )
    algo: Algo | None = Field(None, description="training.algo")
    workers: int | None = Field(
        None, ge=1, le=256, description="worker processes (training.n_workers; api.max_workers)"
    )
    timesteps: int | None = Field(None, ge=1, le=10_000_000_000, description="total env steps")
    symbol: str | None = Field(
        None, min_length=1, max_length=40, pattern=r"^[A-Za-z0-9]+/[A-Za-z0-9]+(:[A-Za-z0-9]+)?$",
        description="data.symbol label, ccxt style (BTC/USDT)",
    )
    timeframe: Timeframe | None = Field(None, description="data.base_timeframe (higher timeframes are kept)")
    seed: int | None = Field(None, ge=0, le=2**31 - 1, description="master seed")


class EvaluationCreate(BaseModel):
    """Body of ``POST /api/evaluations``: evaluate a run folder's checkpoint out of sample (strict)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    run_id: str = Field(min_length=1, max_length=200, description="run folder name under the checkpoint folder")
    which: str = Field("best", pattern=r"^(best|latest|[0-9]{1,12})$",
                       description="best | latest | a checkpoint step number")
    split: Literal["train", "validation", "test"] = Field("test", description="data split to evaluate on")
    fees_off: bool = Field(False, description="zero fees and slippage")


class JobResume(BaseModel):
    """Optional body of ``POST /api/training/jobs/{id}/resume`` (strict, like :class:`JobCreate`)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    timesteps: int | None = Field(
        None, ge=1, le=10_000_000_000, description="new total budget (must exceed the timesteps done)"
    )


class JobView(BaseModel):
    """A job as the API reports it."""

    id: str
    kind: str = Field(description="train or evaluate (see bot.api.job_kinds)")
    params: dict[str, Any] = Field(description="the kind's parameters (an evaluation's run, checkpoint, report)")
    status: JobStatus
    progress: float = Field(description="timesteps / total_timesteps in [0, 1]")
    timesteps: int
    total_timesteps: int
    fps: float | None
    metrics: dict[str, Any]
    algo: str
    workers: int
    seed: int
    symbol: str
    timeframe: str
    config: str
    overrides: list[str]
    checkpoint: str | None = Field(description="the run folder (holds the latest checkpoint; --resume target)")
    last_checkpoint: str | None = Field(description="the newest numbered checkpoint folder written")
    error: str | None
    exit_code: int | None
    pid: int | None
    attempt: int
    cancel_requested: bool
    created_at: float
    started_at: float | None
    finished_at: float | None
    updated_at: float

    @classmethod
    def of(cls, job: Job) -> JobView:
        """Build the view of a job row."""
        return cls(
            id=job.id,
            kind=job.kind,
            params=dict(job.params or {}),
            status=job.status,
            progress=job.progress,
            timesteps=job.timesteps,
            total_timesteps=job.total_timesteps,
            fps=job.fps,
            metrics=job.metrics or {},
            algo=job.algo,
            workers=job.workers,
            seed=job.seed,
            symbol=job.symbol,
            timeframe=job.timeframe,
            config=job.config_name,
            overrides=list(job.overrides or []),
            checkpoint=job.run_dir,
            last_checkpoint=job.last_checkpoint,
            error=job.error,
            exit_code=job.exit_code,
            pid=job.pid,
            attempt=job.attempt,
            cancel_requested=job.cancel_requested,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            updated_at=job.updated_at,
        )


class JobAccepted(BaseModel):
    """Reply of job creation and resume (HTTP 202)."""

    job_id: str
    status: JobStatus
    job: JobView


class JobList(BaseModel):
    """Reply of ``GET /api/training/jobs``: one page of jobs, newest first."""

    jobs: list[JobView]
    total: int = Field(description="jobs matching the filter, on all pages")
    page: int
    page_size: int


class RunView(BaseModel):
    """A run folder: checkpoints, data, dates, headline validation metrics and evaluation reports."""

    run_id: str
    algorithm: str | None
    status: str | None
    timesteps: int | None
    total_timesteps: int | None
    created: str | None
    modified_at: float
    data: dict[str, Any]
    validation: dict[str, float | None]
    checkpoints: list[str]
    reports: list[str]


class RunList(BaseModel):
    """Reply of ``GET /api/runs``: one page of run folders, newest first."""

    runs: list[RunView]
    total: int
    page: int
    page_size: int


class MetricPoint(BaseModel):
    """One progress event of a job: its time (unix s), timesteps, fps and metrics (NaN as null)."""

    time: float
    timesteps: int
    fps: float | None
    metrics: dict[str, Any]


class MetricsView(BaseModel):
    """Reply of ``GET /api/training/jobs/{id}/metrics``: the job's metric series, oldest first."""

    job_id: str
    points: list[MetricPoint]
    total_points: int = Field(description="points stored; more than len(points) when the series was downsampled")


class LinesView(BaseModel):
    """Log lines, oldest first."""

    source: str
    lines: list[str]


class ConfigList(BaseModel):
    """Reply of ``GET /api/training/configs``: config names a job may use (paths inside config/)."""

    configs: list[str]
