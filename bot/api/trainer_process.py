"""Launching, signalling and reaping the trainer as its own OS process (a new process group), and adopting one
that a previous server left running."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import psutil

logger = logging.getLogger(__name__)


class TrainerHandle(Protocol):
    """What the runner needs of a trainer process: its pid, whether it ended, and signals to its process group."""

    @property
    def pid(self) -> int:
        """The process id (also its process group id)."""
        ...

    @property
    def returncode(self) -> int | None:
        """The exit code once ended (negative: killed by that signal); ``None`` while running or when unknown."""
        ...

    def exited(self) -> bool:
        """Whether the process has ended."""
        ...

    def terminate(self) -> None:
        """Ask the trainer to save a checkpoint and stop."""
        ...

    def kill(self) -> None:
        """Kill the trainer and its workers at once."""
        ...

    def kill_leftovers(self) -> None:
        """Kill what is left of the process group once the trainer itself has ended."""
        ...


def _signal_group(pid: int, *signals: signal.Signals) -> None:
    for sig in signals:
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            logger.debug("Process group %d already gone before %s", pid, sig.name)
            return


def _terminate_group(pid: int) -> None:
    # SIGCONT after SIGTERM: a stopped (SIGSTOP, Ctrl+Z) trainer runs again and handles the SIGTERM at once,
    # instead of holding it pending until the kill deadline
    _signal_group(pid, signal.SIGTERM, signal.SIGCONT)


def _kill_leftovers(pid: int) -> None:
    # Safe once the leader ended: Linux gives no new process a pid equal to a process group id still in use, and
    # an empty group is skipped (ProcessLookupError).
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    logger.info("Sent SIGKILL to what was left of trainer pid %d's process group", pid)


class TrainerProcess:
    """One trainer process started by this server. It leads its own process group, so signals reach its workers.

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

    @property
    def returncode(self) -> int | None:
        """The exit code once ended (negative: killed by that signal), else ``None``."""
        return self._popen.poll()

    def exited(self) -> bool:
        """Whether the process has ended (it is reaped then)."""
        return self._popen.poll() is not None

    def terminate(self) -> None:
        """Ask the trainer to save a checkpoint and stop (SIGTERM, then SIGCONT, to its process group)."""
        if not self.exited():
            _terminate_group(self.pid)

    def kill(self) -> None:
        """Kill the trainer and its workers at once (SIGKILL to its process group; stopped ones too)."""
        if not self.exited():
            _signal_group(self.pid, signal.SIGKILL)

    def kill_leftovers(self) -> None:
        """SIGKILL whatever is left of the trainer's process group once the trainer itself has exited."""
        if self.exited():
            _kill_leftovers(self.pid)


class AdoptedProcess:
    """A trainer a previous server started; this server cannot reap it, so it watches it through psutil.

    Its exit code is unknown (``returncode`` stays ``None``): its events file tells how it ended.

    :param proc: the process, or ``None`` when it had already gone.
    :param pid: its pid (its process group id).
    """

    def __init__(self, proc: psutil.Process | None, pid: int) -> None:
        self._proc = proc
        self._pid = pid
        # only a process seen alive is ours to clean up after: a pid not found at adoption may be anyone's by now
        self._was_found = proc is not None

    @classmethod
    def find(cls, pid: int, marker: str) -> AdoptedProcess:
        """The trainer with this pid if it still runs and its command line contains ``marker`` (its events file
        path), so that a recycled pid of an unrelated process is never signalled; else an ended handle."""
        try:
            proc = psutil.Process(pid)
            if any(marker in part for part in proc.cmdline()) and proc.status() != psutil.STATUS_ZOMBIE:
                return cls(proc, pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
        return cls(None, pid)

    @property
    def pid(self) -> int:
        """The process id (also its process group id)."""
        return self._pid

    @property
    def returncode(self) -> int | None:
        """Always ``None``: only a parent learns a process's exit status."""
        return None

    def exited(self) -> bool:
        """Whether the process has ended (``is_running`` also compares the start time, so a reused pid is gone)."""
        if self._proc is None:
            return True
        try:
            if self._proc.is_running() and self._proc.status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            pass
        self._proc = None
        return True

    def terminate(self) -> None:
        """SIGTERM (and SIGCONT) to its process group: it saves a checkpoint and stops."""
        if not self.exited():
            _terminate_group(self._pid)

    def kill(self) -> None:
        """SIGKILL to its process group."""
        if not self.exited():
            _signal_group(self._pid, signal.SIGKILL)

    def kill_leftovers(self) -> None:
        """SIGKILL whatever is left of its process group once it has ended (only if it was found running)."""
        if self._was_found and self.exited():
            _kill_leftovers(self._pid)
