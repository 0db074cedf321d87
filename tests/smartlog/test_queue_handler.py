"""Tests of bot.smartlog.queue_handler with an in-process queue: batching, drop counting, piggy-backed counts."""

from __future__ import annotations

import logging
import queue
from typing import Any

from bot.smartlog.debug_gate import SuppressedCount
from bot.smartlog.queue_handler import BatchQueueHandler


def _record(i: int) -> logging.LogRecord:
    return logging.LogRecord("bot.x", logging.INFO, __file__, 1, "n=%d", (i,), None)


def _handler(q: queue.Queue[Any], sampled: SuppressedCount | None = None) -> BatchQueueHandler:
    return BatchQueueHandler(
        q, 3, sampled or SuppressedCount(), SuppressedCount(), batch_size=4, flush_interval_s=0, close_timeout_s=0.01
    )


def test_records_are_sent_in_batches_of_batch_size() -> None:
    q: queue.Queue[Any] = queue.Queue()
    handler = _handler(q)
    for i in range(9):
        handler.handle(_record(i))
    batches = [q.get_nowait() for _ in range(q.qsize())]
    assert [len(b[5]) for b in batches] == [4, 4]
    handler.close()
    worker, _pid, n_sampled, n_rotated, n_dropped, records = q.get_nowait()
    assert (worker, n_sampled, n_rotated, n_dropped, [r[4] for r in records]) == (3, 0, 0, 0, ["n=8"])


def test_full_queue_drops_and_the_count_rides_on_the_next_batch() -> None:
    q: queue.Queue[Any] = queue.Queue(maxsize=1)
    handler = _handler(q)
    for i in range(12):  # 3 batches: the first fits, the next two are dropped
        handler.handle(_record(i))
    assert handler.n_dropped == 8
    q.get_nowait()
    handler.handle(_record(99))
    handler.flush()
    _worker, _pid, _n_sampled, _n_rotated, n_dropped, records = q.get_nowait()
    assert (n_dropped, len(records)) == (8, 1)
    handler.flush()
    assert q.empty()  # nothing pending: no empty batch is sent


def test_suppressed_counts_are_sent_as_deltas_even_without_records() -> None:
    q: queue.Queue[Any] = queue.Queue()
    sampled, rotated = SuppressedCount(), SuppressedCount()
    handler = BatchQueueHandler(q, 3, sampled, rotated, batch_size=4, flush_interval_s=0)
    sampled.n, rotated.n = 5, 1
    handler.flush()
    sampled.n = 7
    handler.flush()
    assert [q.get_nowait()[2:4] for _ in range(2)] == [(5, 1), (2, 0)]


def test_flusher_thread_sends_a_quiet_workers_records() -> None:
    q: queue.Queue[Any] = queue.Queue()
    handler = BatchQueueHandler(q, 0, SuppressedCount(), SuppressedCount(), batch_size=64, flush_interval_s=0.01)
    handler.handle(_record(1))
    batch = q.get(timeout=5)
    assert len(batch[5]) == 1
    handler.close()
    handler.close()
