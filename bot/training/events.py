"""JSON-lines training events for the control API's job runner (``--events-jsonl PATH``, docs/ARCHITECTURE.md).

Each line is ``{"type": ..., "time": <unix s>, ...}`` with type ``started``, ``progress``, ``checkpoint``,
``completed``, ``failed`` or ``cancelled``; lines are appended and flushed one by one so a reader can tail the file.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, TextIO

EVENT_TYPES = frozenset({"started", "progress", "checkpoint", "completed", "failed", "cancelled"})


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
    """

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self._fh: TextIO | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("a", encoding="utf-8")

    def emit(self, event_type: str, **fields: Any) -> None:
        """Append one event and flush it.

        :raises ValueError: for an unknown event type.
        """
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event_type!r}; expected one of {sorted(EVENT_TYPES)}")
        if self._fh is None:
            return
        record = {"type": event_type, "time": time.time(), **_plain(fields)}
        self._fh.write(json.dumps(record) + "\n")
        self._fh.flush()

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
