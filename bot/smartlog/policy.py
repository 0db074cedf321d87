"""The log policy applied at the listener: which records are written, and a count of every one that is not.

- ERROR / CRITICAL: always written.
- WARNING: the first copy of a template inside the dedup window is written; later copies (from any worker) are counted
  and reported in one summary line when the window closes.
- INFO: a worker's records pass while ``cycle % n_workers == worker_id``, where the cycle advances every
  ``info_rotation_interval_s``; records carrying a critical keyword, and records of non-worker processes (``"main"``),
  always pass.
- DEBUG: sampled by a stable hash of the template (see :mod:`bot.smartlog.sampling`).

Workers run the INFO rule (:class:`RotationFilter`) and the DEBUG rule before queueing, with the listener's epoch and
settings, so suppressed records never travel; the listener applies every rule again and stays the authority.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bot.smartlog.debug_gate import SuppressedCount
from bot.smartlog.sampling import MAX_CACHED_TEMPLATES, DebugSampler
from bot.smartlog.settings import SmartLogSettings
from bot.smartlog.wire import WorkerId

#: Why a record was not written.
SUPPRESSION_REASONS: tuple[str, ...] = ("dedup", "rotation", "sampling", "dropped")


class KeywordMatcher:
    """Case-insensitive substring test of critical keywords against a template (cached) or a message.

    :param keywords: the critical keywords; matching ignores case.
    """

    __slots__ = ("_cache", "_keywords")

    def __init__(self, keywords: tuple[str, ...]) -> None:
        self._keywords = tuple(k.lower() for k in keywords if k)
        self._cache: dict[str, bool] = {}

    def in_template(self, template: str) -> bool:
        """Return whether the template holds a keyword (cached per template).

        :param template: ``record.msg``.
        :return: ``True`` when a keyword occurs in it.
        """
        hit = self._cache.get(template)
        if hit is None:
            hit = self.in_text(template)
            if len(self._cache) >= MAX_CACHED_TEMPLATES:
                self._cache.clear()
            self._cache[template] = hit
        return hit

    def in_text(self, text: str) -> bool:
        """Return whether a keyword occurs in ``text``.

        :param text: a formatted message.
        :return: ``True`` when a keyword occurs in it.
        """
        lowered = text.lower()
        return any(keyword in lowered for keyword in self._keywords)


class InfoRotation:
    """The INFO rotation rule, shared by the listener's policy and the workers' early filter.

    :param n_workers: workers in the rotation.
    :param epoch: wall-clock time at which cycle 0 starts.
    :param interval_s: length of one worker's turn in seconds.
    :param keywords: critical keywords; INFO holding one always passes.
    """

    __slots__ = ("epoch", "interval_s", "keywords", "n_workers")

    def __init__(self, n_workers: int, epoch: float, interval_s: float, keywords: KeywordMatcher) -> None:
        self.n_workers = n_workers
        self.epoch = epoch
        self.interval_s = interval_s
        self.keywords = keywords

    def in_turn(self, worker: int, created: float) -> bool:
        """Return whether it is ``worker``'s turn at time ``created``.

        :param worker: the worker index.
        :param created: the record's creation time (``time.time()``).
        :return: ``True`` when ``cycle % n_workers == worker % n_workers``.
        """
        return int((created - self.epoch) // self.interval_s) % self.n_workers == worker % self.n_workers

    def passes(self, worker: WorkerId, created: float, template: str, message: str) -> bool:
        """Return whether an INFO record passes: non-worker sources, the worker in turn, or a critical keyword.

        :param worker: the worker id.
        :param created: the record's creation time.
        :param template: ``record.msg``.
        :param message: the formatted message.
        :return: ``True`` to keep the record.
        """
        if not isinstance(worker, int) or self.in_turn(worker, created):
            return True
        return self.keywords.in_template(template) or self.keywords.in_text(message)


class RotationFilter(logging.Filter):
    """Worker-side filter: drops INFO records that the listener would rotate out, before they are queued.

    The listener applies the same rule again (same epoch, interval and keywords), so it stays the authority; this
    only saves the queue and the listener the three quarters of INFO traffic that 4 workers would send for nothing.

    :param rotation: the rule, built from the worker handle.
    :param worker_id: this worker's index.
    :param count: where suppressed records are counted (reported to the listener with the next batch).
    """

    def __init__(self, rotation: InfoRotation, worker_id: int, count: SuppressedCount) -> None:
        super().__init__()
        self._rotation = rotation
        self._worker_id = worker_id
        self._count = count

    def filter(self, record: logging.LogRecord) -> bool:
        """Return ``False`` for an INFO record outside this worker's turn without a critical keyword (and count it).

        :param record: the record.
        :return: whether the record goes on to the listener.
        """
        if not logging.INFO <= record.levelno < logging.WARNING or self._rotation.in_turn(
            self._worker_id, record.created
        ):
            return True
        keywords = self._rotation.keywords
        template = record.msg if isinstance(record.msg, str) else str(record.msg)
        if keywords.in_template(template) or keywords.in_text(record.getMessage()):
            return True
        self._count.n += 1
        return False


class SuppressionCounters:
    """Records written and suppressed, per reason and per worker (worker ids as strings)."""

    __slots__ = ("by_worker",)

    def __init__(self) -> None:
        self.by_worker: dict[str, dict[str, int]] = {}

    def add(self, worker: WorkerId, what: str, n: int = 1) -> None:
        """Add ``n`` to a worker's count of ``what`` (``"written"`` or a reason in :data:`SUPPRESSION_REASONS`).

        :param worker: the worker id.
        :param what: the counter name.
        :param n: the amount to add.
        """
        counts = self.by_worker.get(str(worker))
        if counts is None:
            counts = self.by_worker[str(worker)] = dict.fromkeys(("written", *SUPPRESSION_REASONS), 0)
        counts[what] += n

    def snapshot(self) -> dict[str, Any]:
        """Return totals and per-worker counts as plain, JSON-ready dicts.

        :return: ``{"written": int, "suppressed": {reason: int}, "by_worker": {worker: {name: int}}}``.
        """
        suppressed = {reason: sum(c[reason] for c in self.by_worker.values()) for reason in SUPPRESSION_REASONS}
        return {
            "written": sum(c["written"] for c in self.by_worker.values()),
            "suppressed": suppressed,
            "by_worker": {worker: dict(counts) for worker, counts in sorted(self.by_worker.items())},
        }


@dataclass(frozen=True, slots=True)
class DedupSummary:
    """One closed dedup window of a WARNING template that was repeated.

    :param template: the message template.
    :param first_message: the message of the copy that was written.
    :param n_repeats: copies counted and not written.
    :param workers: every worker that logged the template inside the window, in order of first appearance
        (the summary text sorts them).
    :param window_s: the window length in seconds.
    """

    template: str
    first_message: str
    n_repeats: int
    workers: tuple[str, ...]
    window_s: float

    def text(self) -> str:
        """Return the summary line's message.

        :return: e.g. ``warning repeated 11 more times in 5.0 s by workers 0, 1, 2, 3: Disk %s is slow``.
        """
        return (
            f"warning repeated {self.n_repeats} more times in {self.window_s:g} s by workers"
            f" {', '.join(sorted(self.workers, key=_worker_order))}: {self.template}"
        )


def _worker_order(worker: str) -> tuple[bool, int, str]:
    return (not worker.isdigit(), int(worker) if worker.isdigit() else 0, worker)


class _Window:
    __slots__ = ("first_message", "n_repeats", "start", "workers")

    def __init__(self, start: float, worker: str, first_message: str) -> None:
        self.start = start
        self.first_message = first_message
        self.n_repeats = 0
        self.workers: dict[str, None] = {worker: None}


class LogPolicy:
    """Decides, record by record, what the listener writes, and counts the rest.

    Not thread-safe: the listener serialises calls.

    :param settings: the policy knobs.
    :param n_workers: how many workers share the INFO rotation (ids ``0 .. n_workers - 1``).
    :param epoch: wall-clock time (``time.time()``) at which rotation cycle 0 starts.
    :raises ValueError: when ``n_workers < 1``.
    """

    def __init__(self, settings: SmartLogSettings, n_workers: int, epoch: float) -> None:
        if n_workers < 1:
            raise ValueError(f"n_workers={n_workers!r} must be >= 1 (the number of worker processes that log)")
        self.n_workers = n_workers
        self.epoch = epoch
        self.counters = SuppressionCounters()
        self._window_s = settings.warning_dedup_window_s
        self._sampler = DebugSampler(settings.debug_sample_rate)
        self.rotation = InfoRotation(
            n_workers, epoch, settings.info_rotation_interval_s, KeywordMatcher(settings.critical_keywords)
        )
        self._windows: dict[str, _Window] = {}
        self._closed: list[DedupSummary] = []

    def admit(self, worker: WorkerId, created: float, levelno: int, template: str, message: str) -> bool:
        """Return whether a record is written; count it under its reason when it is not.

        The caller counts the written records (per batch, which is cheaper).

        :param worker: the worker id of the process that logged it.
        :param created: the record's creation time (``time.time()`` in that process).
        :param levelno: the record's level.
        :param template: ``record.msg``.
        :param message: the formatted message.
        :return: ``True`` to write the record.
        """
        if levelno >= logging.ERROR:
            passed, reason = True, ""
        elif levelno >= logging.WARNING:
            passed, reason = self._admit_warning(worker, created, template, message), "dedup"
        elif levelno >= logging.INFO:
            passed, reason = self.rotation.passes(worker, created, template, message), "rotation"
        else:
            passed, reason = self._sampler.passes(template), "sampling"
        if not passed:
            self.counters.add(worker, reason)
        return passed

    def _admit_warning(self, worker: WorkerId, created: float, template: str, message: str) -> bool:
        if self._window_s <= 0:
            return True
        window = self._windows.get(template)
        if window is not None and created < window.start + self._window_s:
            window.n_repeats += 1
            window.workers[str(worker)] = None
            return False
        if window is not None:
            self._close(template, window)
        self._windows[template] = _Window(created, str(worker), message)
        return True

    def _close(self, template: str, window: _Window) -> None:
        del self._windows[template]
        if window.n_repeats:
            self._closed.append(
                DedupSummary(template, window.first_message, window.n_repeats, tuple(window.workers), self._window_s)
            )

    def expire(self, now: float) -> None:
        """Close every dedup window that ended before ``now``; their summaries wait in :meth:`take_summaries`.

        :param now: the current wall-clock time.
        """
        for template, window in list(self._windows.items()):
            if now >= window.start + self._window_s:
                self._close(template, window)

    def close_all(self) -> None:
        """Close every open dedup window (at shutdown)."""
        for template, window in list(self._windows.items()):
            self._close(template, window)

    def take_summaries(self) -> list[DedupSummary]:
        """Return and forget the summaries of the windows closed since the last call.

        :return: the summaries, oldest first.
        """
        closed, self._closed = self._closed, []
        return closed
