"""Observation buffers shared between the parent and its workers, so observations are never pickled per step.

One shared block per observation key holds the stacked observations of all N*K environments; worker ``w`` writes
rows ``w*K .. w*K+K-1`` and the parent copies the whole block once per step. In-process runs use plain arrays.
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping
from multiprocessing.context import BaseContext
from typing import Any

import numpy as np
import numpy.typing as npt
from gymnasium import spaces
from stable_baselines3.common.vec_env.util import dict_to_obs, obs_space_info


class ObsBuffer:
    """The rows of one worker: ``write(i, obs)`` stores env ``i``'s observation.

    :param views: observation key (``None`` for a non-dict space) -> array [K, *shape].
    """

    def __init__(self, views: Mapping[str | None, npt.NDArray[Any]]) -> None:
        self.views = dict(views)

    def write(self, i: int, obs: Any) -> None:
        """Store one env's observation (a dict of arrays for a Dict space, else an array) in row ``i``."""
        for key, view in self.views.items():
            view[i] = obs if key is None else obs[key]


class ObsLayout:
    """Shapes, dtypes and storage of the stacked observations of ``n_workers * n_envs`` environments.

    :param space: the observation space of one env (Box or Dict of Box).
    :param n_workers: worker count N.
    :param n_envs: envs per worker K.
    :param ctx: multiprocessing context for shared memory; ``None`` for plain in-process arrays.
    """

    def __init__(self, space: spaces.Space[Any], n_workers: int, n_envs: int, ctx: BaseContext | None) -> None:
        self.space = space
        self.n_envs = n_envs
        self.total = n_workers * n_envs
        keys, shapes, dtypes = obs_space_info(space)
        self.specs = [(k, tuple(shapes[k]), np.dtype(dtypes[k])) for k in keys]
        self._raw: dict[str | None, Any] = {}
        self._views: dict[str | None, npt.NDArray[Any]] = {}
        for key, shape, dtype in self.specs:
            n_items = self.total * int(np.prod(shape, dtype=np.int64))
            if ctx is None:
                self._views[key] = np.zeros((self.total, *shape), dtype)
            else:
                self._raw[key] = ctx.RawArray(ctypes.c_byte, max(1, n_items * dtype.itemsize))

    def __getstate__(self) -> dict[str, Any]:
        # Views are rebuilt in the worker from the shared blocks; the blocks travel only at process start.
        state = self.__dict__.copy()
        state["_views"] = {}
        return state

    def _all(self) -> dict[str | None, npt.NDArray[Any]]:
        if not self._views:
            for key, shape, dtype in self.specs:
                n_items = self.total * int(np.prod(shape, dtype=np.int64))
                flat = np.frombuffer(self._raw[key], dtype=dtype, count=n_items)
                self._views[key] = flat.reshape((self.total, *shape))
        return self._views

    def attach(self, worker_id: int) -> ObsBuffer:
        """The rows of worker ``worker_id``."""
        lo = worker_id * self.n_envs
        return ObsBuffer({key: view[lo : lo + self.n_envs] for key, view in self._all().items()})

    def read(self) -> Any:
        """A copy of every env's current observation, as SB3 expects (dict of [N*K, ...] arrays or one array)."""
        return dict_to_obs(self.space, {key: view.copy() for key, view in self._all().items()})
