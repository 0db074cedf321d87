"""Small OHLCV frames and files for the data-layer tests (valid random walks, written in every supported format)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

START_MS = 1_672_531_200_000  # 2023-01-01T00:00:00Z
FIVE_MIN_MS = 300_000


def ohlcv_frame(n: int = 64, seed: int = 0, bar_ms: int = FIVE_MIN_MS, start_ms: int = START_MS) -> pd.DataFrame:
    """A valid random-walk OHLCV frame shaped like ``load_ohlcv``'s result (``datetime64[ms, UTC]`` open times)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.005, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.005, n))
    volume = rng.uniform(1.0, 10.0, n)
    ms = start_ms + bar_ms * np.arange(n, dtype=np.int64)
    index = pd.DatetimeIndex(ms.view("datetime64[ms]"), name="open_time").tz_localize("UTC")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index)


def raw_table(frame: pd.DataFrame, time_format: str = "ms", time_column: str = "timestamp") -> pd.DataFrame:
    """The frame as a raw file table: a time column encoded as ``ms``, ``s``, ``us``, ``ns`` or ``iso`` text."""
    ms = frame.index.as_unit("ms").asi8
    encoded: object
    if time_format == "iso":
        encoded = frame.index.strftime("%Y-%m-%dT%H:%M:%SZ")
    else:
        encoded = {"s": ms // 1000, "ms": ms, "us": ms * 1000, "ns": ms * 1_000_000}[time_format]
    table = frame.reset_index(drop=True)
    table.insert(0, time_column, encoded)
    return table


def write_table(table: pd.DataFrame, path: Path) -> Path:
    """Write a raw table as CSV (``.csv``/``.csv.gz``), Parquet or Feather, chosen by the suffix."""
    name = path.name
    if name.endswith((".csv", ".csv.gz")):
        table.to_csv(path, index=False)
    elif name.endswith(".parquet"):
        table.to_parquet(path, index=False)
    elif name.endswith(".feather"):
        table.reset_index(drop=True).to_feather(path)
    else:
        raise ValueError(f"unsupported test file suffix {name}")
    return path


def write_ohlcv(frame: pd.DataFrame, path: Path, time_format: str = "ms", time_column: str = "timestamp") -> Path:
    """Encode and write ``frame`` (see :func:`raw_table` and :func:`write_table`)."""
    return write_table(raw_table(frame, time_format, time_column), path)
