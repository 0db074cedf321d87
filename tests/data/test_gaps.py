"""Gap detection on the real Binance files and the three gap policies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.data import DataValidationError, find_gaps, load_ohlcv
from bot.data.gaps import apply_gap_policy, segment_ids
from tests.data.ohlcv_files import FIVE_MIN_MS, ohlcv_frame


def _gappy(missing: list[int], n: int = 40) -> pd.DataFrame:
    """A 5m frame with the rows at ``missing`` removed."""
    frame = ohlcv_frame(n)
    return frame.drop(frame.index[missing])


def test_real_2023_outage(btc_5m_path: Path) -> None:
    gaps = find_gaps(load_ohlcv(btc_5m_path), "5m")
    assert len(gaps) == 1
    gap = gaps[0]
    assert gap.n_missing == 16
    assert gap.prev_open == pd.Timestamp("2023-03-24 12:35", tz="UTC")
    assert gap.first_missing == pd.Timestamp("2023-03-24 12:40", tz="UTC")
    assert gap.next_open == pd.Timestamp("2023-03-24 14:00", tz="UTC")
    assert gap.describe() == "16 missing bars between 2023-03-24T12:35:00+00:00 and 2023-03-24T14:00:00+00:00"


def test_real_2023_1h_outage(btc_1h_path: Path) -> None:
    gaps = find_gaps(load_ohlcv(btc_1h_path))
    assert [(g.first_missing, g.n_missing) for g in gaps] == [(pd.Timestamp("2023-03-24 13:00", tz="UTC"), 1)]


def test_real_2017_2022_hourly_gaps(shared_data: Path) -> None:
    frame = load_ohlcv(shared_data / "binance_btcusdt_1h_2017_2022" / "BTC_USDT-1h.csv.gz")
    gaps = find_gaps(frame, "1h")
    # The data README says 28 gaps / 128 bars; the file itself holds 27 runs of 127 missing bars
    # (46981 bars present of 47108 hours from 2017-08-17 04:00 to 2022-12-31 23:00).
    expected_hours = (frame.index[-1] - frame.index[0]) / pd.Timedelta("1h") + 1
    assert sum(g.n_missing for g in gaps) == expected_hours - len(frame) == 127
    assert len(gaps) == 27
    largest = max(gaps, key=lambda g: g.n_missing)
    assert largest.n_missing == 33
    assert largest.first_missing.date() == pd.Timestamp("2018-02-08").date()
    assert all(frame.index[g.row] == g.next_open for g in gaps)


def test_no_gaps_and_inferred_timeframe() -> None:
    assert find_gaps(ohlcv_frame(30)) == []
    assert find_gaps(ohlcv_frame(30).index, FIVE_MIN_MS) == []


def test_find_gaps_rejects_unknown_timeframe() -> None:
    with pytest.raises(ValueError, match="unknown timeframe '7m'"):
        find_gaps(ohlcv_frame(5), "7m")


def test_segment_ids_split_at_every_gap() -> None:
    ms = np.array([0, 5, 10, 20, 25, 45], dtype=np.int64)
    np.testing.assert_array_equal(segment_ids(ms, 5), [0, 0, 0, 1, 1, 2])


def test_policy_segment_keeps_bars_and_splits() -> None:
    frame = _gappy([10, 11, 25])
    out, ids = apply_gap_policy(frame, FIVE_MIN_MS, "segment", 3, "f.csv")
    assert out is frame
    np.testing.assert_array_equal(np.bincount(ids), [10, 13, 14])


def test_policy_fail_names_the_gap_and_the_fix() -> None:
    frame = _gappy([10, 11, 25])
    with pytest.raises(
        DataValidationError,
        match=r"f\.csv: 2 gap\(s\) in the 5m bars, the first: 2 missing bars between 2023-01-01T00:45:00\+00:00 and"
        r" 2023-01-01T01:00:00\+00:00; set data\.gap_policy=segment",
    ):
        apply_gap_policy(frame, FIVE_MIN_MS, "fail", 3, "f.csv")


def test_policy_fail_passes_gap_free_data() -> None:
    frame = ohlcv_frame(20)
    out, ids = apply_gap_policy(frame, FIVE_MIN_MS, "fail", 3, "f.csv")
    assert out is frame and not ids.any()


def test_policy_ffill_fills_small_gaps_with_flat_bars_and_segments_large_ones() -> None:
    frame = _gappy([10, 11, *range(20, 26)])
    frame["signal"] = 0.5
    out, ids = apply_gap_policy(frame, FIVE_MIN_MS, "ffill", 3, "f.csv")
    assert len(out) == len(frame) + 2
    assert out.index.is_monotonic_increasing and out.index.is_unique
    filled = out.loc[frame.index[9] + pd.Timedelta("5m") : frame.index[10] - pd.Timedelta("5m")]
    assert len(filled) == 2
    prev_close = frame["close"].iloc[9]
    for column in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(filled[column].to_numpy(), prev_close)
    np.testing.assert_array_equal(filled["volume"].to_numpy(), 0.0)
    np.testing.assert_array_equal(filled["signal"].to_numpy(), 0.0)
    assert list(out.columns) == list(frame.columns)
    # the 6-bar gap is larger than max_ffill_bars=3: it still splits the series
    assert find_gaps(out, FIVE_MIN_MS)[0].n_missing == 6
    np.testing.assert_array_equal(np.bincount(ids), [20, 14])


def test_policy_ffill_with_zero_max_only_segments() -> None:
    frame = _gappy([10])
    out, ids = apply_gap_policy(frame, FIVE_MIN_MS, "ffill", 0, "f.csv")
    assert out is frame and ids[-1] == 1
