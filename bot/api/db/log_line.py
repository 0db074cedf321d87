"""The ``log_lines`` table: the trainer process's output (stdout and stderr merged), line by line."""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.api.db.base import Base


class LogLine(Base):
    """One line the trainer process printed; the runner stores them in the order read."""

    __tablename__ = "log_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(32), ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    time: Mapped[float] = mapped_column(Float)
    line: Mapped[str] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"LogLine(job_id={self.job_id!r}, line={self.line[:40]!r})"
