"""``python -m bot.api.tune_job <bot tune flags>``: ``python -m bot tune`` as a control-API job.

The job runner signals a job's whole process group, but Ray's own processes (raylet, GCS, the trials) live in the
group of the ``bot tune`` that starts them: a SIGTERM to all of them would kill the trials before Tune could stop
them. So this wrapper runs ``bot tune`` in a session of its own and turns the runner's SIGTERM into the SIGINT with
which Tune stops its trials, saves the experiment and writes the leaderboard (``bot tune`` then writes its
``cancelled`` event). Should the wrapper itself be killed (the runner's SIGKILL after the grace period), the kernel
kills ``bot tune`` with it, and Ray's processes follow their driver.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import signal
import subprocess
import sys
from collections.abc import Sequence

#: ``prctl`` option: the signal a child receives when its parent dies (Linux).
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the wrapper dies (no-op where ``prctl`` does not exist)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    libc = ctypes.CDLL(name, use_errno=True)
    if hasattr(libc, "prctl"):
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``bot tune`` with ``argv``; its exit code (130 when stopped by the runner's SIGTERM)."""
    args = list(sys.argv[1:] if argv is None else argv)
    child = subprocess.Popen([sys.executable, "-m", "bot", "tune", *args], start_new_session=True,
                             preexec_fn=_die_with_parent)  # only prctl, before exec

    def stop(_signum: int, _frame: object) -> None:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return child.wait()


if __name__ == "__main__":
    sys.exit(main())
