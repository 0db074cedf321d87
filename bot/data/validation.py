"""OHLCV validation: every check is vectorised and its error names the file, the first bad row and the problem.

Rows are numbered from 0 in file order (the first data row after a CSV header is row 0).
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt
import pandas as pd

from bot.errors import DataValidationError

logger = logging.getLogger(__name__)

#: The price/volume columns every OHLCV frame carries, as float64.
OHLCV_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")


def format_ms(ts_ms: int) -> str:
    """Render epoch milliseconds as an ISO UTC timestamp for messages."""
    return pd.Timestamp(int(ts_ms), unit="ms", tz="UTC").isoformat()


def format_span(ms: int) -> str:
    """Render a duration in milliseconds as the shortest exact unit (``5m``, ``1h``, ``90s``, ``1500ms``)."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)):
        if ms % size == 0 and ms != 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _fail(source: str, rows: npt.NDArray[np.intp], open_ms: npt.NDArray[np.int64], problem: str) -> None:
    first = int(rows[0])
    more = f" (and {rows.size - 1} more rows)" if rows.size > 1 else ""
    raise DataValidationError(
        f"{source}: row {first} (open_time {format_ms(int(open_ms[first]))}): {problem}{more};"
        " fix or re-download the file"
    )


def infer_bar_ms(open_ms: npt.NDArray[np.int64]) -> int | None:
    """The base bar length: the most common spacing between consecutive open times (None for < 2 rows)."""
    if open_ms.size < 2:
        return None
    values, counts = np.unique(np.diff(open_ms), return_counts=True)
    return int(values[np.argmax(counts)])


def check_order(source: str, open_ms: npt.NDArray[np.int64]) -> None:
    """Open times must be strictly increasing: no duplicates, no bars out of order.

    :raises DataValidationError: naming the first duplicate or out-of-order row.
    """
    diffs = np.diff(open_ms)
    dup = np.flatnonzero(diffs == 0) + 1
    if dup.size:
        _fail(source, dup, open_ms, "duplicate timestamp (same open time as the row before)")
    back = np.flatnonzero(diffs < 0) + 1
    if back.size:
        prev = format_ms(int(open_ms[back[0] - 1]))
        _fail(source, back, open_ms, f"timestamps not sorted (earlier than the row before, {prev}); sort oldest first")


def check_values(source: str, open_ms: npt.NDArray[np.int64], cols: dict[str, npt.NDArray[np.float64]]) -> None:
    """Prices must be finite and positive, high/low must bound open/close, volume finite and >= 0.

    :param cols: ``open high low close volume`` as float64 arrays of equal length.
    :raises DataValidationError: naming the first bad row, the column and the value.
    """
    for name in OHLCV_COLUMNS:
        bad = np.flatnonzero(~np.isfinite(cols[name]))
        if bad.size:
            value = float(cols[name][bad[0]])
            _fail(source, bad, open_ms, f"{name} is {value} (NaN or infinite values are not allowed)")
    for name in ("open", "high", "low", "close"):
        bad = np.flatnonzero(cols[name] <= 0)
        if bad.size:
            _fail(source, bad, open_ms, f"{name}={float(cols[name][bad[0]])!r} is not a positive price")
    o, h, low, c = cols["open"], cols["high"], cols["low"], cols["close"]
    bad = np.flatnonzero(h < np.maximum(o, c))
    if bad.size:
        i = bad[0]
        _fail(source, bad, open_ms, f"high={float(h[i])!r} is below max(open={float(o[i])!r}, close={float(c[i])!r})")
    bad = np.flatnonzero(low > np.minimum(o, c))
    if bad.size:
        i = bad[0]
        _fail(source, bad, open_ms, f"low={float(low[i])!r} is above min(open={float(o[i])!r}, close={float(c[i])!r})")
    bad = np.flatnonzero(cols["volume"] < 0)
    if bad.size:
        _fail(source, bad, open_ms, f"volume={float(cols['volume'][bad[0]])!r} is negative")


def check_spacing(source: str, open_ms: npt.NDArray[np.int64], bar_ms: int | None = None) -> int | None:
    """Every spacing must be a whole multiple of the base bar (a larger multiple is a gap, anything else is mixed data).

    :param bar_ms: the expected base bar length; None infers it as the most common spacing.
    :return: the base bar length in ms (None when there are fewer than 2 rows and ``bar_ms`` is None).
    :raises DataValidationError: naming the first row whose spacing is not a multiple of the base bar, or the
        file's spacing when it differs from ``bar_ms``.
    """
    inferred = infer_bar_ms(open_ms)
    if bar_ms is not None and inferred is not None and inferred != bar_ms:
        raise DataValidationError(
            f"{source}: bars are {format_span(inferred)} apart (most common spacing) but the base timeframe is"
            f" {format_span(bar_ms)}; set data.base_timeframe={format_span(inferred)} or use a"
            f" {format_span(bar_ms)} file"
        )
    base = bar_ms if bar_ms is not None else inferred
    if base is None:
        return None
    diffs = np.diff(open_ms)
    bad = np.flatnonzero(diffs % base != 0) + 1
    if bad.size:
        step = format_span(int(diffs[bad[0] - 1]))
        _fail(
            source,
            bad,
            open_ms,
            f"mixed bar spacing: {step} after the previous bar is not a multiple of the base bar"
            f" {format_span(base)}; keep one timeframe per file",
        )
    return base


def validate_ohlcv(frame: pd.DataFrame, source: str, bar_ms: int | None = None) -> int | None:
    """Run every check on a frame shaped like :func:`bot.data.load_ohlcv`'s result.

    :param frame: UTC DatetimeIndex of bar open times, float64 ``open high low close volume``.
    :param source: file name or label used in messages.
    :param bar_ms: expected base bar length in ms; None infers it.
    :return: the base bar length in ms (None for a single row without ``bar_ms``).
    :raises DataValidationError: on the first problem found, naming ``source``, the row and the problem.
    """
    missing = [c for c in OHLCV_COLUMNS if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"{source}: missing columns {missing}; expected {list(OHLCV_COLUMNS)} and a time column"
        )
    if frame.empty:
        raise DataValidationError(f"{source}: no rows; the file must hold at least one bar")
    open_ms = index_to_ms(frame.index)
    check_order(source, open_ms)
    check_values(source, open_ms, {c: frame[c].to_numpy(np.float64) for c in OHLCV_COLUMNS})
    return check_spacing(source, open_ms, bar_ms)


def index_to_ms(index: pd.Index) -> npt.NDArray[np.int64]:
    """int64 epoch milliseconds of a UTC DatetimeIndex of any resolution."""
    if not isinstance(index, pd.DatetimeIndex):
        raise DataValidationError(f"expected a DatetimeIndex of bar open times, got {type(index).__name__}")
    return np.asarray(index.as_unit("ms").asi8, dtype=np.int64)
