"""The worker's root handler: batches records and hands them to the listener's queue without ever blocking.

Records are converted to plain tuples (:mod:`bot.smartlog.wire`) and sent in batches: one ``put_nowait`` per
``batch_size`` records, and every ``flush_interval_s`` from a small daemon thread, so a quiet worker's lines still
arrive promptly. When the queue is full, the batch is dropped and counted; the count rides
on the next batch that gets through. On close, the last batch may wait up to ``close_timeout_s`` for room, since by
then no logging call is waiting on it.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from typing import Any, Protocol

from bot.smartlog.debug_gate import SuppressedCount
from bot.smartlog.wire import WireBatch, WireRecord, WorkerId, to_wire


class BatchQueue(Protocol):
    """The two methods of ``multiprocessing.Queue`` the handler uses."""

    def put_nowait(self, obj: Any) -> None:
        """Put without waiting; raise ``queue.Full`` when there is no room."""

    def put(self, obj: Any, block: bool = True, timeout: float | None = None) -> None:
        """Put, waiting up to ``timeout`` seconds for room."""


class BatchQueueHandler(logging.Handler):
    """Send a process's records to the listener in batches, dropping (and counting) when the queue is full.

    :param log_queue: the listener's multiprocessing queue.
    :param worker_id: this process's worker id, written on every line.
    :param sampled: the process's count of DEBUG records suppressed by sampling (reported to the listener).
    :param rotated: the process's count of INFO records suppressed by rotation (reported to the listener).
    :param batch_size: records per batch before it is sent.
    :param flush_interval_s: the longest a record waits in the batch; 0 disables the flusher thread.
    :param close_timeout_s: how long :meth:`close` waits for room in the queue for the last batch.
    """

    def __init__(
        self,
        log_queue: BatchQueue,
        worker_id: WorkerId,
        sampled: SuppressedCount,
        rotated: SuppressedCount,
        batch_size: int = 64,
        flush_interval_s: float = 0.05,
        close_timeout_s: float = 2.0,
    ) -> None:
        super().__init__()
        self._queue = log_queue
        self.worker_id = worker_id
        self._pid = os.getpid()
        self._sampled = sampled
        self._rotated = rotated
        self._n_sampled_sent = 0
        self._n_rotated_sent = 0
        self._n_dropped_pending = 0
        #: records lost to a full queue in this process (including those already reported).
        self.n_dropped = 0
        self._batch: list[WireRecord] = []
        self._batch_size = batch_size
        self._close_timeout_s = close_timeout_s
        self._is_closed = False
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        if flush_interval_s > 0:
            self._flusher = threading.Thread(
                target=self._flush_periodically, args=(flush_interval_s,), name="smartlog-flush", daemon=True
            )
            self._flusher.start()

    def emit(self, record: logging.LogRecord) -> None:
        """Add the record to the batch; send the batch when it is full.

        Every record waits the same way (at most ``flush_interval_s``): sending ERRORs one by one would let an error
        storm fill the queue, whose slots are batches, with one-record batches.

        :param record: the record (``Handler.handle`` holds the handler lock).
        """
        self._batch.append(to_wire(record))
        if len(self._batch) >= self._batch_size:
            self._send(timeout_s=None)

    def _send(self, timeout_s: float | None) -> None:
        n_sampled = self._sampled.n - self._n_sampled_sent
        n_rotated = self._rotated.n - self._n_rotated_sent
        if not (self._batch or n_sampled or n_rotated or self._n_dropped_pending):
            return
        records, self._batch = self._batch, []
        batch: WireBatch = (self.worker_id, self._pid, n_sampled, n_rotated, self._n_dropped_pending, records)
        try:
            if timeout_s is None:
                self._queue.put_nowait(batch)
            else:
                self._queue.put(batch, timeout=timeout_s)
        except (queue.Full, ValueError, OSError):
            # Full: the listener is behind. ValueError/OSError: the queue was closed. Either way, count the loss.
            self._n_dropped_pending += len(records)
            self.n_dropped += len(records)
        else:
            self._n_sampled_sent += n_sampled
            self._n_rotated_sent += n_rotated
            self._n_dropped_pending = 0

    def flush(self) -> None:
        """Send the current batch (and pending counts) now, without blocking."""
        with self.lock:  # type: ignore[union-attr]
            self._send(timeout_s=None)

    def _flush_periodically(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            self.flush()

    def close(self) -> None:
        """Stop the flusher and send the last batch, waiting up to ``close_timeout_s`` for room. Idempotent."""
        with self.lock:  # type: ignore[union-attr]
            if self._is_closed:
                return
            self._is_closed = True
        self._stop.set()
        if self._flusher is not None and self._flusher is not threading.current_thread():
            self._flusher.join(timeout=self._close_timeout_s)
        with self.lock:  # type: ignore[union-attr]
            self._send(timeout_s=self._close_timeout_s)
        super().close()
