"""``ParallelVecEnv``: an SB3 VecEnv of N worker processes, each stepping K environments as one batch.

Per step the parent sends ONE message per worker (its K actions) and receives one reply (K rewards, dones, infos);
observations go through shared memory (:mod:`bot.training.obs_buffer`). Workers are daemonic and started with an
explicit start method; a worker's exception comes back with its worker id and traceback and is raised here as
:class:`~bot.errors.TrainingError`; a worker that dies silently is found by polling its liveness, so a failure never
hangs the trainer: start-up has its own time limit, every later reply another (derived from the measured step time by
default, see :class:`AutoTimeout`), and a stop request (SIGINT/SIGTERM) ends any wait. With ``n_workers=1`` the K
envs run in-process through the same batching code.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from multiprocessing import util
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
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
from bot.training.timeouts import AutoTimeout, RunCancelledError, WaitLimits
from bot.training.worker import EnvBatch, EnvFactory, WorkerFailure, WorkerInit, dispatch, failure, worker_main

logger = logging.getLogger(__name__)

#: How long ``close`` waits for a worker's pending reply, its ``close`` answer, and its exit (each, seconds).
CLOSE_TIMEOUT_S = 5.0
#: the exit code multiprocessing reports for a forkserver child once the forkserver itself is gone
_FORKSERVER_LOST = 255


def default_start_method() -> str:
    """``forkserver`` on Linux (fork is unsafe once torch has started threads), ``spawn`` elsewhere."""
    return "forkserver" if sys.platform.startswith("linux") else "spawn"


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

    def recv(self) -> Any:
        status, payload = self._reply
        if status == "error":
            raise TrainingError(payload.describe())
        return payload

    def close(self) -> None:
        self.batch.close()


class _ProcessWorker:
    """Parent-side handle of one worker process: a pipe plus liveness checks while waiting for replies."""

    def __init__(self, ctx: BaseContext, worker_id: int, args: tuple[Any, ...], limits: WaitLimits) -> None:
        """Start worker ``worker_id``; ``args`` are :func:`worker_main`'s arguments after the two pipe ends."""
        self.worker_id = worker_id
        self.limits = limits
        self.last_wait_s = 0.0
        self.started = False  # set once the worker reported its envs built
        self.remote, work_remote = ctx.Pipe()
        args = (work_remote, self.remote, *args)
        # daemon: a crashed parent never leaves workers behind
        self.process = ctx.Process(  # type: ignore[attr-defined]
            target=worker_main, args=args, daemon=True, name=f"bot-worker-{worker_id}"
        )
        self.process.start()
        work_remote.close()
        # Workers ignore SIGTERM (see worker_main), so multiprocessing's exit hook (SIGTERM, then join) could wait
        # forever for a worker of a VecEnv that was never closed: kill it first (exit priority >= 0 runs before).
        self._finalizer = util.Finalize(self, _kill, args=(self.process,), exitpriority=10)

    def _gone(self, detail: str) -> TrainingError | RunCancelledError:
        # A SIGTERM to the process group kills a worker that has not yet set its signals to ignored (it is still
        # starting): when a stop request follows within a poll interval, the death is the cancel, not a failure.
        should_stop = self.limits.should_stop
        deadline = time.monotonic() + self.limits.poll_interval_s
        while should_stop is not None:
            if should_stop():
                return RunCancelledError(f"stop requested; worker {self.worker_id} {detail}")
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        code = self.process.exitcode
        return TrainingError(
            f"worker {self.worker_id} {detail} (exit code {code}) without reporting an error; it was probably killed"
            " (out of memory?) — check the system log and lower training.n_workers or n_envs_per_worker"
        )

    def send(self, command: str, data: Any) -> None:
        try:
            self.remote.send((command, data))
        except (BrokenPipeError, ConnectionResetError, EOFError) as e:
            raise self._gone("is gone") from e

    def recv(self, startup: bool = False) -> Any:
        """The worker's next reply; ``startup`` waits for the "envs built" reply under the start-up limit.

        :raises RunCancelledError: when a stop is requested while the reply is late (more than one poll interval).
        :raises TrainingError: when the worker died, reported an error or exceeded its time limit.
        """
        started = time.monotonic()
        limits = self.limits
        while not self.remote.poll(limits.poll_interval_s):
            # the stop first: a SIGTERM to the process group also kills the forkserver, and with it the parent's
            # view of which workers live; a cancel must stay a cancel
            if limits.should_stop is not None and limits.should_stop():
                raise RunCancelledError(f"stop requested while waiting for worker {self.worker_id}")
            if not _alive(self.process):
                raise self._gone("died")
            limit_s = limits.startup_timeout_s if startup else limits.reply_timeout_s()
            if limit_s is not None and time.monotonic() - started > limit_s:
                if startup:
                    raise TrainingError(
                        f"worker {self.worker_id} did not finish start-up (building its environments) within"
                        f" {limit_s:.0f} s; it hangs or the machine is overloaded: raise"
                        " training.worker_startup_timeout_s, or lower training.n_workers"
                    )
                raise TrainingError(
                    f"worker {self.worker_id} sent no reply within {limit_s:.0f} s; an environment hangs or the worker"
                    " was stopped (set training.worker_timeout_s to wait longer)"
                )
        self.last_wait_s = time.monotonic() - started
        try:
            status, payload = self.remote.recv()
        except (EOFError, ConnectionResetError) as e:
            raise self._gone("died") from e
        if status == "error":
            assert isinstance(payload, WorkerFailure)
            raise TrainingError(payload.describe())
        return payload

    def close(self) -> None:
        if not self.started:  # still building its envs (or hung there): it would read no ``close`` before long
            _kill(self.process)
        if _alive(self.process):
            try:
                self.remote.send(("close", None))
                if self.remote.poll(CLOSE_TIMEOUT_S):
                    self.remote.recv()
            except (BrokenPipeError, ConnectionResetError, EOFError):
                logger.debug("worker %d closed its pipe before close", self.worker_id)
        self.process.join(CLOSE_TIMEOUT_S)
        if _alive(self.process):
            logger.warning("worker %d did not stop within %.0f s; killing it", self.worker_id, CLOSE_TIMEOUT_S)
            _kill(self.process)
        self._finalizer.cancel()
        self.remote.close()


