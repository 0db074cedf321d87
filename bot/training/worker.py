"""The worker side of :class:`~bot.training.vec_env.ParallelVecEnv`: K environments stepped as one batch.

A worker process owns an :class:`EnvBatch` and answers every command: ``step`` takes the K actions and returns the K
rewards, dones, infos and reset infos, with the K observations written into a buffer that the parent shares (see
:mod:`bot.training.obs_buffer`); with a step buffer, actions and results travel through shared memory with a one-byte
wake-up each way (see :mod:`bot.training.step_channel`). ``--workers 1`` uses the same :class:`EnvBatch` in-process.
"""

from __future__ import annotations

import logging
import os
import signal
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from stable_baselines3.common.env_util import is_wrapped

from bot.training.obs_buffer import ObsBuffer, ObsLayout
from bot.training.step_channel import MESSAGE, STEP, STEP_DONE, StepBuffer, StepLayout, StepReply, send_message

logger = logging.getLogger(__name__)

#: ``factory(worker_id, n_envs) -> list of envs``: must be picklable for worker processes.
EnvFactory = Callable[[int, int], Sequence[gym.Env[Any, Any]]]
#: ``init(worker_id=...)``, called first in every worker process (connects the SmartLogger).
WorkerInit = Callable[..., None]


@dataclass(frozen=True, slots=True)
class WorkerFailure:
    """What a worker sends to the parent when a command raised: enough to name the env and show the traceback."""

    worker_id: int
    env_index: int | None
    command: str
    error: str
    traceback: str

    def describe(self) -> str:
        """One message naming worker, env and command, followed by the original traceback."""
        where = f"worker {self.worker_id}" + (f", env {self.env_index}" if self.env_index is not None else "")
        return f"{where} failed in {self.command!r}: {self.error}\n--- worker traceback ---\n{self.traceback}"


class ResetReply(NamedTuple):
    """A worker's answer to ``reset``: K reset infos, and bool [K, n_actions] action masks when requested."""

    infos: list[dict[str, Any]]
    masks: npt.NDArray[np.bool_] | None


class EnvBatch:
    """K environments of one worker, stepped together; auto-resets like SB3 (``terminal_observation`` in info).

    :param envs: the environments, in global order ``first_index .. first_index + K - 1``.
    :param buffer: where observations are written, row ``i`` for env ``i``.
    :param first_index: global index of the first env (used in error messages).
    :param with_masks: send every env's ``action_masks()`` with each step and reset reply, so MaskablePPO needs no
        second round trip per step.
    """

    def __init__(
        self, envs: Sequence[gym.Env[Any, Any]], buffer: ObsBuffer, first_index: int, with_masks: bool = False
    ) -> None:
        self.envs = list(envs)
        self.buffer = buffer
        self.first_index = first_index
        self.with_masks = with_masks
        self.active_env: int | None = None

    def _masks(self) -> npt.NDArray[np.bool_] | None:
        if not self.with_masks:
            return None
        return np.stack([np.asarray(env.get_wrapper_attr("action_masks")(), np.bool_) for env in self.envs])

    def reset(self, seeds: Sequence[int | None], options: Sequence[dict[str, Any]]) -> ResetReply:
        """Reset every env (seeded when a seed is given) and write the first observations."""
        infos = []
        for i, env in enumerate(self.envs):
            self.active_env = self.first_index + i
            obs, info = env.reset(seed=seeds[i], options=options[i] or None)
            self.buffer.write(i, obs)
            infos.append(info)
        self.active_env = None
        return ResetReply(infos, self._masks())

    def step(self, actions: npt.NDArray[Any]) -> StepReply:
        """Step every env with its action; finished envs are reset and their last observation kept in the info."""
        n = len(self.envs)
        rewards = np.zeros(n, np.float32)
        dones = np.zeros(n, np.bool_)
        infos: list[dict[str, Any]] = []
        reset_infos: list[dict[str, Any]] = []
        for i, env in enumerate(self.envs):
            self.active_env = self.first_index + i
            obs, reward, terminated, truncated, info = env.step(actions[i])
            done = bool(terminated or truncated)
            info["TimeLimit.truncated"] = bool(truncated and not terminated)
            reset_info: dict[str, Any] = {}
            if done:
                info["terminal_observation"] = obs
                obs, reset_info = env.reset()
            self.buffer.write(i, obs)
            rewards[i] = reward
            dones[i] = done
            infos.append(info)
            reset_infos.append(reset_info)
        self.active_env = None
        return StepReply(rewards, dones, infos, reset_infos, self._masks())

    def env_method(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], local: Sequence[int]) -> list[Any]:
        """Call ``name(*args, **kwargs)`` on the envs at the local indices (wrapper attributes are found too)."""
        results = []
        for i in local:
            self.active_env = self.first_index + i
            results.append(self.envs[i].get_wrapper_attr(name)(*args, **kwargs))
        self.active_env = None
        return results

    def get_attr(self, name: str, local: Sequence[int]) -> list[Any]:
        """The attribute ``name`` of the envs at the local indices."""
        return [self.envs[i].get_wrapper_attr(name) for i in local]

    def has_attr(self, name: str) -> bool:
        """Whether the first env (all are alike) has the attribute ``name``."""
        try:
            self.envs[0].get_wrapper_attr(name)
        except AttributeError:
            return False
        return True

    def set_attr(self, name: str, value: Any, local: Sequence[int]) -> None:
        """Set the attribute ``name`` on the envs at the local indices."""
        for i in local:
            setattr(self.envs[i], name, value)

    def is_wrapped(self, wrapper_class: type[gym.Wrapper[Any, Any, Any, Any]], local: Sequence[int]) -> list[bool]:
        """Whether each env at the local indices is wrapped by ``wrapper_class``."""
        return [is_wrapped(self.envs[i], wrapper_class) for i in local]

    def close(self) -> None:
        """Close every env."""
        for env in self.envs:
            env.close()


