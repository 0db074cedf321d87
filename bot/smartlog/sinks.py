"""Outputs of the listener: console stream, size-rotated text file, JSON-lines file, and any ``logging.Handler``.

Lines are formatted once, cheaply, in the listener: ``<UTC time> <LEVEL> [worker=<id> pid=<pid>] <logger>: <message>``
followed by the traceback lines, if any. The file writers count bytes themselves and rotate like
``logging.handlers.RotatingFileHandler`` (``bot.log`` -> ``bot.log.1`` ... ``bot.log.N``), without its per-record
``tell()`` and double formatting.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple, Protocol, TextIO


class LogLine(NamedTuple):
    """A record admitted by the policy, redacted, as the sinks receive it."""

    created: float
    levelno: int
    worker: str
    pid: int
    name: str
    message: str
    exc_text: str | None


class LineFormatter:
    """Formats :class:`LogLine` objects as text, caching the per-second timestamp and the per-source line head."""

    __slots__ = ("_heads", "_second", "_second_text")

    def __init__(self) -> None:
        self._second = -1
        self._second_text = ""
        self._heads: dict[tuple[int, str, int, str], str] = {}

    def format(self, line: LogLine) -> str:
        """Return the text of one line (with its traceback lines, if any), without a trailing newline.

        :param line: the record to format.
        :return: ``<UTC time> <LEVEL> [worker=<id> pid=<pid>] <logger>: <message>``.
        """
        created, levelno, worker, pid, name, message, exc_text = line
        second = int(created)
        if second != self._second:
            self._second = second
            self._second_text = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
        key = (levelno, worker, pid, name)
        head = self._heads.get(key)
        if head is None:
            if len(self._heads) > 10_000:  # bounded: many short-lived workers or logger names
                self._heads.clear()
            head = self._heads[key] = f"Z {logging.getLevelName(levelno):<8} [worker={worker} pid={pid}] {name}: "
        text = f"{self._second_text}.{int((created - second) * 1000):03d}{head}{message}"
        return text if exc_text is None else f"{text}\n{exc_text}"


class Sink(Protocol):
    """An output of the listener."""

    def write(self, lines: Sequence[LogLine], texts: Sequence[str]) -> None:
        """Write a batch; ``texts[i]`` is ``lines[i]`` formatted."""

    def flush(self) -> None:
        """Push buffered output to its destination."""

    def close(self) -> None:
        """Flush and release the output."""


class RotatingWriter:
    """Appends UTF-8 lines to a file and rotates it before a write would pass ``max_bytes``.

    :param path: the file; its folder is created if missing.
    :param max_bytes: largest size of the file in bytes (a single longer line is written alone).
    :param backup_count: rotated files to keep; 0 truncates the file instead of rotating.
    """

    def __init__(self, path: Path, max_bytes: int, backup_count: int) -> None:
        self.path = path
        self._max_bytes = max_bytes
        self._backup_count = backup_count
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "ab")  # noqa: SIM115 - held open for the listener's lifetime, closed in close()
        self._size = self._file.tell()

    def write_lines(self, texts: Sequence[str]) -> None:
        """Append each text as one line, rotating between lines where needed.

        :param texts: the lines, without trailing newlines.
        """
        if not texts:
            return
        data = ("\n".join(texts) + "\n").encode("utf-8", "backslashreplace")
        if self._size + len(data) <= self._max_bytes:
            # the common case: the whole batch fits, no per-line accounting needed
            self._file.write(data)
            self._size += len(data)
            return
        pending: list[bytes] = []
        for text in texts:
            data = (text + "\n").encode("utf-8", "backslashreplace")
            if self._size and self._size + len(data) > self._max_bytes:
                self._file.write(b"".join(pending))
                pending = []
                self._rotate()
            pending.append(data)
            self._size += len(data)
        self._file.write(b"".join(pending))

    def _rotate(self) -> None:
        self._file.close()
        if self._backup_count > 0:
            for index in range(self._backup_count - 1, 0, -1):
                source = self.path.with_name(f"{self.path.name}.{index}")
                if source.exists():
                    os.replace(source, self.path.with_name(f"{self.path.name}.{index + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._file = open(self.path, "wb")  # noqa: SIM115 - replaces the file closed above
        self._size = 0

    def flush(self) -> None:
        """Push buffered bytes to the operating system."""
        self._file.flush()

    def close(self) -> None:
        """Flush and close the file."""
        if not self._file.closed:
            self._file.close()


class TextFileSink:
    """The size-rotated text log file (the listener has already dropped records below ``settings.level``).

    :param path: the file.
    :param max_bytes: rotate before the file would pass this size.
    :param backup_count: rotated files kept.
    """

    def __init__(self, path: Path, max_bytes: int, backup_count: int) -> None:
        self._writer = RotatingWriter(path, max_bytes, backup_count)

    def write(self, lines: Sequence[LogLine], texts: Sequence[str]) -> None:
        """Write every line."""
        self._writer.write_lines(texts)

    def flush(self) -> None:
        """Flush the file."""
        self._writer.flush()

    def close(self) -> None:
        """Close the file."""
        self._writer.close()


class JsonLinesSink(TextFileSink):
    """A size-rotated JSON-lines file: one object per record with ``time, level, worker, pid, logger, message, exc``.

    :param path: the file.
    :param max_bytes: rotate before the file would pass this size.
    :param backup_count: rotated files kept.
    """

    def write(self, lines: Sequence[LogLine], texts: Sequence[str]) -> None:
        """Write every line as a JSON object."""
        self._writer.write_lines(
            [
                json.dumps(
                    {
                        "time": ln.created,
                        "level": logging.getLevelName(ln.levelno),
                        "worker": ln.worker,
                        "pid": ln.pid,
                        "logger": ln.name,
                        "message": ln.message,
                        "exc": ln.exc_text,
                    }
                )
                for ln in lines
            ]
        )


class StreamSink:
    """A text stream, normally the console's stderr (not closed by :meth:`close`).

    :param stream: where to write.
    :param min_level: lowest level written.
    """

    def __init__(self, stream: TextIO, min_level: int) -> None:
        self._stream = stream
        self._min_level = min_level

    def write(self, lines: Sequence[LogLine], texts: Sequence[str]) -> None:
        """Write the lines at or above the sink's level."""
        selected = [t for t, ln in zip(texts, lines, strict=True) if ln.levelno >= self._min_level]
        if selected:
            self._stream.write("\n".join(selected) + "\n")

    def flush(self) -> None:
        """Flush the stream."""
        self._stream.flush()

    def close(self) -> None:
        """Flush the stream; it belongs to the caller."""
        self.flush()


