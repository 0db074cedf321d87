"""What travels from a process to the listener: plain tuples, cheap to pickle and safe to unpickle anywhere.

A record is ``(created, levelno, name, template, message, exc_text)``: the message is formatted in the process that
logged it (its arguments may not be picklable), and the template (``record.msg``) is kept for dedup and sampling.
A batch is ``(worker_id, pid, n_sampled, n_rotated, n_dropped, records)``: the counts are the records that process
suppressed (DEBUG sampling, INFO rotation) or lost (full queue) since its previous batch, so they reach the listener
piggy-backed on the next batch that gets through.
"""

from __future__ import annotations

import logging
import traceback

#: A worker id: the worker's index, or a label such as ``"main"`` for processes outside the INFO rotation.
WorkerId = int | str
#: ``(created, levelno, name, template, message, exc_text)``
WireRecord = tuple[float, int, str, str, str, str | None]
#: ``(worker_id, pid, n_sampled, n_rotated, n_dropped, records)``
WireBatch = tuple[WorkerId, int, int, int, int, list[WireRecord]]


def _render_message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except (TypeError, ValueError, KeyError) as exc:
        # A bad format call must not lose the line: keep the template and arguments visible.
        return f"{record.msg!s} % {record.args!r} (message formatting failed: {exc})"


def _render_exception(record: logging.LogRecord) -> str | None:
    parts: list[str] = []
    if record.exc_info and record.exc_info[0] is not None:
        parts.append("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
    elif record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(parts) if parts else None


def to_wire(record: logging.LogRecord) -> WireRecord:
    """Convert a ``LogRecord`` to the tuple sent to the listener.

    :param record: the record as created by ``logging``.
    :return: ``(created, levelno, name, template, message, exc_text)``; the traceback, if any, is rendered as text.
    """
    template = record.msg if isinstance(record.msg, str) else str(record.msg)
    return (record.created, record.levelno, record.name, template, _render_message(record), _render_exception(record))
