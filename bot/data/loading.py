"""``load_ohlcv``: read CSV (plain or gzip), Parquet or Feather candles into one validated frame shape.

The time column (``open_time``, ``timestamp``, ``time``, ``datetime`` or ``date``, or a DatetimeIndex) may hold epoch
seconds, milliseconds, microseconds or nanoseconds, or ISO text; the unit is detected from the magnitude.
"""

from __future__ import annotations

import csv
import gzip
import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.feather as pa_feather
import pyarrow.parquet as pa_parquet

from bot.config import PlausibilityConfig
from bot.data.plausibility import check_plausibility
from bot.data.validation import OHLCV_COLUMNS, validate_ohlcv
from bot.errors import DataError, DataValidationError

logger = logging.getLogger(__name__)

#: Accepted names of the bar-open-time column, in order of preference.
TIME_COLUMNS: tuple[str, ...] = ("open_time", "timestamp", "time", "datetime", "date")
#: Optional float columns carried through when present (``signal``: the synthetic generator's planted signal).
EXTRA_COLUMNS: tuple[str, ...] = ("signal",)
#: Accepted names of a quote-currency volume column: read only for the plausibility check, not carried through.
QUOTE_VOLUME_COLUMNS: tuple[str, ...] = ("quote_volume", "quote_asset_volume", "quote_av", "turnover", "amount")

_CSV_SUFFIXES = (".csv", ".csv.gz", ".txt", ".txt.gz")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_FEATHER_SUFFIXES = (".feather", ".ftr", ".arrow")
#: (upper bound of |epoch| read from the largest value, unit, milliseconds per unit): seconds reach ~1e10 by 2286.
_UNIT_LIMITS: tuple[tuple[float, str, float], ...] = (
    (1e11, "s", 1_000.0),
    (1e14, "ms", 1.0),
    (1e17, "us", 1e-3),
    (np.inf, "ns", 1e-6),
)


def load_ohlcv(path: str | Path, plausibility: PlausibilityConfig | None = None) -> pd.DataFrame:
    """Load and validate an OHLCV file, then check that its candles are plausible (see :mod:`bot.data.plausibility`).

    :param path: ``.csv``, ``.csv.gz``, ``.parquet`` or ``.feather`` file with ``open high low close volume`` columns
        (any case) and a time column of bar OPEN times.
    :param plausibility: the ``data.plausibility`` settings; None uses the defaults (findings are WARNINGs).
    :return: DataFrame with a ``datetime64[ms, UTC]`` index named ``open_time`` (bar open times, strictly increasing)
        and float64 ``open high low close volume`` columns, plus a float64 ``signal`` column when the file has one.
    :raises DataError: when the file is missing or its format is unknown.
    :raises DataValidationError: naming the file, the row/timestamp and the problem (missing columns, unparsable or
        unsorted or duplicate timestamps, NaN/inf, non-positive prices, high/low not bounding open/close, negative
        volume, mixed bar spacing).
    """
    file = Path(path)
    if not file.is_file():
        raise DataError(
            f"OHLCV file {str(file)!r} not found; check data.path or fetch data with `python -m bot fetch-data`"
        )
    frame = _read_table(file).to_pandas()
    source = str(file)
    result = ohlcv_from_frame(frame, source)
    validate_ohlcv(result, source)
    quote_volume = _quote_volume(frame, source, pd.DatetimeIndex(result.index))
    check_plausibility(result, source, plausibility or PlausibilityConfig(), quote_volume)
    logger.debug("Loaded %d bars from %s", len(result), source)
    return result


def _quote_volume(frame: pd.DataFrame, source: str, index: pd.DatetimeIndex) -> npt.NDArray[np.float64] | None:
    """The file's quote-volume column as float64, in row order, or None when it has none."""
    columns = {str(c).strip().lower(): c for c in reversed(frame.columns.tolist())}
    name = next((c for c in QUOTE_VOLUME_COLUMNS if c in columns), None)
    return None if name is None else _to_float(frame[columns[name]], source, name, index)


def _read_table(file: Path) -> pa.Table:
    name = file.name.lower()
    try:
        if name.endswith(_CSV_SUFFIXES):
            wanted = _wanted_csv_columns(file)
            if wanted is None:
                return pa_csv.read_csv(file)
            return pa_csv.read_csv(file, convert_options=pa_csv.ConvertOptions(include_columns=wanted))
        if name.endswith(_PARQUET_SUFFIXES):
            return pa_parquet.read_table(file)
        if name.endswith(_FEATHER_SUFFIXES):
            return pa_feather.read_table(file)
    except (ValueError, OSError) as e:  # pyarrow's ArrowInvalid and text decoding errors are ValueErrors
        raise DataValidationError(f"{file}: cannot be read as {file.suffix} data: {e}") from e
    raise DataError(f"{file}: unknown file type {file.suffix!r}; use .csv, .csv.gz, .parquet or .feather")


