"""Resampling against a hand computation, and property tests of the close-time alignment rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import TIMEFRAME_MS
from bot.data import align_to_base, load_ohlcv, resample_ohlcv
from bot.data.resample import Bars, resample_bars
from tests.data.ohlcv_files import FIVE_MIN_MS, START_MS, ohlcv_frame

HOUR_MS = TIMEFRAME_MS["1h"]


def test_hand_computed_5m_to_15m() -> None:
    index = pd.date_range("2023-01-01 00:00", periods=7, freq="5min", tz="UTC", name="open_time")
    frame = pd.DataFrame(
        {
            "open": [10.0, 11, 12, 13, 14, 15, 16],
            "high": [12.0, 15, 13, 14, 20, 16, 17],
            "low": [9.0, 10, 8, 12, 13, 11, 15],
            "close": [11.0, 12, 13, 14, 15, 16, 16.5],
            "volume": [1.0, 2, 3, 4, 5, 6, 7],
        },
        index=index,
    )
    out = resample_ohlcv(frame, "15m", "5m")
    # 00:00 = rows 0-2, 00:15 = rows 3-5; 00:30 has 1 of 3 bars: incomplete, dropped
    assert list(out.index) == [pd.Timestamp("2023-01-01 00:00", tz="UTC"), pd.Timestamp("2023-01-01 00:15", tz="UTC")]
    assert out.index.name == "open_time"
    np.testing.assert_array_equal(out["open"], [10, 13])
    np.testing.assert_array_equal(out["high"], [15, 20])
    np.testing.assert_array_equal(out["low"], [8, 11])
    np.testing.assert_array_equal(out["close"], [13, 16])
    np.testing.assert_array_equal(out["volume"], [6, 15])


def test_real_5m_to_1h_matches_binance_1h(btc_5m_path: Path, btc_1h_path: Path) -> None:
    """Our 1h bars built from 5m equal Binance's own 1h candles wherever the hour is complete."""
    ours = resample_ohlcv(load_ohlcv(btc_5m_path), "1h")
    theirs = load_ohlcv(btc_1h_path).reindex(ours.index)
    assert len(ours) == 8734  # 8760 hours - the 2023-03-24 outage hours - Dec 31 (5m file ends Dec 30)
    assert not ours.index.isin([pd.Timestamp("2023-03-24 12:00", tz="UTC")]).any()  # 12:40-13:55 missing
    for column in ("open", "high", "low", "close"):
        np.testing.assert_allclose(ours[column], theirs[column], rtol=1e-12)
    np.testing.assert_allclose(ours["volume"], theirs["volume"], rtol=1e-6)


def test_chained_timeframes_agree() -> None:
    """5m -> 4h equals 5m -> 1h -> 4h, and 1h -> 4h -> 1d equals 1h -> 1d."""
    frame = ohlcv_frame(12 * 24 * 3 + 7)
    direct = resample_ohlcv(frame, "4h", "5m")
    via_1h = resample_ohlcv(resample_ohlcv(frame, "1h", "5m"), "4h", "1h")
    pd.testing.assert_frame_equal(direct, via_1h)
    hourly = ohlcv_frame(24 * 5, bar_ms=HOUR_MS)
    pd.testing.assert_frame_equal(
        resample_ohlcv(resample_ohlcv(hourly, "4h", "1h"), "1d", "4h"), resample_ohlcv(hourly, "1d", "1h")
    )


def test_rejects_bad_timeframes() -> None:
    with pytest.raises(ValueError, match="unknown timeframe '3h'"):
        resample_ohlcv(ohlcv_frame(10), "3h")
    with pytest.raises(ValueError, match="not a multiple of the base bar"):
        resample_bars(Bars.from_frame(ohlcv_frame(10)), 7 * 60_000, HOUR_MS)


