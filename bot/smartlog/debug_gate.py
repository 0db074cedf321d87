"""The worker-side DEBUG fast path: a sampled-out ``logger.debug(...)`` returns before any ``LogRecord`` is built.

A ``logging.Filter`` runs only after ``Logger._log`` has looked up the caller's frame and built the record (about 5 us),
so in a worker whose level is DEBUG, :func:`install` replaces ``logging.Logger.debug`` with a version that first looks
the template up in the sampler's cache (well under 1 us when suppressed). Records that pass continue exactly as
before (same caller information, via ``stacklevel``). ``logger.log(logging.DEBUG, ...)`` and ``LoggerAdapter``
calls still reach the handler's :class:`SampleFilter`, which makes the same decision.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.smartlog.sampling import DebugSampler

_ORIGINAL_DEBUG = logging.Logger.debug


class SuppressedCount:
    """How many records this process suppressed before queueing them.

    A plain counter, for speed: exact when one thread logs (the usual worker); threads logging at the same moment may
    lose an increment. The flusher thread only reads it.
    """

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


class SampleFilter(logging.Filter):
    """Handler filter that applies DEBUG sampling to records that did not take the fast path.

    :param sampler: the process's sampler (shared with the fast path).
    :param count: where suppressed records are counted.
    """

    def __init__(self, sampler: DebugSampler, count: SuppressedCount) -> None:
        super().__init__()
        self._sampler = sampler
        self._count = count

    def filter(self, record: logging.LogRecord) -> bool:
        """Return ``False`` for a DEBUG record whose template is sampled out (and count it).

        :param record: the record.
        :return: whether the record goes on to the listener.
        """
        if record.levelno > logging.DEBUG or self._sampler.passes(record.msg):
            return True
        self._count.n += 1
        return False


def install(sampler: DebugSampler, count: SuppressedCount) -> None:
    """Replace ``logging.Logger.debug`` in this process with the sampling fast path.

    :param sampler: decides per template; its cache is read directly.
    :param count: incremented for every suppressed call.
    """
    cache = sampler.cache
    passes = sampler.passes
    enabled_level = logging.DEBUG

    def debug(self: logging.Logger, msg: Any, *args: Any, **kwargs: Any) -> None:
        if not self.isEnabledFor(enabled_level):
            return
        try:
            keep = cache[msg]
        except (KeyError, TypeError):
            keep = passes(msg)
        if keep:
            # Skip this frame so that the record names the real caller.
            kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 1
            self._log(enabled_level, msg, args, **kwargs)
        else:
            count.n += 1

    debug.__doc__ = _ORIGINAL_DEBUG.__doc__
    logging.Logger.debug = debug  # type: ignore[method-assign]


def uninstall() -> None:
    """Restore the standard ``logging.Logger.debug``."""
    logging.Logger.debug = _ORIGINAL_DEBUG  # type: ignore[method-assign]