def dispatch(batch: EnvBatch, command: str, data: Any) -> Any:
    """Run one command by name on the batch.

    :raises ValueError: for an unknown command name.
    """
    match command:
        case "step":
            return batch.step(data)
        case "reset":
            return batch.reset(*data)
        case "env_method":
            return batch.env_method(*data)
        case "get_attr":
            return batch.get_attr(*data)
        case "has_attr":
            return batch.has_attr(data)
        case "set_attr":
            return batch.set_attr(*data)
        case "is_wrapped":
            return batch.is_wrapped(*data)
        case _:
            raise ValueError(
                f"unknown worker command {command!r}; expected one of step, reset, env_method, get_attr, has_attr,"
                " set_attr, is_wrapped, close"
            )


def failure(worker_id: int, batch: EnvBatch | None, command: str, exc: BaseException) -> WorkerFailure:
    """Describe ``exc`` (raised while running ``command``) for the parent."""
    env_index = batch.active_env if batch is not None else None
    return WorkerFailure(worker_id, env_index, command, f"{type(exc).__name__}: {exc}", traceback.format_exc())


def worker_main(
    remote: Connection,
    parent_remote: Connection,
    factory_wrapper: Any,
    worker_id: int,
    n_envs: int,
    layout: ObsLayout,
    worker_init: WorkerInit | None,
    with_masks: bool = False,
    step_layout: StepLayout | None = None,
) -> None:
    """Entry point of a worker process: build K envs once, then serve commands until ``close`` or EOF.

    Replies are ``("ok", result)`` or ``("error", WorkerFailure)`` messages, or :data:`STEP_DONE` for a step whose
    results went into the step buffer; the worker stays alive after an error so that the parent can close it in an
    orderly way.
    """
    parent_remote.close()
    # Ctrl-C and the control API's SIGTERM reach the whole process group: only the parent decides how to stop (it
    # saves a checkpoint first, then sends ``close``); a worker killed here would turn a cancel into a failed run.
    # The parent ends a worker that does not stop with SIGKILL (see ``_ProcessWorker.close``).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    import torch

    torch.set_num_threads(1)
    batch: EnvBatch | None = None
    try:
        if worker_init is not None:
            worker_init(worker_id=worker_id)
        envs = factory_wrapper.var(worker_id, n_envs)
        batch = EnvBatch(envs, layout.attach(worker_id), worker_id * n_envs, with_masks)
        send_message(remote, ("ok", None))
    except Exception as e:  # any failure to build the envs is reported, then the worker ends
        send_message(remote, ("error", failure(worker_id, batch, "build", e)))
        return
    _serve(remote, batch, worker_id, step_layout.attach(worker_id) if step_layout is not None else None)
    remote.close()


def _serve(remote: Connection, batch: EnvBatch, worker_id: int, step_buffer: StepBuffer | None) -> None:
    """Answer commands until ``close`` or until the parent is gone."""
    fd = remote.fileno()
    while True:
        try:
            marker = os.read(fd, 1)
            if marker == STEP:
                command, data = "step", step_buffer.actions.copy()  # type: ignore[union-attr]  # sent only with one
            elif marker == MESSAGE:
                command, data = remote.recv()
            else:
                break  # end of file: the parent is gone
        except (EOFError, OSError):
            break  # the parent is gone
        if command == "close":
            batch.close()
            send_message(remote, ("ok", None))
            break
        try:
            result = dispatch(batch, command, data)
            if command == "step" and step_buffer is not None and step_buffer.put(result):
                os.write(fd, STEP_DONE)
            else:
                send_message(remote, ("ok", result))
        except Exception as e:  # reported to the parent, which raises TrainingError
            send_message(remote, ("error", failure(worker_id, batch, command, e)))
