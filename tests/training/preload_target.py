"""An env factory whose module records the process that imported it (forkserver preload test; keep imports light)."""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym

from tests.support.toy_env import ToyEnvFactory

#: the process that imported this module: the forkserver when it preloaded it, else each worker for itself
IMPORTED_BY = os.getpid()


class ImportPidFactory:
    """Toy envs that carry ``imported_by`` (:data:`IMPORTED_BY`) and ``built_by`` (the worker's process id)."""

    def __call__(self, worker_id: int, n_envs: int) -> list[gym.Env[Any, Any]]:
        envs = ToyEnvFactory()(worker_id, n_envs)
        for env in envs:
            env.imported_by = IMPORTED_BY  # type: ignore[attr-defined]
            env.built_by = os.getpid()  # type: ignore[attr-defined]
        return envs
