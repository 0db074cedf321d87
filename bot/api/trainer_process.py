"""Launching, signalling and reaping the trainer as its own OS process (a new process group)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

logger = logging.getLogger(__name__)


class TrainerProcess:
    """One trainer process. It leads its own process group, so signals reach its worker processes too.

    :param popen: the started process.
    :param argv: the command line it was started with.
    """

    def __init__(self, popen: subprocess.Popen[bytes], argv: Sequence[str]) -> None:
        self._popen = popen
        self.argv = tuple(argv)

    @classmethod
    def start(cls, argv: Sequence[str], cwd: Path, output_path: Path) -> TrainerProcess:
        """Start ``argv`` with stdout and stderr appended to ``output_path``.

        :raises OSError: when the executable cannot be started.
        """
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with output_path.open("ab") as out:
            popen = subprocess.Popen(
                list(argv),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        logger.info("Started trainer pid %d: %s", popen.pid, " ".join(argv))
        return cls(popen, argv)

    @property
    def pid(self) -> int:
        """The process id (also its process group id)."""
        return self._popen.pid

    def poll(self) -> int | None:
        """The exit code, or ``None`` while it runs (negative: killed by that signal)."""
        return self._popen.poll()

    def terminate(self) -> None:
        """Ask the trainer to save a checkpoint and stop (SIGTERM to its process group)."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """Kill the trainer and its workers at once (SIGKILL to its process group)."""
        self._signal(signal.SIGKILL)

    def kill_leftovers(self) -> None:
        """SIGKILL whatever is left of the trainer's process group once the trainer itself has exited.

        Workers that outlive a crashed trainer keep CPU and memory until then. Safe after the trainer was reaped:
        Linux gives no new process a pid equal to a process group id still in use, and an empty group is skipped.
        """
        if self._popen.poll() is None:
            return
        try:
            os.killpg(self._popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        logger.info("Sent SIGKILL to what was left of trainer pid %d's process group", self._popen.pid)

    def _signal(self, sig: signal.Signals) -> None:
        if self._popen.poll() is not None:
            return
        try:
            os.killpg(self._popen.pid, sig)
        except ProcessLookupError:
            logger.debug("Trainer pid %d already gone before %s", self._popen.pid, sig.name)


def _is_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def stop_orphan(pid: int, marker: str, grace_s: float) -> bool:
    """Stop a trainer left running by a previous server, if ``pid`` still is that trainer.

    The process is recognised by ``marker`` (its events file path) in its command line, so a recycled pid of an
    unrelated process is never signalled.

    :param pid: the pid recorded for the job.
    :param marker: a string that the trainer's command line contains.
    :param grace_s: seconds to wait after SIGTERM before SIGKILL.
    :return: whether such a process was found (and is now stopped).
    """
    try:
        proc = psutil.Process(pid)
        if not any(marker in part for part in proc.cmdline()):
            return False
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    logger.warning("Stopping orphan trainer pid %d left by a previous server", pid)
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if _is_gone(pid):
                return True
            time.sleep(0.1)
    return True
