"""load_ohlcv: every file format and timestamp encoding gives the same canonical frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.data import DataValidationError, load_ohlcv
from bot.errors import DataError
from tests.data.ohlcv_files import FIVE_MIN_MS, START_MS, ohlcv_frame, raw_table, write_ohlcv, write_table

SUFFIXES = ["csv", "csv.gz", "parquet", "feather"]


def _assert_canonical(result: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert isinstance(result.index, pd.DatetimeIndex)
    assert str(result.index.dtype) == "datetime64[ms, UTC]"
    assert result.index.name == "open_time"
    assert list(result.columns[:5]) == ["open", "high", "low", "close", "volume"]
    assert all(result[c].dtype == np.float64 for c in result.columns)
    np.testing.assert_array_equal(result.index.asi8, expected.index.as_unit("ms").asi8)
    np.testing.assert_allclose(result[expected.columns].to_numpy(), expected.to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("time_format", ["ms", "s", "us", "ns", "iso"])
def test_every_format_and_time_encoding_loads(tmp_path: Path, suffix: str, time_format: str) -> None:
    frame = ohlcv_frame(40)
    path = write_ohlcv(frame, tmp_path / f"bars.{suffix}", time_format)
    _assert_canonical(load_ohlcv(path), frame)


@pytest.mark.parametrize("column", ["open_time", "timestamp", "time", "datetime", "date", "Timestamp"])
def test_time_column_names_are_detected(tmp_path: Path, column: str) -> None:
    frame = ohlcv_frame(10)
    path = write_ohlcv(frame, tmp_path / "bars.csv", "ms", time_column=column)
    _assert_canonical(load_ohlcv(path), frame)


def test_column_names_are_case_insensitive_and_extras_ignored(tmp_path: Path) -> None:
    frame = ohlcv_frame(10)
    table = raw_table(frame).rename(columns=str.upper)
    table["trades"] = 3
    result = load_ohlcv(write_table(table, tmp_path / "bars.csv"))
    _assert_canonical(result, frame)
    assert "trades" not in result.columns


def test_timestamp_column_preferred_over_date_text(tmp_path: Path) -> None:
    """The shared Binance files carry both an ms ``timestamp`` and an ISO ``date``; the first listed name wins."""
    frame = ohlcv_frame(10)
    table = raw_table(frame, "ms")
    table.insert(1, "date", "not a date")
    _assert_canonical(load_ohlcv(write_table(table, tmp_path / "bars.csv")), frame)


def test_parquet_with_datetime_index(tmp_path: Path) -> None:
    frame = ohlcv_frame(10)
    frame.index = frame.index.tz_convert("Europe/Berlin")
    path = tmp_path / "bars.parquet"
    frame.to_parquet(path)
    _assert_canonical(load_ohlcv(path), ohlcv_frame(10))


def test_naive_iso_text_is_utc(tmp_path: Path) -> None:
    frame = ohlcv_frame(5)
    table = raw_table(frame, "ms")
    table["timestamp"] = frame.index.strftime("%Y-%m-%d %H:%M:%S")
    _assert_canonical(load_ohlcv(write_table(table, tmp_path / "bars.csv")), frame)


def test_float_epoch_seconds(tmp_path: Path) -> None:
    frame = ohlcv_frame(5)
    table = raw_table(frame, "s")
    table["timestamp"] = table["timestamp"].astype(float)
    _assert_canonical(load_ohlcv(write_table(table, tmp_path / "bars.parquet")), frame)


def test_signal_column_passes_through(tmp_path: Path) -> None:
    frame = ohlcv_frame(10)
    frame["signal"] = np.linspace(-1, 1, 10)
    result = load_ohlcv(write_ohlcv(frame, tmp_path / "bars.feather"))
    np.testing.assert_allclose(result["signal"].to_numpy(), frame["signal"].to_numpy())


def test_real_binance_file(btc_5m_path: Path) -> None:
    df = load_ohlcv(btc_5m_path)
    assert df.index[0] == pd.Timestamp("2023-01-01", tz="UTC")
    assert df.index[-1] == pd.Timestamp("2023-12-30 23:55", tz="UTC")
    assert len(df) == 104_816
    assert df.index.as_unit("ms").asi8[1] - df.index.as_unit("ms").asi8[0] == FIVE_MIN_MS


def test_missing_file_names_path_and_fix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv.*not found.*fetch-data"):
        load_ohlcv(tmp_path / "nope.csv")


def test_unknown_suffix(tmp_path: Path) -> None:
    path = tmp_path / "bars.xlsx"
    path.write_text("x")
    with pytest.raises(DataError, match=r"unknown file type '\.xlsx'.*\.parquet"):
        load_ohlcv(path)


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(DataValidationError, match=r"bars\.parquet: cannot be read"):
        load_ohlcv(path)


def test_start_ms_constant_matches_first_row() -> None:
    assert ohlcv_frame(1).index[0] == pd.Timestamp(START_MS, unit="ms", tz="UTC")


def test_corrupt_gzip_csv(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv.gz"
    path.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DataValidationError, match=r"bars\.csv\.gz: cannot be read"):
        load_ohlcv(path)


def test_quoted_header_and_missing_columns_in_csv(tmp_path: Path) -> None:
    path = tmp_path / "quoted.csv"
    path.write_text('"timestamp","open","high","low","close","volume"\n1672531200000,1,2,0.5,1.5,10\n')
    assert load_ohlcv(path)["close"].iloc[0] == 1.5
    path.write_text("timestamp,open,close\n1672531200000,1,1.5\n")
    with pytest.raises(DataValidationError, match=r"quoted\.csv: missing columns \['high', 'low', 'volume'\]"):
        load_ohlcv(path)
