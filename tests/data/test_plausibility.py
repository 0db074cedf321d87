"""Plausibility checks on real candles: a single 100x spike, swapped volume and quote-volume columns, and a split at
a multi-day gap reported as a WARNING (which reaches the console)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from bot.config import PlausibilityConfig, load_config
from bot.data import load_ohlcv, market_from_frame
from bot.errors import DataValidationError
from tests.data.ohlcv_files import write_table

ERROR = PlausibilityConfig(action="error")


@pytest.fixture(scope="module")
def real_week(btc_5m_path: Path) -> pd.DataFrame:
    """A week of real BTC/USDT 5m candles (2016 bars) as a raw table with a consistent quote volume."""
    frame = load_ohlcv(btc_5m_path).loc["2023-05-01":"2023-05-07"]
    table = frame.reset_index(drop=True)
    table.insert(0, "timestamp", frame.index.as_unit("ms").asi8)
    table["quote_volume"] = table["volume"] * (table["high"] + table["low"] + table["close"]) / 3
    return table


def test_real_candles_are_plausible(real_week: pd.DataFrame, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        load_ohlcv(write_table(real_week, tmp_path / "week.csv"), ERROR)
    assert not caplog.records


def test_a_single_100x_spike_is_named_by_row(
    real_week: pd.DataFrame, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spiked = real_week.copy()
    spiked.loc[1000, ["high", "close"]] *= 100  # one bad tick: the close and the high of one bar
    spiked.loc[1000, "quote_volume"] *= 100
    path = write_table(spiked, tmp_path / "spike.csv")
    with caplog.at_level(logging.WARNING):
        load_ohlcv(path)  # the default: a warning, the file is still usable
    text = caplog.text
    assert "2 row(s) jump more than 200 robust sigmas" in text and "rows 1000 (2023-05-04T11:20:00+00:00), 1001" in text
    with pytest.raises(DataValidationError, match=r"spike.csv: 2 row\(s\) jump .* rows 1000 \(2023-05-04T11:20"):
        load_ohlcv(path, ERROR)
    assert not load_ohlcv(path, PlausibilityConfig(action="off")).empty


def test_a_spike_in_the_high_alone_is_found(real_week: pd.DataFrame, tmp_path: Path) -> None:
    wick = real_week.copy()
    wick.loc[500, "high"] *= 100
    with pytest.raises(DataValidationError, match=r"1 row\(s\) span a high-low range .* rows 500 "):
        load_ohlcv(write_table(wick, tmp_path / "wick.csv"), ERROR)


def test_swapped_volume_columns_are_found(real_week: pd.DataFrame, tmp_path: Path) -> None:
    swapped = real_week.copy()
    rows = slice(10, 1509)  # 1500 rows, as a broken export would leave them
    swapped.loc[rows, ["volume", "quote_volume"]] = swapped.loc[rows, ["quote_volume", "volume"]].to_numpy()
    expected = r"1500 row\(s\) have quote_volume / volume outside the bar's low..high \(row 10: .*swapped\?\): rows 10 "
    with pytest.raises(DataValidationError, match=expected):
        load_ohlcv(write_table(swapped, tmp_path / "swapped.parquet"), ERROR)


def test_a_multi_day_gap_is_a_warning(real_week: pd.DataFrame, caplog: pytest.LogCaptureFixture) -> None:
    cfg = load_config(None, ["data.timeframes=[5m]", "features.indicators=[log_return]"])
    index = pd.DatetimeIndex(pd.to_datetime(real_week["timestamp"], unit="ms", utc=True), name="open_time")
    week = real_week.drop(columns=["timestamp", "quote_volume"]).set_index(index)
    with caplog.at_level(logging.INFO):
        market_from_frame(pd.concat([week.iloc[:600], week.iloc[600 + 3 * 288 :]]), cfg, "gappy")  # 3 days missing
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Split gappy at 1 gap(s) of 1d or more" in warnings[0].getMessage()
    assert "864 missing bars" in warnings[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        market_from_frame(pd.concat([week.iloc[:100], week.iloc[112:]]), cfg, "short gap")  # an hour missing
    assert "Split short gap into 2 gap-free segments" in caplog.text  # INFO, in the log file only
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
