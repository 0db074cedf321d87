"""Entry-point API: ``setup_logging`` (main process, once) and ``get_logger`` (every module).

``setup_logging`` builds the outputs from the settings, starts the listener, and routes the main process's root
logger through the same policy (as worker ``"main"``); on exit it drains the queue, writes the open dedup summaries,
flushes and closes everything, and restores the root logger as it was.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any, TextIO

from bot.smartlog.listener import SmartLogListener
from bot.smartlog.settings import SmartLogSettings, level_number
from bot.smartlog.sinks import HandlerSink, JsonLinesSink, Sink, StreamSink, TextFileSink
from bot.smartlog.wire import to_wire

MAIN_WORKER = "main"
#: Label of records from a process forked off the main process that never called ``init_worker``.
CHILD_WORKER = "child"


def get_logger(name: str) -> logging.Logger:
    """Return the standard logger ``name``; ``logging.getLogger(__name__)`` is equivalent.

    :param name: the logger name, normally the module's ``__name__``.
    :return: the logger.
    """
    return logging.getLogger(name)


class MainProcessHandler(logging.Handler):
    """Root handler of the main process: hands records to the listener in this process.

    In a process forked from the main process that never called ``init_worker`` (the handler was inherited), records
    are put on the listener's queue instead, labelled ``"child"``; none is ever written by that process.

    :param listener: the running listener.
    """

    def __init__(self, listener: SmartLogListener) -> None:
        super().__init__()
        self._listener = listener
        self._pid = os.getpid()
        self._n_dropped_in_child = 0

    def emit(self, record: logging.LogRecord) -> None:
        """Pass the record to the listener (directly, or through the queue from a forked child).

        :param record: the record.
        """
        if os.getpid() == self._pid:
            self._listener.handle_local(MAIN_WORKER, [to_wire(record)])
            return
        batch = (CHILD_WORKER, os.getpid(), 0, 0, self._n_dropped_in_child, [to_wire(record)])
        if self._listener.submit(batch):
            self._n_dropped_in_child = 0
        else:
            self._n_dropped_in_child += 1


def build_sinks(
    settings: SmartLogSettings,
    log_dir: Path,
    extra_handlers: Sequence[logging.Handler] = (),
    console_stream: TextIO | None = None,
) -> list[Sink]:
    """Create the outputs named by the settings.

    :param settings: the logging settings.
    :param log_dir: folder of ``settings.file`` and ``settings.jsonl_file`` (created if missing).
    :param extra_handlers: further ``logging.Handler`` objects fed with every admitted record.
    :param console_stream: console stream; ``None`` uses ``sys.stderr``.
    :return: the sinks, in writing order.
    """
    sinks: list[Sink] = []
    if settings.file:
        sinks.append(TextFileSink(log_dir / settings.file, settings.max_bytes, settings.backup_count))
    if settings.jsonl_file:
        sinks.append(JsonLinesSink(log_dir / settings.jsonl_file, settings.max_bytes, settings.backup_count))
    if settings.console:
        sinks.append(StreamSink(console_stream or sys.stderr, level_number(settings.console_level)))
    sinks.extend(HandlerSink(handler) for handler in extra_handlers)
    return sinks


@contextmanager
def setup_logging(
    settings: SmartLogSettings,
    log_dir: str | Path,
    n_workers: int,
    *,
    extra_handlers: Sequence[logging.Handler] = (),
    console_stream: TextIO | None = None,
    mp_context: BaseContext | None = None,
) -> Iterator[SmartLogListener]:
    """Start the SmartLogger in the main process; stop it, losing nothing, when the block ends.

    Start workers with ``listener.worker_handle()`` and have each call :func:`bot.smartlog.init_worker`; stop (join)
    them before the block ends, so that their last records are read.

    :param settings: policy and outputs (``cfg.logging`` is one).
    :param log_dir: folder of the log files (e.g. the run folder).
    :param n_workers: the number of worker processes (ids ``0 .. n_workers - 1``) sharing the INFO rotation.
    :param extra_handlers: further ``logging.Handler`` objects fed with every admitted record.
    :param console_stream: console stream; ``None`` uses ``sys.stderr``.
    :param mp_context: context for the queue; default spawn, which works with workers of every start method.
    :return: a context manager yielding the running :class:`SmartLogListener`.
    :raises ValueError: when ``n_workers < 1``.
    """
    if n_workers < 1:
        raise ValueError(f"n_workers={n_workers!r} must be >= 1 (the number of worker processes that log)")
    sinks = build_sinks(settings, Path(log_dir), extra_handlers, console_stream)
    listener = SmartLogListener(settings, n_workers, sinks, mp_context=mp_context)
    listener.start()
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    handler = MainProcessHandler(listener)
    for saved in saved_handlers:
        root.removeHandler(saved)
    root.addHandler(handler)
    root.setLevel(level_number(settings.level))
    try:
        yield listener
    finally:
        root.removeHandler(handler)
        for saved in saved_handlers:
            root.addHandler(saved)
        root.setLevel(saved_level)
        listener.stop()


def command_logging(
    settings: SmartLogSettings, log_dir: str | Path, file: str | None, redact_patterns: Sequence[str] = ()
) -> AbstractContextManager[SmartLogListener]:
    """The SmartLogger of a single-process command (``serve``, ``paper``, ``fetch-data``): the config's policy, the
    command's own log file, and patterns of values only the command knows (API keys) redacted too.

    :param settings: the config's ``logging`` section.
    :param log_dir: folder of the log file.
    :param file: the command's log file name in ``log_dir``; ``None`` logs to the console only (no JSON-lines file).
    :param redact_patterns: regular expressions redacted on top of ``settings.redact_patterns``.
    :return: the context manager of :func:`setup_logging` with one process logging.
    """
    update: dict[str, Any] = {"file": file, "redact_patterns": (*settings.redact_patterns, *redact_patterns)}
    if file is None:
        update["jsonl_file"] = None
    return setup_logging(SmartLogSettings(**{**settings.model_dump(), **update}), log_dir, n_workers=1)


def flatten_stats(stats: dict[str, Any], prefix: str = "smartlog") -> dict[str, float]:
    """Flatten :meth:`SmartLogListener.stats` into ``"prefix/a/b": value`` pairs for TensorBoard scalars.

    :param stats: the nested dict from ``listener.stats()``.
    :param prefix: the first key part.
    :return: e.g. ``{"smartlog/suppressed/dedup": 11.0, "smartlog/by_worker/0/rotation": 40.0, ...}``.
    """
    flat: dict[str, float] = {}
    for key, value in stats.items():
        name = f"{prefix}/{key}"
        if isinstance(value, dict):
            flat.update(flatten_stats(value, name))
        else:
            flat[name] = float(value)
    return flat
