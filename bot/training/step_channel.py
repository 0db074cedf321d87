"""Step traffic between :class:`~bot.training.vec_env.ParallelVecEnv` and its worker processes without pickled messages.

A step costs one byte each way. The parent writes the N*K actions into a shared block and sends each worker
:data:`STEP`; the worker steps its K envs, writes their rewards, dones and action masks into its rows of the block and
its pickled infos into its own region, and answers :data:`STEP_DONE`. Observations already travel through
:mod:`bot.training.obs_buffer`. Every other command (reset, env_method, close ...), every error, and a step whose
actions or results do not fit the block (another dtype, infos too large) travel as before as a pickled
:class:`~multiprocessing.connection.Connection` message, announced by :data:`MESSAGE`. The blocks are allocated once,
when the workers start; the one-byte writes and reads on the pipe order the memory accesses on both sides.
"""

from __future__ import annotations

import ctypes
import os
import pickle
from collections.abc import Sequence
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.reduction import ForkingPickler
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from gymnasium import spaces

#: parent -> worker: the actions are in the block
STEP = b"s"
#: worker -> parent: the step's results are in the block
STEP_DONE = b"k"
#: either way: a pickled Connection message follows
MESSAGE = b"m"
#: room per env for its pickled info and reset info, beside its terminal observation (a TradingEnv info takes ~400 B)
INFO_BYTES_PER_ENV = 4096


class StepReply(NamedTuple):
    """A worker's answer to ``step`` for its K envs (observations are in the shared observation buffer).

    :param rewards: float32 [K].
    :param dones: bool [K].
    :param infos: K info dicts (``terminal_observation`` when done).
    :param reset_infos: K dicts, empty unless the env was reset.
    :param masks: bool [K, n_actions] action masks of the new observations, when the batch was asked to send them.
    """

    rewards: npt.NDArray[np.float32]
    dones: npt.NDArray[np.bool_]
    infos: list[dict[str, Any]]
    reset_infos: list[dict[str, Any]]
    masks: npt.NDArray[np.bool_] | None


def mask_shape(action_space: spaces.Space[Any]) -> tuple[int, ...] | None:
    """The shape of one env's ``action_masks()`` as MaskablePPO defines it, or None for spaces it does not mask."""
    if isinstance(action_space, spaces.Discrete):
        return (int(action_space.n),)
    if isinstance(action_space, spaces.MultiDiscrete):
        return (int(np.sum(action_space.nvec)),)
    return None


def _shared(ctx: BaseContext, shape: tuple[int, ...], dtype: np.dtype[Any]) -> Any:
    return ctx.RawArray(ctypes.c_byte, max(1, int(np.prod(shape, dtype=np.int64)) * dtype.itemsize))


