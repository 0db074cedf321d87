"""Worker-process functions for the SmartLogger tests (importable by spawn/forkserver children; keep imports light)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from multiprocessing.synchronize import Event
from typing import Any

import cloudpickle

from bot.smartlog import WorkerHandle, init_worker, shutdown_worker

N_DEBUG_TEMPLATES = 400
N_WARNING_REPEATS = 3
INFO_PHASE_S = 1.0
SECRET_VALUES = ("AKIA-SECRET-1", "hunter2-SECRET-2", "pw-SECRET-3", "sk-SECRETSECRET42")

logger = logging.getLogger("tests.smartlog.worker")


def debug_template(index: int) -> str:
    """The DEBUG template number ``index`` (each worker logs all of them, once each)."""
    return f"debug template {index:04d} value=%d"


def scenario(handle: WorkerHandle, worker_id: int, n_workers: int) -> None:
    """Log every kind of record the policy treats differently."""
    init_worker(handle, worker_id, n_workers, level="DEBUG")
    logger.error("worker %d hit an error", worker_id)
    for _ in range(N_WARNING_REPEATS):
        logger.warning("disk %s is slow", "sda")
    for index in range(N_DEBUG_TEMPLATES):
        logger.debug(debug_template(index), index)
    logger.error("connect failed api_key=%s secret: %s", SECRET_VALUES[0], SECRET_VALUES[1])
    logger.error("exchange config %s", {"password": SECRET_VALUES[2], "timeout": 5})
    logger.error("auth header Bearer %s", SECRET_VALUES[3])
    end = time.time() + INFO_PHASE_S
    step = 0
    while time.time() < end:
        logger.info("step %d of worker %d", step, worker_id)
        step += 1
        time.sleep(0.004)
    logger.info("Trade opened long at %.2f by worker %d", 100.0 + worker_id, worker_id)
    logger.info("stop loss hit at %.2f by worker %d", 95.0, worker_id)


def log_then_raise(handle: WorkerHandle, worker_id: int, n_workers: int, n_records: int) -> None:
    """Log ``n_records`` lines without pause, then die from an uncaught exception."""
    init_worker(handle, worker_id, n_workers)
    for index in range(n_records):
        logger.info("Trade closed #%d", index)
    raise RuntimeError("worker crashed on purpose")


def log_then_os_exit(handle: WorkerHandle, worker_id: int, n_workers: int, n_records: int) -> None:
    """Log ``n_records`` lines, flush with ``shutdown_worker`` and leave through ``os._exit`` (no exit hooks)."""
    init_worker(handle, worker_id, n_workers)
    for index in range(n_records):
        logger.info("Trade closed #%d", index)
    shutdown_worker()
    os._exit(3)


def flood(handle: WorkerHandle, worker_id: int, n_workers: int, n_records: int, done: Event, release: Event) -> None:
    """Log ``n_records`` critical INFO lines as fast as possible, report done, and wait to be released."""
    init_worker(handle, worker_id, n_workers)
    for index in range(n_records):
        logger.info("Trade opened #%d", index)
    done.set()
    release.wait(timeout=30)


def log_errors(handle: WorkerHandle, worker_id: int, n_workers: int, n_records: int) -> None:
    """Log ``n_records`` ERROR lines of about 100 bytes each."""
    init_worker(handle, worker_id, n_workers)
    for index in range(n_records):
        logger.error("error line %05d from worker %d %s", index, worker_id, "x" * 40)


def pool_task(value: int) -> int:
    """A ``Pool`` task that logs from a worker set up by the pool initializer."""
    logger.error("pool task %d", value)
    return value * 2


class CloudpickleArg:
    """Pickles its value with cloudpickle, as stable-baselines3's ``CloudpickleWrapper`` does with env factories."""

    def __init__(self, value: Callable[[], Any]) -> None:
        self.value = value

    def __getstate__(self) -> bytes:
        return cloudpickle.dumps(self.value)

    def __setstate__(self, state: bytes) -> None:
        self.value = cloudpickle.loads(state)


def run_cloudpickled(arg: CloudpickleArg) -> None:
    """Call the cloudpickled factory (it connects the worker and logs)."""
    arg.value()
