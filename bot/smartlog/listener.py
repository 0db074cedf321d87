"""The listener: one thread in the main process that receives every process's records, applies the policy and writes.

Worker batches arrive through a bounded ``multiprocessing`` queue; the main process's own records are handed over
directly (:meth:`SmartLogListener.handle_local`), under the same lock, so one policy sees everything. Each admitted
record is redacted, formatted once and given to every sink; a sink that raises is reported once on stderr, counted and
skipped, and the listener carries on.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import queue
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from multiprocessing.context import BaseContext
from typing import Any

from bot.smartlog.policy import LogPolicy
from bot.smartlog.redaction import Redactor
from bot.smartlog.settings import SmartLogSettings, level_number
from bot.smartlog.sinks import LineFormatter, LogLine, Sink
from bot.smartlog.wire import WireBatch, WireRecord, WorkerId
from bot.smartlog.worker import WorkerHandle

#: Records per queue item sent by workers.
BATCH_SIZE = 64
#: Longest time a record waits in a worker's batch before it is sent (seconds).
FLUSH_INTERVAL_S = 0.05
#: Longest time ``stop()`` keeps reading the queue (seconds).
DRAIN_TIMEOUT_S = 10.0
_SUMMARY_WORKER = "listener"
# LogLine's generated __new__ is a Python function; tuple.__new__ builds the same object at C speed.
_new_line = tuple.__new__


class SmartLogListener:
    """Receives, filters, redacts and writes the records of every process.

    Use it through :func:`bot.smartlog.setup_logging`, which starts and stops it.

    :param settings: policy and output settings.
    :param n_workers: the number of worker processes (INFO rotation slots).
    :param sinks: where admitted records go.
    :param mp_context: multiprocessing context for the queue; the default, spawn, makes a queue that works with
        workers started by any method.
    :raises ValueError: when ``n_workers < 1``.
    """

    def __init__(
        self,
        settings: SmartLogSettings,
        n_workers: int,
        sinks: Sequence[Sink],
        mp_context: BaseContext | None = None,
    ) -> None:
        context = mp_context or multiprocessing.get_context("spawn")
        self.settings = settings
        # queue_size counts records; the queue holds batches of up to BATCH_SIZE records.
        n_batches = max(4, math.ceil(settings.queue_size / BATCH_SIZE))
        self._queue: multiprocessing.Queue[Any] = context.Queue(maxsize=n_batches)
        self._policy = LogPolicy(settings, n_workers, epoch=time.time())
        self._redactor = Redactor(settings.redact_keys, settings.redact_patterns)
        self._formatter = LineFormatter()
        self._sinks = list(sinks)
        self._min_level = level_number(settings.level)
        self._lock = threading.RLock()
        self._dispatch_thread: int | None = None
        self._stop_event = threading.Event()
        self._is_stopped = False
        window_s = settings.warning_dedup_window_s or 1.0
        self._tick_s = min(0.1, window_s / 4)
        self._failed_sinks: set[int] = set()
        self._n_sink_errors = 0
        self._n_summaries = 0
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="smartlog-listener", daemon=True)

    @property
    def n_workers(self) -> int:
        """The number of workers sharing the INFO rotation."""
        return self._policy.n_workers

    def start(self) -> None:
        """Start the listener thread."""
        self._thread.start()

    def worker_handle(self) -> WorkerHandle:
        """Return what a worker passes to :func:`bot.smartlog.init_worker` (picklable while a process starts).

        :return: the handle holding the queue and the worker-side settings.
        """
        return WorkerHandle(
            queue=self._queue,
            n_workers=self._policy.n_workers,
            level=self.settings.level,
            debug_sample_rate=self.settings.debug_sample_rate,
            info_rotation_interval_s=self.settings.info_rotation_interval_s,
            rotation_epoch=self._policy.epoch,
            critical_keywords=self.settings.critical_keywords,
            batch_size=BATCH_SIZE,
            flush_interval_s=FLUSH_INTERVAL_S,
            listener_pid=self._pid,
        )

    def handle_local(self, worker: WorkerId, records: list[WireRecord]) -> None:
        """Process records of the listener's own process synchronously (the main process's handler calls this).

        A record logged by a sink while it writes (same thread) is dropped and counted, never re-entered.

        :param worker: the label of the process, normally ``"main"``.
        :param records: the records.
        """
        with self._lock:
            if self._dispatch_thread == threading.get_ident():
                self._policy.counters.add(worker, "dropped", len(records))
                return
            self._process((worker, self._pid, 0, 0, 0, records))
            self._flush_sinks()

    def submit(self, batch: WireBatch) -> bool:
        """Put a batch on the queue without blocking (used from processes that share the queue but no handler).

        :param batch: the batch.
        :return: ``False`` when the queue was full or closed and the batch was dropped.
        """
        try:
            self._queue.put_nowait(batch)
        except (queue.Full, ValueError, OSError):
            return False
        return True

    def _run(self) -> None:
        while not self._stop_event.is_set():
            try:
                batch = self._queue.get(timeout=self._tick_s)
            except queue.Empty:
                batch = None
            except (EOFError, OSError) as exc:
                self._report(f"SmartLogger listener: the log queue broke ({exc!r}); worker records are lost from now")
                return
            with self._lock:
                if batch is not None:
                    self._process(batch)
                self._policy.expire(time.time())
                self._write_summaries()
                self._flush_sinks()

    def _process(self, batch: WireBatch) -> None:
        try:
            worker, pid, n_sampled, n_rotated, n_dropped, records = batch
            counters = self._policy.counters
            if n_sampled:
                counters.add(worker, "sampling", n_sampled)
            if n_rotated:
                counters.add(worker, "rotation", n_rotated)
            if n_dropped:
                counters.add(worker, "dropped", n_dropped)
            admit = self._policy.admit
            redact = self._redactor.redact
            label = str(worker)
            lines: list[LogLine] = []
            for created, levelno, name, template, message, exc_text in records:
                if levelno >= self._min_level and admit(worker, created, levelno, template, message):
                    lines.append(
                        _new_line(
                            LogLine,
                            (created, levelno, label, pid, name, redact(message), exc_text and redact(exc_text)),
                        )
                    )
        except (TypeError, ValueError) as exc:
            # redacted like every line: the item may hold a message with a secret
            item = self._redactor.redact(repr(batch))[:200]
            self._report(f"SmartLogger listener: skipped a malformed queue item ({exc!r}): {item}")
            return
        if lines:
            counters.add(worker, "written", len(lines))
        self._write(lines)
        self._write_summaries()

    def _write_summaries(self) -> None:
        summaries = self._policy.take_summaries()
        if summaries:
            self._n_summaries += len(summaries)
            now = time.time()
            redact = self._redactor.redact
            self._write(
                [
                    LogLine(now, logging.WARNING, _SUMMARY_WORKER, self._pid, "bot.smartlog", redact(s.text()), None)
                    for s in summaries
                ]
            )

    def _write(self, lines: list[LogLine]) -> None:
        if not lines:
            return
        texts = [self._formatter.format(line) for line in lines]
        self._dispatch_thread = threading.get_ident()
        try:
            for index, sink in enumerate(self._sinks):
                try:
                    sink.write(lines, texts)
                except Exception as exc:  # any sink failure is counted and reported, never fatal
                    self._sink_failed(index, sink, exc)
        finally:
            self._dispatch_thread = None

    def _flush_sinks(self) -> None:
        for index, sink in enumerate(self._sinks):
            try:
                sink.flush()
            except Exception as exc:  # same isolation as in _write
                self._sink_failed(index, sink, exc)

    def _sink_failed(self, index: int, sink: Sink, exc: Exception) -> None:
        self._n_sink_errors += 1
        if index not in self._failed_sinks:
            self._failed_sinks.add(index)
            detail = "".join(traceback.format_exception(exc)).rstrip()
            self._report(
                f"SmartLogger listener: output {type(sink).__name__} raised; skipping it for this batch and"
                f" counting further failures silently in stats()['handler_errors']:\n{detail}"
            )

    @staticmethod
    def _report(message: str) -> None:
        # The listener cannot log its own failures through logging (it is the logging backend).
        sys.stderr.write(message + "\n")
        sys.stderr.flush()

    def stats(self) -> dict[str, Any]:
        """Return the written and suppressed counts, totals and per worker, as a plain dict.

        :return: ``{"written", "suppressed": {"dedup", "rotation", "sampling", "dropped"}, "by_worker": {id: {...}},
            "dedup_summaries", "handler_errors"}``; see :func:`bot.smartlog.flatten_stats` for TensorBoard keys.
        """
        with self._lock:
            snapshot = self._policy.counters.snapshot()
            snapshot["dedup_summaries"] = self._n_summaries
            snapshot["handler_errors"] = self._n_sink_errors
        return snapshot

    def stop(self) -> None:
        """Stop the thread, process everything still queued, write the open dedup summaries, close the sinks.

        Stop the workers first: records they send after this are not read. Idempotent.
        """
        if self._is_stopped:
            return
        self._is_stopped = True
        self._stop_event.set()
        if self._thread.is_alive():
            self._thread.join()
        with self._lock:
            # bounded, in case a worker that was not stopped keeps the queue full
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            while time.monotonic() < deadline:
                try:
                    batch = self._queue.get_nowait()
                except (queue.Empty, EOFError, OSError):
                    break
                self._process(batch)
            self._policy.close_all()
            self._write_summaries()
            self._flush_sinks()
            for index, sink in enumerate(self._sinks):
                try:
                    sink.close()
                except Exception as exc:  # closing one output must not keep the others open
                    self._sink_failed(index, sink, exc)
