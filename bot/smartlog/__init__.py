"""SmartLogger: one log policy (dedup, rotation, sampling, redaction) across every worker process.

Main process::

    with setup_logging(cfg.logging, run_dir, n_workers) as listener:
        handle = listener.worker_handle()   # pass to each worker, which calls init_worker(handle, worker_id, n_workers)
        ...
        tb_scalars = flatten_stats(listener.stats())
"""

from bot.smartlog.listener import SmartLogListener
from bot.smartlog.policy import SUPPRESSION_REASONS
from bot.smartlog.redaction import REDACTED, Redactor
from bot.smartlog.sampling import DebugSampler, stable_hash
from bot.smartlog.settings import SmartLogSettings
from bot.smartlog.setup import command_logging, flatten_stats, get_logger, setup_logging
from bot.smartlog.worker import WorkerHandle, init_worker, shutdown_worker

__all__ = [
    "REDACTED",
    "SUPPRESSION_REASONS",
    "DebugSampler",
    "Redactor",
    "SmartLogListener",
    "SmartLogSettings",
    "WorkerHandle",
    "command_logging",
    "flatten_stats",
    "get_logger",
    "init_worker",
    "setup_logging",
    "shutdown_worker",
    "stable_hash",
]