def _alive(process: BaseProcess) -> bool:
    """Whether a worker process runs, also when its forkserver was killed.

    ``is_alive`` asks the forkserver; once that is gone (a SIGTERM to the process group kills it) it reports every
    worker as ended with exit code 255, although the workers still run: then ask the kernel by pid.
    """
    if process.is_alive():
        return True
    if process.exitcode != _FORKSERVER_LOST or process.pid is None:
        return False
    try:
        with open(f"/proc/{process.pid}/stat", encoding="ascii") as fh:
            return fh.read().rpartition(")")[2].split()[0] != "Z"  # a zombie has ended
    except OSError:
        return False  # no such process (or no /proc: the forkserver is Linux only)


def _kill(process: BaseProcess) -> None:
    """SIGKILL a worker process that is still alive (it ignores SIGTERM) and reap it."""
    if process.is_alive():
        process.kill()
        process.join(CLOSE_TIMEOUT_S)
    elif _alive(process) and process.pid is not None:  # orphaned by a killed forkserver: not ours to reap
        os.kill(process.pid, signal.SIGKILL)


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
        self._workers: list[_LocalWorker | _ProcessWorker] = []
        self._auto_timeout = timeout_s if isinstance(timeout_s, AutoTimeout) else None
        if n_workers == 1:
            envs = list(factory(0, n_envs_per_worker))
            obs_space, action_space = envs[0].observation_space, envs[0].action_space
            self.layout = ObsLayout(obs_space, 1, n_envs_per_worker, ctx=None)
            self._workers.append(_LocalWorker(EnvBatch(envs, self.layout.attach(0), 0, send_action_masks)))
        else:
            obs_space, action_space = self._probe_spaces(factory)
            limits = WaitLimits(poll_interval_s, timeout_s, startup_timeout_s, should_stop)
            self._start_processes(factory, obs_space, start_method, worker_init, limits)
        super().__init__(n_workers * n_envs_per_worker, obs_space, action_space)

    def _start_processes(
        self,
        factory: EnvFactory,
        obs_space: gym.Space[Any],
        start_method: str | None,
        worker_init: WorkerInit | None,
        limits: WaitLimits,
    ) -> None:
        method = start_method or default_start_method()
        if method not in mp.get_all_start_methods():
            raise ValueError(f"start method {method!r} is not available here; use one of {mp.get_all_start_methods()}")
        ctx = mp.get_context(method)
        if method == "forkserver":
            ctx.set_forkserver_preload(["bot.training.worker"])
        k = self.n_envs_per_worker
        self.layout = ObsLayout(obs_space, self.n_workers, k, ctx=ctx)
        wrapped = CloudpickleWrapper(factory)
        try:
            processes: list[_ProcessWorker] = []
            for w in range(self.n_workers):
                args = (wrapped, w, k, self.layout, worker_init, self.send_action_masks)
                processes.append(_ProcessWorker(ctx, w, args, limits))
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
        for w, worker in enumerate(self._workers):
            worker.send("step", actions[w * k : (w + 1) * k])
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
            worker.close()
