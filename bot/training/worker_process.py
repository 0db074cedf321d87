"""The parent's handle of one worker process of :class:`~bot.training.vec_env.ParallelVecEnv`.

It sends commands (a step as one wake-up byte when its actions are in the shared step buffer, anything else as a
pickled message, see :mod:`bot.training.step_channel`) and waits for replies while checking that the worker lives,
that no time limit has passed and that no stop was requested; it also finds workers orphaned by a killed forkserver.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from multiprocessing import util
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any

import numpy as np

from bot.errors import TrainingError
from bot.training.step_channel import MESSAGE, STEP, STEP_DONE, StepBuffer, send_message
from bot.training.timeouts import RunCancelledError, WaitLimits
from bot.training.worker import WorkerFailure

logger = logging.getLogger(__name__)

#: how long to wait for a SIGKILLed worker to be reaped (seconds)
REAP_TIMEOUT_S = 5.0
#: the exit code multiprocessing reports for a forkserver child once the forkserver itself is gone
_FORKSERVER_LOST = 255


class ProcessWorker:
    """Parent-side handle of one worker process: a pipe plus liveness checks while waiting for replies."""

    def __init__(
        self,
        ctx: BaseContext,
        worker_id: int,
        target: Callable[..., None],
        args: tuple[Any, ...],
        limits: WaitLimits,
        step_buffer: StepBuffer | None,
        with_masks: bool,
    ) -> None:
        """Start worker ``worker_id``: ``target`` (``worker_main``) with ``args`` after the two pipe ends."""
        self.worker_id = worker_id
        self.limits = limits
        self.step_buffer = step_buffer
        self.with_masks = with_masks
        self.last_wait_s = 0.0
        self.started = False  # set once the worker reported its envs built
        self.remote, work_remote = ctx.Pipe()
        self._fd = self.remote.fileno()
        args = (work_remote, self.remote, *args)
        # daemon: a crashed parent never leaves workers behind
        self.process = ctx.Process(  # type: ignore[attr-defined]
            target=target, args=args, daemon=True, name=f"bot-worker-{worker_id}"
        )
        self.process.start()
        work_remote.close()
        # Workers ignore SIGTERM (see worker_main), so multiprocessing's exit hook (SIGTERM, then join) could wait
        # forever for a worker of a VecEnv that was never closed: kill it first (exit priority >= 0 runs before).
        self._finalizer = util.Finalize(self, kill_process, args=(self.process,), exitpriority=10)

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
            send_message(self.remote, (command, data))
        except (BrokenPipeError, ConnectionResetError, EOFError) as e:
            raise self._gone("is gone") from e

    def step(self, actions: np.ndarray, in_block: bool) -> None:
        """Step the envs: a wake-up byte when the actions are in the step buffer (``in_block``), else a message."""
        if not in_block:
            self.send("step", actions)
            return
        try:
            os.write(self._fd, STEP)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise self._gone("is gone") from e

    def _read_reply(self) -> tuple[str, Any]:
        """The reply that the pipe announces as readable: a step's results from the buffer, or a message."""
        marker = os.read(self._fd, 1)
        if marker == STEP_DONE:
            return "ok", self.step_buffer.reply(self.with_masks)  # type: ignore[union-attr]  # sent only with one
        if marker != MESSAGE:
            raise EOFError  # end of file: the worker is gone
        status, payload = self.remote.recv()
        return status, payload

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
            if not process_alive(self.process):
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
            status, payload = self._read_reply()
        except (EOFError, ConnectionResetError) as e:
            raise self._gone("died") from e
        if status == "error":
            assert isinstance(payload, WorkerFailure)
            raise TrainingError(payload.describe())
        return payload

    def close(self, timeout_s: float) -> None:
        """Ask the worker to stop: ``timeout_s`` each for a pending reply, the answer and the exit, then a kill."""
        if not self.started:  # still building its envs (or hung there): it would read no ``close`` before long
            kill_process(self.process)
        if process_alive(self.process):
            try:
                send_message(self.remote, ("close", None))
                if self.remote.poll(timeout_s):
                    self._read_reply()
            except (BrokenPipeError, ConnectionResetError, EOFError):
                logger.debug("worker %d closed its pipe before close", self.worker_id)
        self.process.join(timeout_s)
        if process_alive(self.process):
            logger.warning("worker %d did not stop within %.0f s; killing it", self.worker_id, timeout_s)
            kill_process(self.process)
        self._finalizer.cancel()
        self.remote.close()


def process_alive(process: BaseProcess) -> bool:
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


def kill_process(process: BaseProcess) -> None:
    """SIGKILL a worker process that is still alive (it ignores SIGTERM) and reap it."""
    if process.is_alive():
        process.kill()
        process.join(REAP_TIMEOUT_S)
    elif process_alive(process) and process.pid is not None:  # orphaned by a killed forkserver: not ours to reap
        os.kill(process.pid, signal.SIGKILL)