def _view(raw: Any, shape: tuple[int, ...], dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    count = int(np.prod(shape, dtype=np.int64))
    return np.frombuffer(raw, dtype=dtype, count=count).reshape(shape)


class StepBuffer:
    """One worker's part of a :class:`StepLayout`: its K rows and its info region."""

    def __init__(self, arrays: dict[str, npt.NDArray[Any] | None], info_length: npt.NDArray[np.int64]) -> None:
        self.actions: npt.NDArray[Any] = arrays["actions"]  # type: ignore[assignment]
        self.rewards: npt.NDArray[np.float32] = arrays["rewards"]  # type: ignore[assignment]
        self.dones: npt.NDArray[np.bool_] = arrays["dones"]  # type: ignore[assignment]
        self.masks = arrays["masks"]
        self.infos: npt.NDArray[np.uint8] = arrays["infos"]  # type: ignore[assignment]
        self.info_length = info_length  # a one-element view

    def put(self, reply: StepReply) -> bool:
        """Write a step's results (worker side); False, with nothing written, when they do not fit the block."""
        if reply.masks is not None and (self.masks is None or reply.masks.shape != self.masks.shape):
            return False
        payload = pickle.dumps((reply.infos, reply.reset_infos), protocol=pickle.HIGHEST_PROTOCOL)
        if len(payload) > len(self.infos):
            return False
        self.rewards[:] = reply.rewards
        self.dones[:] = reply.dones
        if reply.masks is not None and self.masks is not None:
            self.masks[:] = reply.masks
        self.infos[: len(payload)] = np.frombuffer(payload, np.uint8)
        self.info_length[0] = len(payload)
        return True

    def reply(self, with_masks: bool) -> StepReply:
        """The step's results as the worker wrote them (parent side); arrays are views, valid until the next step."""
        infos, reset_infos = pickle.loads(self.infos[: int(self.info_length[0])].tobytes())
        return StepReply(self.rewards, self.dones, infos, reset_infos, self.masks if with_masks else None)


class StepLayout:
    """The shared block of N workers x K envs: actions, rewards, dones, action masks, and a pickled-info region each.

    :param action_space: one env's action space; the actions block has its dtype and shape.
    :param n_workers: worker count N.
    :param n_envs: envs per worker K.
    :param obs_nbytes: bytes of one env's observation (its terminal observation travels in the info).
    :param ctx: the workers' multiprocessing context.
    """

    def __init__(
        self, action_space: spaces.Space[Any], n_workers: int, n_envs: int, obs_nbytes: int, ctx: BaseContext
    ) -> None:
        total = n_workers * n_envs
        self.n_envs = n_envs
        info_bytes = n_envs * (obs_nbytes + INFO_BYTES_PER_ENV)
        masks = mask_shape(action_space)
        self._specs: dict[str, tuple[tuple[int, ...], np.dtype[Any]]] = {
            "actions": ((total, *(action_space.shape or ())), np.dtype(action_space.dtype or np.int64)),
            "rewards": ((total,), np.dtype(np.float32)),
            "dones": ((total,), np.dtype(np.bool_)),
            "infos": ((n_workers, info_bytes), np.dtype(np.uint8)),
            "info_length": ((n_workers,), np.dtype(np.int64)),
        }
        if masks is not None:
            self._specs["masks"] = ((total, *masks), np.dtype(np.bool_))
        self._raw = {name: _shared(ctx, shape, dtype) for name, (shape, dtype) in self._specs.items()}
        self._views: dict[str, npt.NDArray[Any]] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Views are rebuilt in the worker from the shared blocks; the blocks travel only at process start.
        state = self.__dict__.copy()
        state["_views"] = {}
        return state

    def _all(self) -> dict[str, npt.NDArray[Any]]:
        if not self._views:
            self._views = {name: _view(self._raw[name], *spec) for name, spec in self._specs.items()}
        return self._views

    def load_actions(self, actions: Any) -> bool:
        """Copy the N*K actions into the block (parent side); False unless they are an array of its dtype and shape."""
        block = self._all()["actions"]
        if not isinstance(actions, np.ndarray) or actions.dtype != block.dtype or actions.shape != block.shape:
            return False
        block[...] = actions
        return True

    def attach(self, worker_id: int) -> StepBuffer:
        """The rows and info region of worker ``worker_id``."""
        views = self._all()
        rows = slice(worker_id * self.n_envs, (worker_id + 1) * self.n_envs)
        arrays: dict[str, npt.NDArray[Any] | None] = {
            "actions": views["actions"][rows],
            "rewards": views["rewards"][rows],
            "dones": views["dones"][rows],
            "masks": views["masks"][rows] if "masks" in views else None,
            "infos": views["infos"][worker_id],
        }
        return StepBuffer(arrays, views["info_length"][worker_id : worker_id + 1])


def send_message(remote: Connection, message: Any) -> None:
    """Write :data:`MESSAGE` and the pickled ``message``; pickled first, so a pickling error writes nothing."""
    payload = ForkingPickler.dumps(message)
    os.write(remote.fileno(), MESSAGE)
    remote.send_bytes(payload)


def obs_nbytes(specs: Sequence[tuple[Any, tuple[int, ...], np.dtype[Any]]]) -> int:
    """Bytes of one observation, from :attr:`bot.training.obs_buffer.ObsLayout.specs`."""
    return sum(int(np.prod(shape, dtype=np.int64)) * dtype.itemsize for _, shape, dtype in specs)
