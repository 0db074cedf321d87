"""Chronological train / validation / test splits and walk-forward folds, with embargo gaps between them.

Ranges are half-open row ranges ``[start, stop)`` of the base bars; a later range always starts after an earlier one
ends plus the embargo, so no bar is in two ranges and no test bar precedes a training bar.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from bot.config import SplitsConfig, WalkForwardConfig
from bot.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

SPLIT_NAMES: tuple[str, ...] = ("train", "validation", "test")


class Fold(NamedTuple):
    """One walk-forward fold: ``train`` rows, then ``embargo`` skipped rows, then ``test`` rows."""

    train: range
    test: range


def _date_ms(value: str, key: str) -> int:
    try:
        ts = pd.Timestamp(value)
    except ValueError as e:
        raise ConfigError(f"{key}={value!r} is not an ISO date; use e.g. 2023-09-01") from e
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 1_000_000)  # Timestamp.value is in ns whatever the unit


def _boundaries(n: int, cfg: SplitsConfig, open_time_ms: npt.NDArray[np.int64] | None) -> tuple[int, int]:
    """Rows where validation and test begin (before embargo)."""
    if cfg.method == "fraction":
        return int(n * cfg.train_fraction), int(n * (cfg.train_fraction + cfg.validation_fraction))
    if open_time_ms is None:
        raise ValueError("splits.method=date needs the bars' open times")
    assert cfg.train_end is not None and cfg.validation_end is not None  # guaranteed by SplitsConfig
    train_end = _date_ms(cfg.train_end, "splits.train_end")
    validation_end = _date_ms(cfg.validation_end, "splits.validation_end")
    if train_end > validation_end:
        raise ConfigError(
            f"splits.train_end={cfg.train_end!r} is after splits.validation_end={cfg.validation_end!r};"
            " validation must end after it begins"
        )
    a, b = np.searchsorted(open_time_ms, [train_end, validation_end], side="left")
    return int(a), int(b)


def split_ranges(n_rows: int, cfg: SplitsConfig, open_time_ms: npt.NDArray[np.int64] | None = None) -> dict[str, range]:
    """Chronological train / validation / test row ranges.

    By fraction, train is the first ``train_fraction`` of the rows and validation the next ``validation_fraction``;
    by date, validation starts at the first bar opening at or after ``train_end`` and test at ``validation_end``.
    ``embargo_bars`` rows are dropped at the start of validation and of test.

    :param n_rows: number of base bars.
    :param cfg: the ``splits`` config section.
    :param open_time_ms: int64 [n_rows] bar open times (needed for ``method=date``).
    :return: ``{"train": range, "validation": range, "test": range}``; validation may be empty.
    :raises DataError: when train or test ends up empty, naming the sizes and the settings to change.
    :raises ConfigError: for unparsable or inverted split dates.
    """
    a, b = _boundaries(n_rows, cfg, open_time_ms)
    e = cfg.embargo_bars
    validation = range(min(a + e, b), b)
    test_start = b + e if len(validation) else a + e
    test = range(min(test_start, n_rows), n_rows)
    ranges = {"train": range(0, a), "validation": validation, "test": test}
    empty = [name for name in ("train", "test") if len(ranges[name]) == 0]
    if empty:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in ranges.items())
        raise DataError(
            f"split(s) {empty} would be empty ({sizes} rows of {n_rows}, embargo {e}); use more data, smaller"
            " splits.embargo_bars, or other splits.train_fraction/validation_fraction (or train_end/validation_end)"
        )
    logger.debug("Splits: %s", {k: (v.start, v.stop) for k, v in ranges.items()})
    return ranges


def walk_forward_folds(n_rows: int, cfg: WalkForwardConfig, start: int = 0) -> list[Fold]:
    """Consecutive walk-forward folds over rows ``[start, start + n_rows)``.

    The rows are cut into ``n_folds`` equal consecutive blocks (the last takes the remainder). In each block the last
    ``test_fraction`` is the test window and the rows before it, less ``embargo_bars``, the training window. Folds
    do not overlap, and each fold's training rows precede its test rows by more than the embargo.

    :param n_rows: rows to fold.
    :param cfg: the ``splits.walk_forward`` config section.
    :param start: first row.
    :return: ``cfg.n_folds`` folds in time order.
    :raises DataError: when a fold's training or test window would be empty.
    """
    size = n_rows // cfg.n_folds
    folds = []
    for i in range(cfg.n_folds):
        lo = start + i * size
        hi = start + n_rows if i == cfg.n_folds - 1 else lo + size
        test_len = round((hi - lo) * cfg.test_fraction)
        test = range(hi - test_len, hi)
        train = range(lo, max(lo, test.start - cfg.embargo_bars))
        if len(train) == 0 or len(test) == 0:
            raise DataError(
                f"walk-forward fold {i} of {cfg.n_folds} over {n_rows} rows has {len(train)} train and {len(test)}"
                f" test rows (embargo {cfg.embargo_bars}); use fewer splits.walk_forward.n_folds, a smaller"
                " embargo_bars, or more data"
            )
        folds.append(Fold(train, test))
    return folds
