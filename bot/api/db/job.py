"""The ``jobs`` table: one training job, its lifecycle state and its latest progress."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import JSON, Enum, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.api.db.base import Base


class JobStatus(enum.StrEnum):
    """Lifecycle of a job. ``running`` is set only when the trainer reports ``started``."""

    ACCEPTED = "accepted"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    @property
    def is_terminal(self) -> bool:
        """Whether the job will not change any more unless it is resumed."""
        return self not in (JobStatus.ACCEPTED, JobStatus.RUNNING)


class Job(Base):
    """A job submitted through the API: a training run or an evaluation (``kind``, see :mod:`bot.api.job_kinds`)."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: what the job runs (``train``, ``evaluate``); a store written before kinds existed holds training jobs only
    kind: Mapped[str] = mapped_column(String(16), default="train", server_default="'train'", index=True)
    #: the kind's own parameters (e.g. an evaluation's run folder, checkpoint and split)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="'{}'")
    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]), index=True
    )
    algo: Mapped[str] = mapped_column(String(32))
    workers: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    symbol: Mapped[str] = mapped_column(String(64))
    timeframe: Mapped[str] = mapped_column(String(8))
    config_name: Mapped[str] = mapped_column(String(255))
    overrides: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[float] = mapped_column(Float, index=True)
    updated_at: Mapped[float] = mapped_column(Float)
    queued_at: Mapped[float] = mapped_column(Float, index=True)
    started_at: Mapped[float | None] = mapped_column(Float, default=None)
    finished_at: Mapped[float | None] = mapped_column(Float, default=None)
    total_timesteps: Mapped[int] = mapped_column(Integer)
    timesteps: Mapped[int] = mapped_column(Integer, default=0)
    fps: Mapped[float | None] = mapped_column(Float, default=None)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    run_dir: Mapped[str | None] = mapped_column(Text, default=None)
    last_checkpoint: Mapped[str | None] = mapped_column(Text, default=None)
    resume_from: Mapped[str | None] = mapped_column(Text, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    exit_code: Mapped[int | None] = mapped_column(Integer, default=None)
    pid: Mapped[int | None] = mapped_column(Integer, default=None)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    #: bytes of the current attempt's events file already applied (a restarted server resumes reading there)
    events_offset: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    @property
    def progress(self) -> float:
        """Fraction of the total timesteps done, in [0, 1] (1 once completed)."""
        if self.status == JobStatus.COMPLETED:
            return 1.0
        if self.total_timesteps <= 0:
            return 0.0
        return min(1.0, max(0.0, self.timesteps / self.total_timesteps))

    def __repr__(self) -> str:
        return (f"Job(id={self.id!r}, kind={self.kind}, status={self.status.value},"
                f" timesteps={self.timesteps}/{self.total_timesteps})")
