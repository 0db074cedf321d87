"""The numba kernels' cache: a notice before they compile, and stale caches of their callers dropped.

The kernels (the single-asset bar of :mod:`bot.portfolio.bar_kernel`, :mod:`bot.portfolio.basket_kernel` and its
callers, the portfolio env's observation and weights) are compiled with ``cache=True``: the first process on a machine
compiles them for seconds to tens of seconds in silence, later ones load them from ``__pycache__`` in about a
second. numba emits a ``numba:compile`` event only for a real compilation (a
function loaded from the cache emits none), so a listener on it logs the notice exactly when there is a wait.

numba checks a cached function against its own file only, yet a kernel compiles the kernels it calls, and the
constants it reads, from other modules into its own machine code: after an edit of
:mod:`bot.portfolio.basket_kernel`, the cache of :mod:`bot.portfolio.basket_bar` would run the old fill. Each kernel
module therefore calls :func:`drop_stale_caches` when imported (before any kernel is loaded): its cache files older
than one of the modules it compiles in are deleted, and numba compiles it again.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from numba.core import event
from numba.core.caching import CompileResultCacheImpl

logger = logging.getLogger(__name__)

#: The line logged (INFO) before the first compilation of a kernel in a process.
COMPILE_NOTICE = "compiling the numba kernels (first run on this machine, about 20 s; cached afterwards)"


class CompileNotice(event.Listener):
    """Logs :data:`COMPILE_NOTICE` at the start of the first compilation of a function defined under ``prefix``.

    :param prefix: module-name prefix of the functions that count (``"bot."``: the project's kernels; a numba
        function of another library compiling in the same process says nothing).
    """

    def __init__(self, prefix: str = "bot.") -> None:
        self.prefix = prefix
        self.announced = False

    def on_start(self, ev: event.Event) -> None:
        """Log the notice when ``ev`` starts compiling one of the prefix's functions and none did before."""
        if self.announced:
            return
        data = ev.data if isinstance(ev.data, dict) else {}
        module = getattr(getattr(data.get("dispatcher"), "py_func", None), "__module__", None) or ""
        if module.startswith(self.prefix):
            self.announced = True
            logger.info(COMPILE_NOTICE)

    def on_end(self, ev: event.Event) -> None:
        """Nothing: the notice is said at the start."""


_NOTICE = CompileNotice()
_installed = False


def announce_compiles() -> None:
    """Register the process's :class:`CompileNotice` with numba (once; later calls do nothing)."""
    global _installed
    if not _installed:
        event.register("numba:compile", _NOTICE)
        _installed = True


def drop_stale_caches(kernel: Any, dependencies: Iterable[ModuleType]) -> int:
    """Delete the numba cache files of ``kernel``'s module that are older than a source of ``dependencies``.

    :param kernel: any ``@njit(cache=True)`` function of the module (it names the module and its cache folder).
    :param dependencies: the modules whose kernels or constants the module's kernels compile in.
    :return: how many files were deleted (0 when the cache is fresh or missing). A file written meanwhile by
        another process is newer than the sources and stays; one deleted under a reader only makes it compile.
    """
    py_func = kernel.py_func
    newest = max(os.stat(str(module.__file__)).st_mtime for module in dependencies)
    try:
        folder = Path(CompileResultCacheImpl(py_func).locator.get_cache_path())
        names = [*folder.glob(f"{Path(py_func.__code__.co_filename).stem}.*.nb[ic]")]
    except (OSError, RuntimeError):  # no cache folder (yet) or no locator: nothing cached to drop
        return 0
    dropped = 0
    for path in names:
        try:
            if path.stat().st_mtime < newest:
                path.unlink()
                dropped += 1
        except OSError:  # another process dropped it first, or a read-only cache (numba then compiles in memory)
            continue
    if dropped:
        logger.info(
            "dropped %d stale numba cache files of %s (a module it compiles in changed)", dropped, py_func.__module__
        )
    return dropped


_entry_points: dict[tuple[Any, tuple[Any, ...]], Callable[..., Any]] = {}


def entry_point(kernel: Any, argtypes: tuple[Any, ...]) -> Callable[..., Any]:
    """``kernel`` compiled (or loaded from its cache) for ``argtypes``, as its native entry point: a call skips
    numba's dispatcher, which types every argument before each call (about 0.15 us of a 0.4 us call with eight).

    The caller passes exactly these types: an array argument of another dtype, dimension or layout would be read as
    the declared one (scalars are converted, as by the dispatcher). An entry point does not pickle; hold it in an
    object that takes it again when copied (see :class:`bot.env.account_obs.EnvKernels`).

    :param kernel: an ``@njit`` function.
    :param argtypes: numba types of its arguments.
    :return: the same function for every caller of the process.
    """
    key = (kernel, argtypes)
    if key not in _entry_points:
        _entry_points[key] = kernel.compile(argtypes)
    return _entry_points[key]