@st.composite
def gappy_bars(draw: st.DrawFn) -> tuple[Bars, int]:
    """Random 5m bars starting at a random offset, with random gaps; returns the bars and a higher timeframe."""
    n = draw(st.integers(1, 300))
    steps = draw(st.lists(st.sampled_from([1, 1, 1, 1, 2, 5, 13]), min_size=n, max_size=n))
    offset = draw(st.integers(0, 500))
    open_ms = START_MS + FIVE_MIN_MS * (offset + np.cumsum(steps, dtype=np.int64))
    seed = draw(st.integers(0, 2**16))
    frame = ohlcv_frame(n, seed=seed)
    frame.index = pd.DatetimeIndex(open_ms.view("datetime64[ms]"), name="open_time").tz_localize("UTC")
    tf = draw(st.sampled_from(["15m", "1h", "4h"]))
    return Bars.from_frame(frame), TIMEFRAME_MS[tf]


@settings(max_examples=60, deadline=None)
@given(gappy_bars())
def test_resampled_bars_aggregate_exactly_their_complete_buckets(case: tuple[Bars, int]) -> None:
    bars, tf_ms = case
    out = resample_bars(bars, FIVE_MIN_MS, tf_ms)
    per_bar = tf_ms // FIVE_MIN_MS
    for j, start in enumerate(out.open_ms.tolist()):
        assert start % tf_ms == 0
        inside = (bars.open_ms >= start) & (bars.open_ms < start + tf_ms)
        assert inside.sum() == per_bar
        rows = np.flatnonzero(inside)
        assert out.high[j] == bars.high[rows].max()
        assert out.low[j] == bars.low[rows].min()
        assert out.open[j] == bars.open[rows[0]] and out.close[j] == bars.close[rows[-1]]
        assert out.volume[j] == pytest.approx(bars.volume[rows].sum())
    # every complete bucket is present
    buckets, counts = np.unique(bars.open_ms // tf_ms, return_counts=True)
    np.testing.assert_array_equal(out.open_ms, buckets[counts == per_bar] * tf_ms)


def _aligned(bars: Bars, tf_ms: int) -> tuple[Bars, npt.NDArray[np.float64]]:
    htf = resample_bars(bars, FIVE_MIN_MS, tf_ms)
    return htf, align_to_base(bars.open_ms, FIVE_MIN_MS, htf.open_ms, tf_ms, np.arange(len(htf), dtype=np.float64))


@settings(max_examples=60, deadline=None)
@given(gappy_bars())
def test_higher_bar_never_visible_before_its_close(case: tuple[Bars, int]) -> None:
    bars, tf_ms = case
    htf, shown = _aligned(bars, tf_ms)
    base_close = bars.open_ms + FIVE_MIN_MS
    for t in range(len(bars)):
        closed = np.flatnonzero(htf.open_ms + tf_ms <= base_close[t])
        if closed.size == 0:
            assert np.isnan(shown[t])
        else:
            # the latest closed higher bar is shown, and it closed no later than row t's close
            assert shown[t] == closed[-1]
            assert htf.open_ms[int(shown[t])] + tf_ms <= base_close[t]


@settings(max_examples=60, deadline=None)
@given(gappy_bars())
def test_aligned_values_change_only_at_higher_bar_closes(case: tuple[Bars, int]) -> None:
    bars, tf_ms = case
    htf, shown = _aligned(bars, tf_ms)
    filled = np.nan_to_num(shown, nan=-1.0)
    for t in (np.flatnonzero(np.diff(filled) != 0) + 1).tolist():
        # the newly shown bar closed after the previous row's close and no later than this row's close
        htf_close = htf.open_ms[int(shown[t])] + tf_ms
        assert bars.open_ms[t - 1] + FIVE_MIN_MS < htf_close <= bars.open_ms[t] + FIVE_MIN_MS


def test_alignment_on_a_clean_hour() -> None:
    frame = ohlcv_frame(36)  # 00:00 .. 02:55, three complete hours
    bars = Bars.from_frame(frame)
    htf = resample_bars(bars, FIVE_MIN_MS, HOUR_MS)
    shown = align_to_base(bars.open_ms, FIVE_MIN_MS, htf.open_ms, HOUR_MS, htf.close)
    # the 00:00 hour closes at 01:00 = close of the 00:55 bar (row 11): visible from row 11, not before
    assert np.isnan(shown[:11]).all()
    np.testing.assert_array_equal(shown[11:23], htf.close[0])
    np.testing.assert_array_equal(shown[23:35], htf.close[1])
    assert shown[35] == htf.close[2] == frame["close"].iloc[35]