class HandlerSink:
    """Feeds any ``logging.Handler`` (e.g. one that forwards to TensorBoard or a UI) with the admitted records.

    The records it receives carry the redacted message in ``msg`` (``args`` is ``None``), the original ``created``,
    ``process`` = the worker's pid, and an extra ``worker_id`` attribute. The handler's own level is respected.

    :param handler: the handler; closed by :meth:`close`.
    """

    def __init__(self, handler: logging.Handler) -> None:
        self.handler = handler

    def write(self, lines: Sequence[LogLine], texts: Sequence[str]) -> None:
        """Pass each line at or above the handler's level to ``handler.handle``."""
        for ln in lines:
            if ln.levelno >= self.handler.level:
                record = logging.makeLogRecord(
                    {
                        "name": ln.name,
                        "msg": ln.message,
                        "levelno": ln.levelno,
                        "levelname": logging.getLevelName(ln.levelno),
                        "created": ln.created,
                        "msecs": (ln.created - int(ln.created)) * 1000,
                        "process": ln.pid,
                        "worker_id": ln.worker,
                        "exc_text": ln.exc_text,
                    }
                )
                self.handler.handle(record)

    def flush(self) -> None:
        """Flush the handler."""
        self.handler.flush()

    def close(self) -> None:
        """Close the handler."""
        self.handler.close()