def _wanted_csv_columns(file: Path) -> list[str] | None:
    """Header names of the columns we use, so pyarrow skips parsing the rest (e.g. a second, ISO ``date``
    column); None (read everything, and report what is missing later) when the header lacks any of them."""
    opener = gzip.open if file.name.lower().endswith(".gz") else open
    with opener(file, "rt", encoding="utf-8", newline="") as fh:
        header = next(csv.reader([fh.readline()]), [])
    by_name = {h.strip().lower(): h for h in reversed(header)}
    time_name = next((c for c in TIME_COLUMNS if c in by_name), None)
    if time_name is None or any(c not in by_name for c in OHLCV_COLUMNS):
        return None
    extra = (c for c in (*EXTRA_COLUMNS, *QUOTE_VOLUME_COLUMNS) if c in by_name)
    keep = (time_name, *OHLCV_COLUMNS, *extra)
    return [by_name[c] for c in keep]


def ohlcv_from_frame(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Turn a raw table (any column case, any time encoding) into the canonical OHLCV frame, without validation.

    :param frame: raw rows in file order; the time is a column or a DatetimeIndex.
    :param source: file name used in messages.
    :return: canonical frame (see :func:`load_ohlcv`), not yet validated.
    :raises DataValidationError: for a missing time or price column, or a cell that is not a number / time.
    """
    if isinstance(frame.index, pd.DatetimeIndex):
        frame = frame.reset_index(names=frame.index.name or "open_time")
    columns = {str(c).strip().lower(): c for c in reversed(frame.columns.tolist())}
    missing = [c for c in OHLCV_COLUMNS if c not in columns]
    time_name = next((c for c in TIME_COLUMNS if c in columns), None)
    if missing or time_name is None:
        need = missing + ([] if time_name else [f"a time column ({'/'.join(TIME_COLUMNS)})"])
        raise DataValidationError(
            f"{source}: missing columns {need}; found {[str(c) for c in frame.columns]}"
            f" (expected {'/'.join(TIME_COLUMNS)} + {', '.join(OHLCV_COLUMNS)})"
        )
    index = parse_open_times(frame[columns[time_name]], source, time_name)
    data = {
        name: _to_float(frame[columns[name]], source, name, index)
        for name in (*OHLCV_COLUMNS, *(c for c in EXTRA_COLUMNS if c in columns))
    }
    return pd.DataFrame(data, index=index, copy=False)


def _to_float(column: pd.Series, source: str, name: str, index: pd.DatetimeIndex) -> npt.NDArray[np.float64]:
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    coerced = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.flatnonzero(np.isnan(coerced) & column.notna().to_numpy())
    if bad.size:
        row = int(bad[0])
        raise DataValidationError(
            f"{source}: row {row} (open_time {index[row].isoformat()}): {name}={column.iloc[row]!r} is not a number;"
            " fix or re-download the file"
        )
    return coerced


def parse_open_times(column: pd.Series, source: str, name: str = "open_time") -> pd.DatetimeIndex:
    """Parse bar open times given as epoch s/ms/us/ns numbers, datetimes or ISO text into a UTC index.

    :param column: the raw time values in file order.
    :param source: file name used in messages.
    :param name: the column's name, for messages.
    :return: ``datetime64[ms, UTC]`` index named ``open_time``.
    :raises DataValidationError: naming the first empty or unparsable time.
    """
    if isinstance(column.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(column.dtype):
        times = pd.DatetimeIndex(column)
        times = times.tz_localize("UTC") if times.tz is None else times.tz_convert("UTC")
    elif pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        times = _from_epoch(column.to_numpy(dtype=np.float64, na_value=np.nan), column, source, name)
    else:
        as_numbers = pd.to_numeric(column, errors="coerce")
        if as_numbers.notna().mean() >= 0.5:  # epoch numbers stored as text, with a few bad cells
            times = _from_epoch(as_numbers.to_numpy(dtype=np.float64, na_value=np.nan), as_numbers, source, name)
        else:
            times = pd.DatetimeIndex(pd.to_datetime(column, utc=True, format="ISO8601", errors="coerce"))
    bad = np.flatnonzero(times.isna())
    if bad.size:
        row = int(bad[0])
        raise DataValidationError(
            f"{source}: row {row}: {name}={column.iloc[row]!r} is not a timestamp (expected epoch s/ms/us/ns or ISO"
            " text such as 2023-01-01T00:00:00Z); fix or re-download the file"
        )
    return pd.DatetimeIndex(times.as_unit("ms"), name="open_time")


def _from_epoch(values: npt.NDArray[np.float64], column: pd.Series, source: str, name: str) -> pd.DatetimeIndex:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return pd.DatetimeIndex(np.full(values.size, np.datetime64("NaT"), "datetime64[ms]"), tz="UTC")
    peak = float(np.abs(finite).max())
    unit, ms_per_unit = next((u, f) for limit, u, f in _UNIT_LIMITS if peak < limit)
    logger.debug("%s: %s holds epoch %s", source, name, unit)
    if pd.api.types.is_integer_dtype(column.dtype):
        raw = column.to_numpy(dtype=np.int64)
        ms = raw * np.int64(ms_per_unit) if ms_per_unit >= 1 else raw // np.int64(round(1 / ms_per_unit))
        return pd.DatetimeIndex(ms.view("datetime64[ms]")).tz_localize("UTC")
    ms_float = np.rint(values * ms_per_unit)
    return pd.DatetimeIndex(pd.to_datetime(ms_float, unit="ms", utc=True)).as_unit("ms")
