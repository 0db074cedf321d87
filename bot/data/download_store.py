"""Parquet candle store of the downloader: file naming, atomic writes, and which bars are still missing.

A file holds one symbol and timeframe: an int64 ``timestamp`` column (bar OPEN time, UTC milliseconds, sorted, unique)
and float64 ``open high low close volume`` columns, the layout :func:`bot.data.load_ohlcv` reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pa_parquet

from bot.atomic import atomic_path
from bot.errors import DataError

#: Column layout of a stored file.
COLUMNS: tuple[str, ...] = ("timestamp", "open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class BarRange:
    """Bars whose open time lies in ``[start_ms, stop_ms)``, UTC milliseconds, on a grid of ``bar_ms``."""

    start_ms: int
    stop_ms: int
    bar_ms: int

    @property
    def n_bars(self) -> int:
        """Number of bars in the range."""
        return (self.stop_ms - self.start_ms) // self.bar_ms


def ohlcv_path(out_dir: str | Path, exchange_id: str, symbol: str, timeframe: str) -> Path:
    """Where a download is stored: ``<out_dir>/<exchange>/<SYMBOL_with_underscores>-<tf>.parquet``.

    ``BTC/USDT`` becomes ``BTC_USDT``; a derivative ``BTC/USDT:USDT`` becomes ``BTC_USDT_USDT``.
    """
    name = symbol.upper().replace("/", "_").replace(":", "_")
    return Path(out_dir) / exchange_id / f"{name}-{timeframe}.parquet"


def empty_frame() -> pd.DataFrame:
    """An empty frame in the stored layout."""
    return pd.DataFrame(
        {c: np.empty(0, dtype=np.int64 if c == "timestamp" else np.float64) for c in COLUMNS}, columns=list(COLUMNS)
    )


def read_stored(path: Path, bar_ms: int) -> pd.DataFrame:
    """Read a file written by :func:`write_atomic` (an empty frame when it does not exist).

    :param path: the Parquet file.
    :param bar_ms: expected bar spacing; every timestamp must lie on this grid.
    :return: frame in the stored layout, sorted by ``timestamp``.
    :raises DataError: the file is unreadable, lacks columns, or holds bars off the timeframe's grid.
    """
    if not path.exists():
        return empty_frame()
    try:
        frame = pa_parquet.read_table(path).to_pandas()
    except (pa.ArrowInvalid, OSError) as e:
        raise DataError(f"{path}: existing download cannot be read ({e}); delete it and fetch again") from e
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: existing file lacks columns {missing} (expected {', '.join(COLUMNS)});"
            " it was not written by fetch-data: move it away or choose another --out-dir"
        )
    frame = frame.loc[:, list(COLUMNS)].astype({c: np.float64 for c in COLUMNS[1:]} | {"timestamp": np.int64})
    off_grid = frame["timestamp"].to_numpy() % bar_ms != 0
    if off_grid.any():
        ts = int(frame["timestamp"].to_numpy()[off_grid][0])
        raise DataError(
            f"{path}: bar at timestamp {ts} is not on the {bar_ms} ms grid of this timeframe;"
            " the file belongs to another timeframe: delete it or choose another --out-dir"
        )
    return frame.sort_values("timestamp", kind="stable").reset_index(drop=True)


def merge(stored: pd.DataFrame, rows: list[list[float]]) -> pd.DataFrame:
    """Merge freshly fetched ``[ts, o, h, l, c, v]`` rows into ``stored``; a fetched bar wins over a stored one."""
    if not rows:
        return stored
    fresh = pd.DataFrame(np.asarray(rows, dtype=np.float64), columns=list(COLUMNS))
    fresh["timestamp"] = fresh["timestamp"].astype(np.int64)
    both = pd.concat([stored, fresh], ignore_index=True) if len(stored) else fresh
    both = both.drop_duplicates("timestamp", keep="last")
    return both.sort_values("timestamp", kind="stable").reset_index(drop=True)


def write_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` through a temp file in the same folder and a rename (never half-written).

    :param frame: frame in the stored layout.
    :param path: destination; its folder is created.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        pa_parquet.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)


def missing_ranges(timestamps: npt.NDArray[np.int64], wanted: BarRange) -> list[BarRange]:
    """The runs of bars inside ``wanted`` that ``timestamps`` lacks (leading, trailing and holes in the middle).

    :param timestamps: int64 stored bar open times (any order).
    :param wanted: the bars that should exist.
    :return: maximal gap-free runs of missing bars, oldest first.
    """
    grid = np.arange(wanted.start_ms, wanted.stop_ms, wanted.bar_ms, dtype=np.int64)
    absent = grid[~np.isin(grid, timestamps)]
    if absent.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(absent) != wanted.bar_ms) + 1
    starts = absent[np.concatenate(([0], breaks))]
    ends = absent[np.concatenate((breaks - 1, [absent.size - 1]))]
    return [BarRange(int(a), int(b) + wanted.bar_ms, wanted.bar_ms) for a, b in zip(starts, ends, strict=True)]
