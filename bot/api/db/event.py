"""The ``events`` table: every event sent on ``/ws``, with its global sequence number, for replay."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.api.db.base import Base


class EventRecord(Base):
    """A published event. ``seq`` is SQLite AUTOINCREMENT: strictly increasing and never reused."""

    __tablename__ = "events"
    __table_args__ = ({"sqlite_autoincrement": True},)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(32))
    job_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    timestamp: Mapped[float] = mapped_column(Float)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    def to_message(self) -> dict[str, Any]:
        """The JSON object sent to WebSocket clients."""
        return {
            "seq": self.seq,
            "type": self.type,
            "job_id": self.job_id,
            "timestamp": self.timestamp,
            "data": self.data,
        }

    def __repr__(self) -> str:
        return f"EventRecord(seq={self.seq}, type={self.type!r}, job_id={self.job_id!r})"
