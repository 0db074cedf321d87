"""Queries and updates of jobs, their metric series and their process output (the job store)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.api.db import EventRecord, Job, JobStatus, LogLine, MetricSample


class JobStore:
    """Thread-safe access to the job tables: every call opens and commits its own short session.

    Objects returned are detached snapshots; change a job only through :meth:`update`.

    :param session_factory: sessions bound to the SQLite engine.
    """

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    def ping(self) -> None:
        """Run ``SELECT 1``; raises the driver's error when the database is unusable."""
        with self._sessions() as session:
            session.execute(text("SELECT 1"))

    def create(self, job: Job) -> Job:
        """Insert a new job and return it."""
        with self._sessions() as session, session.begin():
            session.add(job)
        return job

    def get(self, job_id: str) -> Job | None:
        """The job with this id, or ``None``."""
        with self._sessions() as session:
            return session.get(Job, job_id)

    def list_jobs(self, limit: int = 200, status: JobStatus | None = None) -> list[Job]:
        """Jobs, newest first.

        :param limit: the most jobs returned.
        :param status: only jobs in this state.
        """
        query = select(Job).order_by(Job.created_at.desc(), Job.id).limit(limit)
        if status is not None:
            query = query.where(Job.status == status)
        with self._sessions() as session:
            return list(session.scalars(query))

    def page_jobs(self, page: int, page_size: int, status: JobStatus | None = None,
                  kind: str | None = None) -> tuple[list[Job], int]:
        """One page of jobs, newest first, and the number of jobs matching the filters.

        :param page: 1-based page number (a page past the end is empty).
        :param page_size: jobs per page.
        :param status: only jobs in this state.
        :param kind: only jobs of this kind (``train``, ``evaluate``).
        """
        conditions = [c for c in (Job.status == status if status is not None else None,
                                  Job.kind == kind if kind is not None else None) if c is not None]
        query = select(Job).where(*conditions).order_by(Job.created_at.desc(), Job.id)
        with self._sessions() as session:
            total = session.scalar(select(func.count()).select_from(Job).where(*conditions)) or 0
            jobs = list(session.scalars(query.offset((page - 1) * page_size).limit(page_size)))
        return jobs, int(total)

    def update(self, job_id: str, **fields: Any) -> Job:
        """Set columns of a job (and ``updated_at``) and return the new state.

        :raises KeyError: when the job does not exist.
        """
        with self._sessions() as session, session.begin():
            return self.update_in(session, job_id, **fields)

    @staticmethod
    def update_in(session: Session, job_id: str, **fields: Any) -> Job:
        """:meth:`update` inside the caller's transaction (e.g. the one that stores the matching event).

        :raises KeyError: when the job does not exist.
        """
        job = session.get(Job, job_id)
        if job is None:
            raise KeyError(job_id)
        for name, value in fields.items():
            setattr(job, name, value)
        job.updated_at = time.time()
        return job

    def queued(self) -> list[Job]:
        """Accepted jobs whose process has not been launched, in the order they were queued."""
        query = (
            select(Job)
            .where(Job.status == JobStatus.ACCEPTED, Job.pid.is_(None))
            .order_by(Job.queued_at, Job.created_at)
        )
        with self._sessions() as session:
            return list(session.scalars(query))

    def stale(self) -> list[Job]:
        """Jobs that a previous server left running (or launched but not yet started)."""
        query = select(Job).where(
            (Job.status == JobStatus.RUNNING) | ((Job.status == JobStatus.ACCEPTED) & Job.pid.is_not(None))
        )
        with self._sessions() as session:
            return list(session.scalars(query))

    @staticmethod
    def add_metric_in(session: Session, job_id: str, at: float, timesteps: int, fps: float | None,
                      metrics: dict[str, Any]) -> None:
        """Append one point to a job's metric series, inside the caller's transaction."""
        session.add(MetricSample(job_id=job_id, time=at, timesteps=timesteps, fps=fps, metrics=metrics))

    def metrics(self, job_id: str, limit: int = 5000) -> list[MetricSample]:
        """The newest ``limit`` metric points of a job, oldest first."""
        query = select(MetricSample).where(MetricSample.job_id == job_id).order_by(MetricSample.id.desc()).limit(limit)
        with self._sessions() as session:
            return list(reversed(list(session.scalars(query))))

    def append_logs(self, job_id: str, lines: Iterable[str]) -> None:
        """Store lines of the job's process output."""
        now = time.time()
        rows = [LogLine(job_id=job_id, time=now, line=line) for line in lines]
        if rows:
            with self._sessions() as session, session.begin():
                session.add_all(rows)

    def tail_logs(self, job_id: str, n: int) -> list[str]:
        """The last ``n`` output lines of a job, oldest first."""
        query = select(LogLine.line).where(LogLine.job_id == job_id).order_by(LogLine.id.desc()).limit(n)
        with self._sessions() as session:
            return list(reversed(list(session.scalars(query))))

    def stats(self) -> dict[str, Any]:
        """Aggregate figures for the monitoring dashboard."""
        with self._sessions() as session:
            by_status = {s.value: 0 for s in JobStatus}
            for status, count in session.execute(select(Job.status, func.count()).group_by(Job.status)):
                by_status[JobStatus(status).value] = count
            total_steps = session.scalar(select(func.coalesce(func.sum(Job.timesteps), 0)))
            mean_fps = session.scalar(select(func.avg(Job.fps)).where(Job.status == JobStatus.COMPLETED))
            durations = session.execute(
                select(func.avg(Job.finished_at - Job.started_at)).where(
                    Job.status == JobStatus.COMPLETED, Job.started_at.is_not(None), Job.finished_at.is_not(None)
                )
            ).scalar()
            n_points = session.scalar(select(func.count()).select_from(MetricSample))
            n_events = session.scalar(select(func.count()).select_from(EventRecord))
            last_seq = session.scalar(select(func.max(EventRecord.seq)))
        finished = by_status["completed"] + by_status["failed"] + by_status["cancelled"]
        return {
            "jobs_total": sum(by_status.values()),
            "jobs_by_status": by_status,
            "success_rate": (by_status["completed"] / finished) if finished else None,
            "timesteps_trained": int(total_steps or 0),
            "mean_fps_completed": float(mean_fps) if mean_fps is not None else None,
            "mean_duration_s_completed": float(durations) if durations is not None else None,
            "metric_points": int(n_points or 0),
            "events_total": int(n_events or 0),
            "last_event_seq": int(last_seq or 0),
        }
