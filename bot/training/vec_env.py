"""``ParallelVecEnv``: an SB3 VecEnv of N worker processes, each stepping K environments as one batch.

Per step the parent writes the N*K actions into shared memory and wakes each worker with one byte; each worker writes
its K rewards, dones, infos and action masks back and answers with one byte (:mod:`bot.training.step_channel`);
observations go through shared memory too (:mod:`bot.training.obs_buffer`). Workers are daemonic and started with an
explicit start method; a worker's exception comes back with its worker id and traceback and is raised here as
:class:`~bot.errors.TrainingError`; a worker that dies silently is found by polling its liveness, so a failure never
hangs the trainer: start-up has its own time limit, every later reply another (derived from the measured step time by
default, see :class:`AutoTimeout`), and a stop request (SIGINT/SIGTERM) ends any wait. With ``n_workers=1`` the K
envs run in-process through the same batching code.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing as mp
import sys
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import (
    CloudpickleWrapper,
    VecEnv,
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)

from bot.errors import TrainingError
from bot.training.obs_buffer import ObsLayout
from bot.training.step_channel import StepLayout, obs_nbytes
from bot.training.timeouts import AutoTimeout, WaitLimits
from bot.training.worker import EnvBatch, EnvFactory, WorkerInit, dispatch, failure, worker_main
from bot.training.worker_process import ProcessWorker

logger = logging.getLogger(__name__)

#: How long ``close`` waits for a worker's pending reply, its ``close`` answer, and its exit (each, seconds).
CLOSE_TIMEOUT_S = 5.0


def default_start_method() -> str:
    """``forkserver`` on Linux (fork is unsafe once torch has started threads), ``spawn`` elsewhere."""
    return "forkserver" if sys.platform.startswith("linux") else "spawn"


def forkserver_preload(*callables: object) -> list[str]:
    """The modules the forkserver imports before it forks the workers: the worker's own and those of ``callables``.

    A worker imports the modules its env factory and initialiser come from when it unpickles them. What the
    forkserver imported is shared by every worker it forks (copy-on-write); what a worker imports itself is private to
    it: about 80 MB per worker for the trainer's factory (``bot.training.trainer`` pulls in pandas, pyarrow, pydantic
    and sb3-contrib). ``__main__`` is left out: the forkserver imports a script only through its path.

    :param callables: the env factory and the worker initialiser (None is skipped); an object's module is its class's.
    """
    modules = ["bot.training.worker"]
    for obj in callables:
        if isinstance(obj, functools.partial):
            obj = obj.func
        module = getattr(obj, "__module__", None)
        if obj is not None and isinstance(module, str) and module not in ("__main__", "builtins", *modules):
            modules.append(module)
    return modules


class _LocalWorker:
    """In-process stand-in for a worker process: runs each command at ``send`` and replays the reply at ``recv``."""

    def __init__(self, batch: EnvBatch) -> None:
        self.batch = batch
        self._reply: tuple[str, Any] = ("ok", None)

    def send(self, command: str, data: Any) -> None:
        try:
            self._reply = ("ok", dispatch(self.batch, command, data))
        except Exception as e:  # same reporting path as a worker process
            self._reply = ("error", failure(0, self.batch, command, e))

    def step(self, actions: np.ndarray, in_block: bool) -> None:
        """Step the envs (``in_block`` is always False here: in-process runs have no step buffer)."""
        self.send("step", actions)

    def recv(self) -> Any:
        status, payload = self._reply
        if status == "error":
            raise TrainingError(payload.describe())
        return payload

    def close(self, timeout_s: float) -> None:
        """Close the envs (``timeout_s`` is for the process handle's interface: this returns when they are closed)."""
        self.batch.close()


class ParallelVecEnv(VecEnv):
    """SB3 VecEnv over ``n_workers`` processes with ``n_envs_per_worker`` envs each (``num_envs = N * K``).

    Env ``j`` lives in worker ``j // K``; ``seed(s)`` gives it seed ``s + j`` at the next reset.

    :param factory: picklable ``factory(worker_id, n_envs) -> envs``; called once per worker (build shared data once).
    :param n_workers: worker processes; 1 runs the envs in this process.
    :param n_envs_per_worker: environments per worker, stepped as a batch.
    :param start_method: ``fork``, ``forkserver`` or ``spawn``; default :func:`default_start_method`.
    :param worker_init: called as ``worker_init(worker_id=w)`` first thing in each worker (logging set-up).
    :param poll_interval_s: how often a waiting parent checks that a worker is still alive.
    :param timeout_s: fail when a worker sends no reply to a command for this long (``None``: wait while it is
        alive; an :class:`AutoTimeout`: derived from the measured step time).
    :param startup_timeout_s: fail when a worker has not built its envs after this long (``None``: no limit).
    :param should_stop: polled while a reply is late; when it returns True the wait ends with
        :class:`RunCancelledError`.
    :param send_action_masks: workers send every env's ``action_masks()`` with each step reply and
        ``env_method("action_masks")`` is answered from them (MaskablePPO then needs one message per step, not two).
    :param shared_step: workers take their actions and return their step results through shared memory, woken by one
        byte each way; False sends every step as a pickled message (the reference the tests and benchmarks compare
        against; the results are the same).
    :raises ValueError: for counts below 1 or an unknown start method.
    :raises TrainingError: when a worker fails to build its envs or exceeds the start-up limit.
    :raises RunCancelledError: when ``should_stop`` turns True during start-up.
    """

    def __init__(
        self,
        factory: EnvFactory,
        n_workers: int,
        n_envs_per_worker: int,
        start_method: str | None = None,
        worker_init: WorkerInit | None = None,
        poll_interval_s: float = 0.5,
        timeout_s: float | AutoTimeout | None = None,
        send_action_masks: bool = False,
        startup_timeout_s: float | None = None,
        should_stop: Callable[[], bool] | None = None,
        shared_step: bool = True,
    ) -> None:
        if n_workers < 1 or n_envs_per_worker < 1:
            raise ValueError(
                f"n_workers={n_workers} and n_envs_per_worker={n_envs_per_worker} must both be >= 1;"
                " set training.n_workers and training.n_envs_per_worker to 1 or more"
            )
        self.n_workers = n_workers
        self.n_envs_per_worker = n_envs_per_worker
        self.send_action_masks = send_action_masks
        self.closed = False
        self.waiting = False
        self._masks: np.ndarray | None = None
        self._step_layout: StepLayout | None = None
        self._workers: list[_LocalWorker | ProcessWorker] = []
        self._auto_timeout = timeout_s if isinstance(timeout_s, AutoTimeout) else None
        if n_workers == 1:
            envs = list(factory(0, n_envs_per_worker))
            obs_space, action_space = envs[0].observation_space, envs[0].action_space
            self.layout = ObsLayout(obs_space, 1, n_envs_per_worker, ctx=None)
            self._workers.append(_LocalWorker(EnvBatch(envs, self.layout.attach(0), 0, send_action_masks)))
        else:
            obs_space, action_space = self._probe_spaces(factory)
            limits = WaitLimits(poll_interval_s, timeout_s, startup_timeout_s, should_stop)
            self._start_processes(factory, (obs_space, action_space), start_method, worker_init, limits, shared_step)
        super().__init__(n_workers * n_envs_per_worker, obs_space, action_space)

    def _start_processes(
        self,
        factory: EnvFactory,
        spaces: tuple[gym.Space[Any], gym.Space[Any]],
        start_method: str | None,
        worker_init: WorkerInit | None,
        limits: WaitLimits,
        shared_step: bool,
    ) -> None:
        method = start_method or default_start_method()
        if method not in mp.get_all_start_methods():
            raise ValueError(f"start method {method!r} is not available here; use one of {mp.get_all_start_methods()}")
        ctx = mp.get_context(method)
        if method == "forkserver":
            # only the first start of the forkserver in a process reads this list; it serves every later ParallelVecEnv
            ctx.set_forkserver_preload(forkserver_preload(factory, worker_init))
        k = self.n_envs_per_worker
        obs_space, action_space = spaces
        self.layout = ObsLayout(obs_space, self.n_workers, k, ctx=ctx)
        if shared_step:
            self._step_layout = StepLayout(action_space, self.n_workers, k, obs_nbytes(self.layout.specs), ctx)
        step_layout = self._step_layout
        wrapped = CloudpickleWrapper(factory)
        try:
            processes: list[ProcessWorker] = []
            for w in range(self.n_workers):
                args = (wrapped, w, k, self.layout, worker_init, self.send_action_masks, step_layout)
                step_buffer = step_layout.attach(w) if step_layout is not None else None
                processes.append(ProcessWorker(ctx, w, worker_main, args, limits, step_buffer, self.send_action_masks))
                self._workers.append(processes[-1])
            for worker in processes:
                worker.recv(startup=True)  # the "envs built" reply
                worker.started = True
        except BaseException:  # a worker that cannot start or build its envs: stop the ones already running
            self.close()
            raise
        logger.info("started %d %s workers with %d envs each", self.n_workers, method, k)

    @staticmethod
    def _probe_spaces(factory: EnvFactory) -> tuple[gym.Space[Any], gym.Space[Any]]:
        probe = factory(0, 1)[0]
        spaces = (probe.observation_space, probe.action_space)
        probe.close()
        return spaces

    # -- batching helpers ------------------------------------------------------------------------------------------

    def _split(self, indices: VecEnvIndices) -> list[tuple[int, list[int], list[int]]]:
        """Group global indices by worker: (worker, local indices, positions in the requested order)."""
        groups: dict[int, tuple[list[int], list[int]]] = {}
        for pos, j in enumerate(self._get_indices(indices)):
            local, positions = groups.setdefault(j // self.n_envs_per_worker, ([], []))
            local.append(j % self.n_envs_per_worker)
            positions.append(pos)
        return [(w, local, positions) for w, (local, positions) in sorted(groups.items())]

    def _gather(self, requests: Sequence[tuple[int, str, Any]]) -> list[Any]:
        """Send each (worker, command, data), then collect every reply; the first failure is raised afterwards."""
        for w, command, data in requests:
            self._workers[w].send(command, data)
        return self._recv_all([w for w, _, _ in requests])

    def _recv_all(self, worker_ids: Sequence[int]) -> list[Any]:
        """One reply from each worker, in order; all are drained before the first failure is raised."""
        replies: list[Any] = []
        first_error: TrainingError | None = None
        for w in worker_ids:
            try:
                replies.append(self._workers[w].recv())
            except TrainingError as e:
                first_error = first_error or e
        if first_error is not None:
            raise first_error
        return replies

    def _per_worker(self, command: str, indices: VecEnvIndices, make_data: Any) -> list[Any]:
        groups = self._split(indices)
        replies = self._gather([(w, command, make_data(local)) for w, local, _ in groups])
        out: list[Any] = [None] * sum(len(p) for _, _, p in groups)
        for (_, _, positions), reply in zip(groups, replies, strict=True):
            for pos, value in zip(positions, reply, strict=True):
                out[pos] = value
        return out

    # -- VecEnv API --------------------------------------------------------------------------------------------------

    def reset(self) -> VecEnvObs:
        k = self.n_envs_per_worker
        requests = [
            (w, "reset", (self._seeds[w * k : (w + 1) * k], self._options[w * k : (w + 1) * k]))
            for w in range(self.n_workers)
        ]
        replies = self._gather(requests)
        self.reset_infos = [info for reply in replies for info in reply.infos]
        self._masks = np.concatenate([r.masks for r in replies]) if self.send_action_masks else None
        self._reset_seeds()
        self._reset_options()
        return self.layout.read()

    def step_async(self, actions: np.ndarray) -> None:
        k = self.n_envs_per_worker
        in_block = self._step_layout is not None and self._step_layout.load_actions(actions)
        for w, worker in enumerate(self._workers):
            worker.step(actions[w * k : (w + 1) * k], in_block)
        self.waiting = True

    def step_wait(self) -> VecEnvStepReturn:
        self.waiting = False
        replies = self._recv_all(range(self.n_workers))
        if self._auto_timeout is not None:
            self._auto_timeout.observe(max(getattr(w, "last_wait_s", 0.0) for w in self._workers))
        rewards = np.concatenate([r.rewards for r in replies])
        dones = np.concatenate([r.dones for r in replies])
        infos = [info for r in replies for info in r.infos]
        self.reset_infos = [info for r in replies for info in r.reset_infos]
        self._masks = np.concatenate([r.masks for r in replies]) if self.send_action_masks else None
        return self.layout.read(), rewards, dones, infos

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any
    ) -> list[Any]:
        if method_name == "action_masks" and self._masks is not None and not (method_args or method_kwargs):
            return [self._masks[j].copy() for j in self._get_indices(indices)]
        self._masks = None  # an arbitrary method may change an env's state
        return self._per_worker("env_method", indices, lambda local: (method_name, method_args, method_kwargs, local))

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return self._per_worker("get_attr", indices, lambda local: (attr_name, local))

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        self._masks = None
        groups = self._split(indices)
        self._gather([(w, "set_attr", (attr_name, value, local)) for w, local, _ in groups])

    def has_attr(self, attr_name: str) -> bool:
        return bool(self._gather([(0, "has_attr", attr_name)])[0])

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper[Any, Any, Any, Any]], indices: VecEnvIndices = None
    ) -> list[bool]:
        return self._per_worker("is_wrapped", indices, lambda local: (wrapper_class, local))

    def close(self) -> None:
        """Stop every worker (idempotent); a worker that does not stop in time is terminated."""
        if self.closed:
            return
        self.closed = True
        # A pending step reply is read by each worker's close(), with a bounded wait: an env that hangs (or a second
        # Ctrl-C during step_wait) must not make close() wait for it forever.
        self.waiting = False
        for worker in self._workers:
            worker.close(CLOSE_TIMEOUT_S)
