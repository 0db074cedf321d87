"""SQLAlchemy models of the job store: jobs, metric samples, log lines and events."""

from bot.api.db.base import Base, make_engine, make_session_factory
from bot.api.db.event import EventRecord
from bot.api.db.job import Job, JobStatus
from bot.api.db.log_line import LogLine
from bot.api.db.metric import MetricSample

__all__ = ["Base", "EventRecord", "Job", "JobStatus", "LogLine", "MetricSample", "make_engine", "make_session_factory"]
