"""Deterministic DEBUG sampling: a stable hash of the message template decides, identically in every process and run.

Python's ``hash`` of a ``str`` is salted per process (``PYTHONHASHSEED``), so it would pick different templates in each
worker; CRC-32 of the UTF-8 template is the same everywhere.
"""

from __future__ import annotations

import zlib

_HASH_SPACE = 2**32
#: Cached templates before the cache starts over: f-string "templates" are all distinct and would grow it forever.
MAX_CACHED_TEMPLATES = 50_000


def stable_hash(template: str) -> int:
    """Return a process-independent 32-bit hash of a message template.

    :param template: the unformatted message (``record.msg``).
    :return: an integer in ``[0, 2**32)``, equal in every process and across runs.
    """
    return zlib.crc32(template.encode("utf-8", "backslashreplace"))


class DebugSampler:
    """Decides whether DEBUG records of a template pass, caching the decision per template.

    A template passes when ``stable_hash(template) < rate * 2**32``, so about ``rate`` of all templates pass and a
    template that passes does so for every record, in every process.

    :param rate: the share of templates that pass, in ``[0, 1]``.
    :raises ValueError: when ``rate`` is outside ``[0, 1]``.
    """

    __slots__ = ("_threshold", "cache", "rate")

    def __init__(self, rate: float) -> None:
        if not 0 <= rate <= 1:
            raise ValueError(f"debug_sample_rate={rate!r} must be a share in [0, 1]")
        self.rate = rate
        self._threshold = rate * _HASH_SPACE
        #: template -> decision; read directly by the hot path in :mod:`bot.smartlog.debug_gate`.
        self.cache: dict[str, bool] = {}

    def passes(self, template: object) -> bool:
        """Return whether DEBUG records with this template are kept.

        :param template: ``record.msg``; a non-string is sampled by its ``str()``.
        :return: ``True`` to keep the record.
        """
        key = template if isinstance(template, str) else str(template)
        decision = self.cache.get(key)
        if decision is None:
            decision = stable_hash(key) < self._threshold
            if len(self.cache) >= MAX_CACHED_TEMPLATES:
                self.cache.clear()
            self.cache[key] = decision
        return decision
