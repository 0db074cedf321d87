"""The ``metric_samples`` table: one progress report of a job (the series the charts draw)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.api.db.base import Base


class MetricSample(Base):
    """The metrics of one ``progress`` event, keyed by the timesteps done when it was sent."""

    __tablename__ = "metric_samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(32), ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    time: Mapped[float] = mapped_column(Float)
    timesteps: Mapped[int] = mapped_column(Integer)
    fps: Mapped[float | None] = mapped_column(Float, default=None)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    def __repr__(self) -> str:
        return f"MetricSample(job_id={self.job_id!r}, timesteps={self.timesteps})"
