"""A tiny gymnasium env that logs from reset/step, built by an env factory that connects the SmartLogger."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np

from bot.smartlog import WorkerHandle, init_worker

logger = logging.getLogger("tests.smartlog.sb3_env")


class LoggingEnv(gym.Env[np.ndarray, np.int64]):
    """Counts steps; logs INFO every step, a shared WARNING, an ERROR at reset and a critical INFO every 5 steps."""

    observation_space = gym.spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, worker_id: int) -> None:
        self.worker_id = worker_id
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._t = 0
        logger.error("env %d reset", self.worker_id)
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action: np.int64) -> tuple[np.ndarray, float, bool, bool, dict]:
        self._t += 1
        logger.info("env %d step %d", self.worker_id, self._t)
        logger.warning("env latency above %d ms", 50)
        if self._t % 5 == 0:
            logger.info("Trade closed by env %d at step %d", self.worker_id, self._t)
        return np.zeros(1, dtype=np.float32), 0.0, False, self._t >= 20, {}


def _build(handle: WorkerHandle, worker_id: int, n_workers: int) -> LoggingEnv:
    init_worker(handle, worker_id, n_workers)
    return LoggingEnv(worker_id)


def env_factory(handle: WorkerHandle, worker_id: int, n_workers: int) -> partial[LoggingEnv]:
    """The env factory a trainer would pass to ``SubprocVecEnv``: it connects the worker, then builds the env."""
    return partial(_build, handle, worker_id, n_workers)
