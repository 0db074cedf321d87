"""Every validation error names the file, the row/timestamp and the problem, in every file format."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.data import DataValidationError, load_ohlcv
from bot.data.validation import validate_ohlcv
from tests.data.ohlcv_files import FIVE_MIN_MS, ohlcv_frame, raw_table, write_table

Corruption = Callable[[pd.DataFrame], None]


def _set(column: str, row: int, value: object) -> Corruption:
    def corrupt(table: pd.DataFrame) -> None:
        if isinstance(value, str):  # a text cell makes the whole column text, as in a real file
            table[column] = table[column].astype(str)
        table.loc[row, column] = value

    return corrupt


def _swap_rows(a: int, b: int) -> Corruption:
    def corrupt(table: pd.DataFrame) -> None:
        table.iloc[[a, b]] = table.iloc[[b, a]].to_numpy()

    return corrupt


def _duplicate_time(row: int) -> Corruption:
    def corrupt(table: pd.DataFrame) -> None:
        table.loc[row, "timestamp"] = table.loc[row - 1, "timestamp"]

    return corrupt


def _shift_time(row: int, ms: int) -> Corruption:
    def corrupt(table: pd.DataFrame) -> None:
        table.loc[row:, "timestamp"] += ms

    return corrupt


def _high_below(row: int) -> Corruption:
    def corrupt(table: pd.DataFrame) -> None:
        table.loc[row, "high"] = max(table.loc[row, "open"], table.loc[row, "close"]) * 0.99

    return corrupt


def _low_above(row: int) -> Corruption:
    def corrupt(table: pd.DataFrame) -> None:
        table.loc[row, "low"] = min(table.loc[row, "open"], table.loc[row, "close"]) * 1.01

    return corrupt


# (id, corruption, regex the message must match); row 7 opens at 2023-01-01T00:35
CASES: list[tuple[str, Corruption, str]] = [
    ("duplicate", _duplicate_time(7), r"row 7 \(open_time 2023-01-01T00:30:00\+00:00\): duplicate timestamp"),
    ("unsorted", _swap_rows(7, 8), r"row 8 \(open_time 2023-01-01T00:35:00\+00:00\): timestamps not sorted"),
    ("nan", _set("close", 7, np.nan), r"row 7 \(open_time 2023-01-01T00:35:00\+00:00\): close is nan"),
    ("inf", _set("high", 7, np.inf), r"row 7 .*high is inf"),
    ("zero_price", _set("open", 7, 0.0), r"row 7 .*open=0\.0 is not a positive price"),
    ("negative_price", _set("low", 7, -1.0), r"row 7 .*low=-1\.0 is not a positive price"),
    ("high_below", _high_below(7), r"row 7 .*high=.* is below max\(open="),
    ("low_above", _low_above(7), r"row 7 .*low=.* is above min\(open="),
    ("negative_volume", _set("volume", 7, -5.0), r"row 7 .*volume=-5\.0 is negative"),
    ("mixed_spacing", _shift_time(7, 60_000), r"row 7 .*mixed bar spacing: 6m .* not a multiple of the base bar 5m"),
    ("not_a_number", _set("close", 7, "abc"), r"row 7 \(open_time 2023-01-01T00:35:00\+00:00\): close='abc' is not"),
    ("bad_time_text", _set("timestamp", 7, "yesterday"), r"row 7: timestamp='yesterday' is not a timestamp"),
]


@pytest.mark.parametrize("suffix", ["csv", "csv.gz", "parquet", "feather"])
@pytest.mark.parametrize(("case", "corrupt", "pattern"), CASES, ids=[c[0] for c in CASES])
def test_bad_file_is_rejected_with_file_row_and_problem(
    tmp_path: Path, suffix: str, case: str, corrupt: Corruption, pattern: str
) -> None:
    table = raw_table(ohlcv_frame(20), "ms")
    corrupt(table)
    path = write_table(table, tmp_path / f"bad_{case}.{suffix}")
    with pytest.raises(DataValidationError, match=re.escape(path.name) + ": " + pattern):
        load_ohlcv(path)


@pytest.mark.parametrize("time_format", ["s", "ns", "iso"])
def test_errors_name_the_timestamp_for_every_time_encoding(tmp_path: Path, time_format: str) -> None:
    table = raw_table(ohlcv_frame(20), time_format)
    table.loc[3, "volume"] = -1.0
    with pytest.raises(DataValidationError, match=r"row 3 \(open_time 2023-01-01T00:15:00\+00:00\): volume=-1\.0"):
        load_ohlcv(write_table(table, tmp_path / "bars.csv.gz"))


def test_missing_price_column_names_what_was_found(tmp_path: Path) -> None:
    table = raw_table(ohlcv_frame(5)).drop(columns=["low"])
    with pytest.raises(DataValidationError, match=r"bars\.csv: missing columns \['low'\]; found \['timestamp'"):
        load_ohlcv(write_table(table, tmp_path / "bars.csv"))


def test_missing_time_column(tmp_path: Path) -> None:
    table = raw_table(ohlcv_frame(5)).rename(columns={"timestamp": "when"})
    with pytest.raises(DataValidationError, match=r"missing columns \['a time column \(open_time/timestamp"):
        load_ohlcv(write_table(table, tmp_path / "bars.parquet"))


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("timestamp,open,high,low,close,volume\n")
    with pytest.raises(DataValidationError, match=r"empty\.csv: no rows"):
        load_ohlcv(path)


def test_error_counts_further_bad_rows(tmp_path: Path) -> None:
    table = raw_table(ohlcv_frame(20))
    table.loc[[4, 9, 12], "volume"] = -1.0
    with pytest.raises(DataValidationError, match=r"row 4 .*\(and 2 more rows\)"):
        load_ohlcv(write_table(table, tmp_path / "bars.csv"))


def test_gaps_are_not_validation_errors(tmp_path: Path) -> None:
    table = raw_table(ohlcv_frame(20)).drop(index=[5, 6, 7])
    assert len(load_ohlcv(write_table(table, tmp_path / "gappy.csv"))) == 17


def test_expected_base_timeframe_mismatch_names_the_fix() -> None:
    frame = ohlcv_frame(20, bar_ms=3_600_000)
    with pytest.raises(
        DataValidationError, match=r"bars are 1h apart .* base timeframe is 5m; set data.base_timeframe=1h"
    ):
        validate_ohlcv(frame, "hourly.csv", FIVE_MIN_MS)
    assert validate_ohlcv(frame, "hourly.csv") == 3_600_000
