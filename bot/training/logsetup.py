"""SmartLogger set-up for a training run: the listener in the main process, the initialiser for each worker."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from bot.config import BotConfig, worker_bound
from bot.smartlog import WorkerHandle, init_worker, setup_logging
from bot.training.metrics import LogStats
from bot.training.worker import WorkerInit

#: The logger of simulated fills: thousands of "Trade opened/closed" lines a minute in training.
_TRADE_LOGGER = "bot.portfolio"


def _init_training_worker(handle: WorkerHandle, n_workers: int, log_trades: bool, worker_id: int) -> None:
    init_worker(handle, worker_id, n_workers)
    if not log_trades:
        logging.getLogger(_TRADE_LOGGER).setLevel(logging.WARNING)


@contextmanager
def training_logging(cfg: BotConfig, run_dir: Path) -> Iterator[tuple[WorkerInit | None, LogStats, Path | None]]:
    """Run the SmartLogger listener for the duration of a training run, writing its file in ``run_dir``.

    :return: a context manager yielding the worker initialiser (``init(worker_id=w)``; None when the envs run
        in-process), a function returning the suppression counters, and the log file path (or None).
    """
    settings = cfg.logging
    n_workers = worker_bound(cfg.training)  # with n_workers auto: the most workers the run may start
    log_trades = cfg.training.log_trades
    trade_logger = logging.getLogger(_TRADE_LOGGER)
    saved_level = trade_logger.level
    if not log_trades:
        trade_logger.setLevel(logging.WARNING)  # in-process envs (--workers 1)
    try:
        with setup_logging(settings, run_dir, n_workers) as listener:
            worker_init = (
                partial(_init_training_worker, listener.worker_handle(), n_workers, log_trades)
                if n_workers > 1
                else None
            )

            def suppressed() -> dict[str, Any]:
                counts: dict[str, Any] = listener.stats().get("suppressed", {})
                return counts

            yield worker_init, suppressed, (run_dir / settings.file if settings.file else None)
    finally:
        trade_logger.setLevel(saved_level)
