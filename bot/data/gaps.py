"""Missing bars: find them, and apply ``data.gap_policy`` (segment, fail or ffill) so no feature spans a gap."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from bot.config import TIMEFRAME_MS
from bot.data.validation import format_span, index_to_ms, infer_bar_ms
from bot.errors import DataValidationError

logger = logging.getLogger(__name__)

GapPolicy = Literal["segment", "fail", "ffill"]


@dataclass(frozen=True, slots=True)
class Gap:
    """A run of missing bars between two present bars.

    :param prev_open: open time of the last bar before the gap.
    :param next_open: open time of the first bar after the gap.
    :param n_missing: number of missing bars (>= 1).
    :param row: row index of ``next_open`` in the frame the gap was found in.
    """

    prev_open: pd.Timestamp
    next_open: pd.Timestamp
    n_missing: int
    row: int

    @property
    def first_missing(self) -> pd.Timestamp:
        """Open time of the first missing bar."""
        return self.next_open - (self.next_open - self.prev_open) / (self.n_missing + 1) * self.n_missing

    def describe(self) -> str:
        """One line such as ``"16 missing bars between 2023-03-24T12:30:00+00:00 and 2023-03-24T14:00:00+00:00"``."""
        return f"{self.n_missing} missing bars between {self.prev_open.isoformat()} and {self.next_open.isoformat()}"


def _bar_ms(timeframe: str | int | None, open_ms: npt.NDArray[np.int64]) -> int:
    if isinstance(timeframe, str):
        if timeframe not in TIMEFRAME_MS:
            raise ValueError(f"unknown timeframe {timeframe!r}; expected one of {list(TIMEFRAME_MS)}")
        return TIMEFRAME_MS[timeframe]
    if timeframe is not None:
        return int(timeframe)
    inferred = infer_bar_ms(open_ms)
    if inferred is None:
        raise ValueError("cannot infer the bar length from fewer than 2 bars; pass the timeframe")
    return inferred


def find_gaps(data: pd.DataFrame | pd.DatetimeIndex, timeframe: str | int | None = None) -> list[Gap]:
    """List the runs of missing bars in a sorted series of bar open times.

    :param data: an OHLCV frame (its index is used) or a DatetimeIndex of bar open times, strictly increasing.
    :param timeframe: bar length as ``"5m"`` or milliseconds; None infers the most common spacing.
    :return: gaps in time order (empty when every bar is present).
    """
    index = data.index if isinstance(data, pd.DataFrame) else data
    open_ms = index_to_ms(index)
    bar_ms = _bar_ms(timeframe, open_ms)
    diffs = np.diff(open_ms)
    rows = np.flatnonzero(diffs > bar_ms) + 1
    times = pd.DatetimeIndex(index)
    return [Gap(times[r - 1], times[r], int(diffs[r - 1] // bar_ms) - 1, r) for r in rows.tolist()]


def segment_ids(open_ms: npt.NDArray[np.int64], bar_ms: int) -> npt.NDArray[np.int32]:
    """int32 [n] id of the gap-free run each bar belongs to: 0 up to the first gap, then 1, ...

    :param open_ms: int64 [n] strictly increasing bar open times in ms.
    :param bar_ms: base bar length in ms.
    """
    breaks = np.zeros(open_ms.shape[0], dtype=np.int32)
    breaks[1:] = np.diff(open_ms) > bar_ms
    return np.cumsum(breaks, dtype=np.int32)


def _fill_small_gaps(frame: pd.DataFrame, gaps: list[Gap], bar_ms: int) -> pd.DataFrame:
    """Insert flat, zero-volume bars at the previous close into each of ``gaps``."""
    open_ms = index_to_ms(frame.index)
    new_ms = np.concatenate([open_ms[g.row - 1] + bar_ms * np.arange(1, g.n_missing + 1, dtype=np.int64) for g in gaps])
    prev_row = np.concatenate([np.full(g.n_missing, g.row - 1) for g in gaps])
    close = frame["close"].to_numpy()[prev_row]
    filled = {c: close for c in ("open", "high", "low", "close")}
    extra = {c: np.zeros(new_ms.size) for c in frame.columns if c not in filled}
    index = pd.DatetimeIndex(new_ms.view("datetime64[ms]"), name="open_time").tz_localize("UTC")
    inserted = pd.DataFrame({**filled, **extra}, index=index)[list(frame.columns)]
    return pd.concat([frame, inserted]).sort_index(kind="stable")


def apply_gap_policy(
    frame: pd.DataFrame,
    bar_ms: int,
    policy: GapPolicy,
    max_ffill_bars: int,
    source: str,
    warn_gap_ms: int | None = None,
) -> tuple[pd.DataFrame, npt.NDArray[np.int32]]:
    """Handle missing bars per ``data.gap_policy``.

    :param frame: validated OHLCV frame (see :func:`bot.data.load_ohlcv`).
    :param bar_ms: base bar length in ms.
    :param policy: ``segment`` keeps the bars and splits at each gap; ``fail`` raises on the first gap; ``ffill``
        fills gaps of at most ``max_ffill_bars`` bars with flat zero-volume bars at the previous close (any ``signal``
        column is 0 there) and splits at the larger ones.
    :param max_ffill_bars: largest gap (in bars) that ``ffill`` fills.
    :param source: file name or label for messages.
    :param warn_gap_ms: gaps this long (ms from the last bar before to the first bar after) or longer are a WARNING,
        which reaches the console: whole days missing usually mean a broken download; None never warns.
    :return: the (possibly filled) frame and its int32 segment ids.
    :raises DataValidationError: under ``fail``, naming the first gap and the number of gaps.
    """
    gaps = find_gaps(frame, bar_ms)
    if gaps and policy == "fail":
        raise DataValidationError(
            f"{source}: {len(gaps)} gap(s) in the {format_span(bar_ms)} bars, the first: {gaps[0].describe()};"
            " set data.gap_policy=segment (split at gaps) or ffill (fill gaps up to data.max_ffill_bars)"
        )
    if gaps and policy == "ffill":
        small = [g for g in gaps if g.n_missing <= max_ffill_bars]
        if small:
            frame = _fill_small_gaps(frame, small, bar_ms)
            n_bars = sum(g.n_missing for g in small)
            logger.info("Filled %d gap(s) (%d bars) with flat bars in %s", len(small), n_bars, source)
    ids = segment_ids(index_to_ms(frame.index), bar_ms)
    if ids.size and ids[-1] > 0:
        largest = max(gaps, key=lambda g: g.n_missing)
        long_gaps = [g for g in gaps if warn_gap_ms is not None and (g.n_missing + 1) * bar_ms >= warn_gap_ms]
        if long_gaps:
            logger.warning(
                "Split %s at %d gap(s) of %s or more (largest: %s); episodes never span a gap, but check the data",
                source,
                len(long_gaps),
                format_span(warn_gap_ms or 0),
                largest.describe(),
            )
        logger.info("Split %s into %d gap-free segments; largest gap: %s", source, int(ids[-1]) + 1, largest.describe())
    return frame, ids
