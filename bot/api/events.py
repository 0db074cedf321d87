"""The event hub: persists every event with a global sequence number, then fans it out to WebSocket clients."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.api.db import EventRecord

logger = logging.getLogger(__name__)

#: Item a subscription receives when it fell too far behind; the client must reconnect with ``?since=``.
OVERFLOW: None = None


class Subscription:
    """One WebSocket client's queue of live events (and replay requests, as ints).

    :param max_queue: events buffered for a slow client before it is dropped.
    """

    def __init__(self, max_queue: int) -> None:
        self.queue: asyncio.Queue[dict[str, Any] | int | None] = asyncio.Queue(maxsize=max_queue)
        self.overflowed = False

    def offer(self, item: dict[str, Any] | int) -> None:
        """Queue an item; on overflow, empty the queue and leave only :data:`OVERFLOW` (must run on the loop)."""
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(OVERFLOW)


class EventHub:
    """Publish events from any thread; deliver them in sequence order on the event loop.

    :param session_factory: sessions of the job store (the ``events`` table).
    :param max_queue: per-client buffer (see :class:`Subscription`).
    """

    def __init__(self, session_factory: sessionmaker[Session], max_queue: int = 2000) -> None:
        self._sessions = session_factory
        self._max_queue = max_queue
        self._lock = threading.Lock()
        self._subscribers: set[Subscription] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Attach the loop that serves the WebSockets (``None`` detaches it at shutdown)."""
        self._loop = loop

    @property
    def n_subscribers(self) -> int:
        """Connected WebSocket clients."""
        return len(self._subscribers)

    def publish(self, event_type: str, job_id: str | None, data: dict[str, Any],
                apply: Callable[[Session], None] | None = None) -> dict[str, Any]:
        """Persist an event, then schedule its delivery to every subscriber.

        Insert and scheduling happen under one lock, so clients receive events in ``seq`` order.

        :param event_type: e.g. ``training.progress``.
        :param job_id: the job it concerns, or ``None``.
        :param data: JSON-serialisable payload.
        :param apply: state changes to commit in the same transaction, after the event row: a reader never sees a
            job's new status without the event that announces it (nor the event without the status).
        :return: the message as sent to clients (``seq``, ``type``, ``job_id``, ``timestamp``, ``data``).
        """
        with self._lock:
            record = EventRecord(type=event_type, job_id=job_id, timestamp=time.time(), data=data)
            with self._sessions() as session, session.begin():
                session.add(record)
                session.flush()  # the event row is written (and numbered) before the state it announces
                if apply is not None:
                    apply(session)
            message = record.to_message()
            loop = self._loop
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(self._fanout, message)
        logger.debug("Published event %d %s for job %s", message["seq"], event_type, job_id)
        return message

    def _fanout(self, message: dict[str, Any]) -> None:
        for sub in list(self._subscribers):
            sub.offer(message)

    def subscribe(self) -> Subscription:
        """A new subscription receiving every event published from now on (call on the loop)."""
        sub = Subscription(self._max_queue)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop delivering to ``sub`` (idempotent)."""
        self._subscribers.discard(sub)

    def since(self, seq: int, limit: int = 10_000) -> list[dict[str, Any]]:
        """Persisted events with a sequence number above ``seq``, oldest first (at most ``limit``)."""
        query = select(EventRecord).where(EventRecord.seq > seq).order_by(EventRecord.seq).limit(limit)
        with self._sessions() as session:
            return [record.to_message() for record in session.scalars(query)]

    def last_seq(self) -> int:
        """The highest sequence number published so far (0 when none)."""
        with self._sessions() as session:
            return int(session.scalar(select(func.max(EventRecord.seq))) or 0)
