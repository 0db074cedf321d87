"""Connect a worker process to the listener: ``init_worker`` on start, ``shutdown_worker`` before a hard exit.

``init_worker(handle, worker_id, n_workers)`` works as a ``multiprocessing.Process`` target's first call, as a
``Pool`` initializer, and inside a stable-baselines3 ``SubprocVecEnv`` env factory, with every start method. The
worker's root logger gets one :class:`~bot.smartlog.queue_handler.BatchQueueHandler` (no file is ever opened in a
worker). DEBUG sampling is decided in the worker before a record is built, and INFO rotation before a record is
queued (the listener applies both rules again and stays the authority).

Nothing is lost when a worker ends normally or dies from an exception: the last batch is sent by a
``multiprocessing.util.Finalize`` hook that runs before the queue's own hooks, which then join the queue's feeder
thread. A worker that leaves through ``os._exit`` must call :func:`shutdown_worker` first.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, fields
from multiprocessing import util
from multiprocessing.queues import Queue
from multiprocessing.reduction import ForkingPickler
from typing import Any

from bot.smartlog import debug_gate
from bot.smartlog.policy import InfoRotation, KeywordMatcher, RotationFilter
from bot.smartlog.queue_handler import BatchQueueHandler
from bot.smartlog.sampling import DebugSampler
from bot.smartlog.settings import level_number

# Must run before the queue's own finalizers (close: 10, join feeder: -5), or the last batch would follow the
# feeder's stop sentinel and be lost.
_FLUSH_EXIT_PRIORITY = 100


@dataclass(frozen=True)
class WorkerHandle:
    """Everything a worker needs to reach the listener; pass it to the worker as a process argument.

    It pickles wherever a process is being started (``Process`` args, ``Pool`` initargs, and cloudpickled
    ``SubprocVecEnv`` env factories under spawn/forkserver): the queue is reduced with multiprocessing's own pickler so
    its pipe and semaphores are handed over properly even inside another pickler.

    :param queue: the listener's bounded queue.
    :param n_workers: the number of workers the listener rotates INFO between.
    :param level: the root logger level for workers (``settings.level``).
    :param debug_sample_rate: share of DEBUG templates that pass.
    :param info_rotation_interval_s: length of one worker's INFO turn.
    :param rotation_epoch: wall-clock start of INFO rotation cycle 0 (the listener's).
    :param critical_keywords: INFO holding one of these always passes.
    :param batch_size: records per queue item.
    :param flush_interval_s: longest time a record waits in a worker's batch.
    :param listener_pid: the pid of the listener's process; ``init_worker`` does nothing there.
    """

    queue: Queue[Any]
    n_workers: int
    level: str
    debug_sample_rate: float
    info_rotation_interval_s: float
    rotation_epoch: float
    critical_keywords: tuple[str, ...]
    batch_size: int
    flush_interval_s: float
    listener_pid: int

    def __reduce__(self) -> tuple[Any, ...]:
        others = tuple(getattr(self, f.name) for f in fields(self) if f.name != "queue")
        return (_rebuild_handle, (bytes(ForkingPickler.dumps(self.queue)), others))


def _rebuild_handle(queue_bytes: bytes, others: tuple[Any, ...]) -> WorkerHandle:
    return WorkerHandle(ForkingPickler.loads(queue_bytes), *others)


@dataclass
class _WorkerState:
    handler: BatchQueueHandler
    log_queue: Queue[Any]
    finalizer: util.Finalize
    saved_flags: tuple[bool, bool, str | None]


_state: _WorkerState | None = None


def _check_ids(handle: WorkerHandle, worker_id: int, n_workers: int) -> None:
    if not isinstance(handle, WorkerHandle):
        raise TypeError(
            f"init_worker expects the WorkerHandle from listener.worker_handle(), got {type(handle).__name__}"
        )
    if n_workers != handle.n_workers:
        raise ValueError(
            f"init_worker(n_workers={n_workers}) differs from the listener's n_workers={handle.n_workers};"
            " pass the same worker count to setup_logging and init_worker"
        )
    if not isinstance(worker_id, int) or not 0 <= worker_id < n_workers:
        raise ValueError(f"worker_id={worker_id!r} must be an int in [0, {n_workers}); number workers from 0")


def init_worker(handle: WorkerHandle, worker_id: int, n_workers: int, level: str | int | None = None) -> None:
    """Route this process's logging to the listener as worker ``worker_id``.

    Replaces the root logger's handlers (e.g. ones inherited through fork) with one non-blocking batching queue
    handler, sets the root level, and installs the DEBUG sampling fast path when DEBUG is enabled. Calling it again
    in the same process reconnects it; in the listener's own process (e.g. a ``DummyVecEnv``) it does nothing, since
    the main process already logs through the policy.

    :param handle: ``listener.worker_handle()`` from the main process.
    :param worker_id: this worker's index in ``[0, n_workers)``; it decides the worker's INFO rotation slot.
    :param n_workers: the number of workers; must equal the listener's.
    :param level: the root logger level in this worker; ``None`` takes the listener's ``settings.level``.
    :raises TypeError: when ``handle`` is not a :class:`WorkerHandle`.
    :raises ValueError: when ``worker_id``/``n_workers`` do not match the listener, or ``level`` is unknown.
    """
    global _state
    _check_ids(handle, worker_id, n_workers)
    root_level = level_number(handle.level if level is None else level)
    if os.getpid() == handle.listener_pid:
        return
    if _state is not None:
        _disconnect(_state)
    root = logging.getLogger()
    for inherited in list(root.handlers):
        root.removeHandler(inherited)
    sampler = DebugSampler(handle.debug_sample_rate)
    sampled, rotated = debug_gate.SuppressedCount(), debug_gate.SuppressedCount()
    rotation = InfoRotation(
        n_workers, handle.rotation_epoch, handle.info_rotation_interval_s, KeywordMatcher(handle.critical_keywords)
    )
    handler = BatchQueueHandler(handle.queue, worker_id, sampled, rotated, handle.batch_size, handle.flush_interval_s)
    handler.addFilter(debug_gate.SampleFilter(sampler, sampled))
    handler.addFilter(RotationFilter(rotation, worker_id, rotated))
    root.addHandler(handler)
    root.setLevel(root_level)
    # Lines name the worker id, pid and logger; nothing downstream reads a worker record's thread, process name or
    # caller. Skipping them saves about a quarter of a logging call; logging documents `_srcfile = None` for this.
    saved_flags = (logging.logThreads, logging.logMultiprocessing, logging._srcfile)
    logging.logThreads = False
    logging.logMultiprocessing = False
    logging._srcfile = None
    if root_level <= logging.DEBUG and handle.debug_sample_rate < 1:
        debug_gate.install(sampler, sampled)
    finalizer = util.Finalize(None, handler.close, exitpriority=_FLUSH_EXIT_PRIORITY)
    _state = _WorkerState(handler, handle.queue, finalizer, saved_flags)


def shutdown_worker() -> None:
    """Send this worker's last records and wait until they are in the pipe to the listener. Idempotent.

    Call it before ``os._exit`` (which skips every exit hook); a normal exit or an uncaught exception in a
    ``multiprocessing`` worker runs it automatically. Afterwards the process has no SmartLogger handler.
    """
    global _state
    state, _state = _state, None
    if state is None:
        return
    _disconnect(state)
    state.log_queue.close()
    state.log_queue.join_thread()


def _disconnect(state: _WorkerState) -> None:
    state.finalizer.cancel()
    debug_gate.uninstall()
    logging.logThreads, logging.logMultiprocessing, logging._srcfile = state.saved_flags
    logging.getLogger().removeHandler(state.handler)
    state.handler.close()
