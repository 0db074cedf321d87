"""JSON-lines training events for the control API's job runner (``--events-jsonl PATH``, docs/ARCHITECTURE.md).

Each line is one event of the contract in :mod:`bot.training.event_schema` (``{"type": ..., "time": <unix s>,
...}``), validated before it is written; lines are appended and flushed one by one so a reader can tail the file.
A writer with a file also writes a ``heartbeat`` every few seconds from a daemon thread until ``close()``: the job
runner takes a silent file for a stopped or frozen process (``api.stall_timeout_s``).
Heartbeats begin with the first other event, or after a start-up allowance if none comes, so a run that starts
normally still has ``started`` as its first line.
"""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from bot.training.event_schema import EVENT_TYPES, validate_event

#: Seconds between heartbeats: well below the API's default stall timeout (120 s), so a busy machine is no stall.
HEARTBEAT_INTERVAL_S = 10.0
#: A silent start-up (data, workers) lasts this many intervals before heartbeats begin anyway; it stays below the
#: API's stall timeout, whose clock starts at the launch.
FIRST_HEARTBEAT_INTERVALS = 3.0


def _plain(value: Any) -> Any:
    """JSON-safe value: NumPy scalars become Python numbers, NaN/inf become None."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class EventWriter:
    """Appends events to a JSON-lines file; a writer without a path does nothing.

    :param path: the events file (its folder is created), or None.
    :param heartbeat_s: seconds between ``heartbeat`` events (0 = none); they prove the process is not stopped,
        also during long saves and validations, when no other event comes.
    :param first_heartbeat_s: seconds after which heartbeats begin although no other event was written yet; None is
        ``FIRST_HEARTBEAT_INTERVALS`` intervals.
    """

    def __init__(self, path: str | Path | None, heartbeat_s: float = HEARTBEAT_INTERVAL_S,
                 first_heartbeat_s: float | None = None) -> None:
        self.path = Path(path) if path else None
        self._fh: TextIO | None = None
        # the heartbeat thread and the trainer write to one file: one line at a time
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._first = threading.Event()  # set by the first event other than a heartbeat (or by close)
        self._beats: threading.Thread | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("a", encoding="utf-8")
            if heartbeat_s > 0:
                first_s = FIRST_HEARTBEAT_INTERVALS * heartbeat_s if first_heartbeat_s is None else first_heartbeat_s
                self._beats = threading.Thread(target=self._beat, args=(heartbeat_s, first_s), name="event-heartbeat",
                                               daemon=True)
                self._beats.start()

    def _beat(self, every_s: float, first_s: float) -> None:
        if not self._first.wait(first_s):
            self.emit("heartbeat")  # a long silent start-up: show at once that the process still runs
        while not self._closed.wait(every_s):
            self.emit("heartbeat")

    def emit(self, event_type: str, **fields: Any) -> None:
        """Append one event and flush it.

        :raises ValueError: for an unknown event type, or fields that break the event contract (a missing, extra or
            mistyped field; the message names it).
        """
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event_type!r}; expected one of {sorted(EVENT_TYPES)}")
        try:
            event = validate_event({"type": event_type, "time": time.time(), **_plain(fields)})
        except ValueError as e:
            raise ValueError(f"{event_type!r} event breaks the contract of bot.training.event_schema: {e}") from e
        if event_type != "heartbeat":
            self._first.set()
        with self._lock:
            if self._fh is None:
                return
            self._fh.write(json.dumps(event.model_dump(mode="json")) + "\n")
            self._fh.flush()

    def close(self) -> None:
        """Stop the heartbeats and close the file (idempotent)."""
        self._closed.set()
        self._first.set()
        if self._beats is not None and self._beats is not threading.current_thread():
            self._beats.join(timeout=5.0)
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
