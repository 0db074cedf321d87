"""Incremental readers of files another process is appending to: complete lines only, partial ones kept."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from bot.training import TrainerEvent, UnknownEvent, parse_event

logger = logging.getLogger(__name__)

#: Largest chunk read per call, so one huge burst cannot stall the runner.
_MAX_READ_BYTES = 1 << 20


class LineTailer:
    """Return the lines appended to a file since the last call.

    A line is returned only once its newline has been written, unless ``final`` is set (the writer has exited).

    :param path: the file; it may not exist yet.
    :param start_at_end: skip what the file already holds (used for output logs shared by several attempts).
    :param offset: byte offset to start reading at (where an earlier reader stopped); ignored with
        ``start_at_end``.
    """

    def __init__(self, path: Path, start_at_end: bool = False, offset: int = 0) -> None:
        self.path = path
        self._offset = path.stat().st_size if start_at_end and path.exists() else offset
        self._partial = b""

    def read(self, final: bool = False) -> list[str]:
        """New complete lines (without newline), decoded as UTF-8 with replacement.

        :param final: also return a trailing line without newline, and read everything that is left.
        """
        return [line for line, _end in self.read_positioned(final)]

    def read_positioned(self, final: bool = False) -> list[tuple[str, int]]:
        """Like :meth:`read`, each line with the file offset just after it (where a later reader may resume)."""
        start = self._offset - len(self._partial)
        chunks: list[bytes] = []
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                while True:
                    chunk = f.read(_MAX_READ_BYTES)
                    self._offset += len(chunk)
                    chunks.append(chunk)
                    if not chunk or not final:
                        break
        except FileNotFoundError:
            return []
        data = self._partial + b"".join(chunks)
        *complete, self._partial = data.split(b"\n")
        lines: list[tuple[str, int]] = []
        for raw in complete:
            start += len(raw) + 1
            lines.append((raw.decode("utf-8", errors="replace").rstrip("\r"), start))
        if final and self._partial:
            lines.append((self._partial.decode("utf-8", errors="replace").rstrip("\r"), start + len(self._partial)))
            self._partial = b""
        return lines


class EventTailer:
    """Return the trainer events appended to an events file, parsed with the trainer's own event contract
    (:mod:`bot.training.event_schema`).

    A line that is no JSON object with a ``type``, or whose fields break the contract, is logged and skipped; a
    type the contract does not know is returned as :class:`UnknownEvent` (the writer is alive, the event is ignored).

    :param path: the events file written by the trainer's ``--events-jsonl``.
    :param offset: byte offset to start at (the end of the last event already applied).
    """

    def __init__(self, path: Path, offset: int = 0) -> None:
        self._lines = LineTailer(path, offset=offset)
        self.n_malformed = 0

    @property
    def path(self) -> Path:
        """The file being read."""
        return self._lines.path

    def read(self, final: bool = False) -> list[TrainerEvent | UnknownEvent]:
        """New events, in file order.

        :param final: the writer has exited: read everything, including a last line without newline.
        """
        return [event for event, _end in self.read_positioned(final)]

    def read_positioned(self, final: bool = False) -> list[tuple[TrainerEvent | UnknownEvent, int]]:
        """Like :meth:`read`, each event with the file offset just after its line."""
        events: list[tuple[TrainerEvent | UnknownEvent, int]] = []
        for line, end in self._lines.read_positioned(final=final):
            if not line.strip():
                continue
            try:
                events.append((_parse(line), end))
            except ValueError as e:  # bad JSON and contract breaks (json's and pydantic's errors are ValueErrors)
                self.n_malformed += 1
                logger.warning("Skipped a malformed line of %s: %s (%.80s)", self.path, e, line)
        return events


def _parse(line: str) -> TrainerEvent | UnknownEvent:
    obj = json.loads(line)
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise ValueError("no JSON object with a 'type' field")
    return parse_event(obj)
