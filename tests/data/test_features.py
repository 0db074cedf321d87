"""Multi-timeframe TA-Lib features: names, warm-up NaN then finite, per-segment restarts, close-time alignment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from bot.config import FeaturesConfig
from bot.data import load_ohlcv
from bot.data.features import compute_features, feature_names
from bot.data.gaps import segment_ids
from bot.data.resample import Bars
from bot.errors import DataError
from tests.data.ohlcv_files import FIVE_MIN_MS, ohlcv_frame

ALL = ["log_return", "rsi", "macd", "atr", "bbands_pctb", "adx", "ema_slope", "volume_zscore"]


@pytest.fixture(scope="module")
def month(btc_5m_path: Path) -> pd.DataFrame:
    """January to mid-April 2023 of real 5m BTC: includes the 2023-03-24 outage."""
    frame = load_ohlcv(btc_5m_path)
    return frame.loc[:"2023-04-15"]


def _features(frame: pd.DataFrame, timeframes: list[str], cfg: FeaturesConfig) -> npt.NDArray[np.float64]:
    bars = Bars.from_frame(frame)
    return compute_features(bars, segment_ids(bars.open_ms, FIVE_MIN_MS), timeframes, cfg)


def test_feature_names_order_and_signal_base_only() -> None:
    cfg = FeaturesConfig(indicators=["rsi", "macd", "signal"])
    assert feature_names(["5m", "1h"], cfg) == [
        "5m.rsi",
        "5m.macd",
        "5m.macd_signal",
        "5m.macd_hist",
        "5m.signal",
        "1h.rsi",
        "1h.macd",
        "1h.macd_signal",
        "1h.macd_hist",
    ]


def test_nan_during_warmup_then_finite_in_each_segment(month: pd.DataFrame) -> None:
    cfg = FeaturesConfig(indicators=ALL)
    timeframes = ["5m", "1h", "4h"]
    values = _features(month, timeframes, cfg)
    names = feature_names(timeframes, cfg)
    ids = segment_ids(Bars.from_frame(month).open_ms, FIVE_MIN_MS)
    assert ids.max() == 1
    for seg in (0, 1):
        rows = np.flatnonzero(ids == seg)
        block = values[rows]
        for j, name in enumerate(names):
            finite = np.isfinite(block[:, j])
            first = int(np.argmax(finite))
            assert finite.any(), name
            assert first > 0, f"{name} has no warm-up"
            assert finite[first:].all(), f"{name} has NaN after its warm-up in segment {seg}"
    # warm-up lengths follow TA-Lib's lookbacks (in the first segment, which starts on a 4h boundary)
    first_finite = {name: int(np.argmax(np.isfinite(values[:, j]))) for j, name in enumerate(names)}
    assert first_finite["5m.log_return"] == 1
    assert first_finite["5m.rsi"] == 14  # TA-Lib's RSI lookback equals its period
    assert first_finite["1h.log_return"] == 2 * 12 - 1  # the second complete hour closes on row 23
    assert first_finite["4h.rsi"] == 15 * 48 - 1  # 15 closed 4h bars


def test_second_segment_restarts_after_the_gap(month: pd.DataFrame) -> None:
    cfg = FeaturesConfig(indicators=["log_return", "rsi"])
    values = _features(month, ["5m", "1h"], cfg)
    after_gap = month.index.get_loc(pd.Timestamp("2023-03-24 14:00", tz="UTC"))
    # nothing of segment 0 reaches into segment 1: the first bar after the gap has no log return
    assert np.isnan(values[after_gap, 0]) and np.isfinite(values[after_gap - 1, 0])
    assert np.isnan(values[after_gap : after_gap + 14, 1]).all() and np.isfinite(values[after_gap + 14, 1])
    # the new segment's first complete hour (14:00) closes on row after_gap + 11; a 1h log return needs two hours
    assert np.isnan(values[after_gap : after_gap + 23, 2]).all() and np.isfinite(values[after_gap + 23, 2])


def test_higher_timeframe_values_change_only_at_their_close(month: pd.DataFrame) -> None:
    cfg = FeaturesConfig(indicators=["rsi"])
    values = _features(month.iloc[:5000], ["5m", "4h"], cfg)
    htf = values[:, 1]
    changes = np.flatnonzero(np.diff(np.nan_to_num(htf, nan=-1.0)) != 0) + 1
    closes = month.index[changes] + pd.Timedelta("5m")
    assert ((closes.hour % 4 == 0) & (closes.minute == 0)).all()


def test_values_are_scale_free_and_in_range(month: pd.DataFrame) -> None:
    cfg = FeaturesConfig(indicators=ALL)
    names = feature_names(["5m"], cfg)
    values = _features(month, ["5m"], cfg)
    col = {n: values[:, j] for j, n in enumerate(names)}
    ok = np.isfinite(values).all(axis=1)
    assert ((col["5m.rsi"][ok] >= 0) & (col["5m.rsi"][ok] <= 1)).all()
    assert ((col["5m.adx"][ok] >= 0) & (col["5m.adx"][ok] <= 1)).all()
    assert (col["5m.atr"][ok] > 0).all() and (col["5m.atr"][ok] < 0.05).all()
    np.testing.assert_allclose(col["5m.macd_hist"][ok], col["5m.macd"][ok] - col["5m.macd_signal"][ok], atol=1e-12)
    close = month["close"].to_numpy()[:20_000]  # segment 0 (before the outage)
    np.testing.assert_allclose(col["5m.log_return"][1:20_000], np.log(close[1:] / close[:-1]))


def test_flat_and_zero_volume_bars_stay_finite() -> None:
    frame = ohlcv_frame(200)
    frame.iloc[100:160, :4] = 100.0  # 60 flat bars: zero-width Bollinger bands
    frame.iloc[100:160, 4] = 0.0  # constant volume: zero standard deviation
    values = _features(frame, ["5m"], FeaturesConfig(indicators=["bbands_pctb", "volume_zscore"]))
    assert np.isfinite(values[60:]).all()
    assert values[150, 0] == 0.5 and values[150, 1] == 0.0


def test_signal_passes_through_on_the_base_timeframe() -> None:
    frame = ohlcv_frame(50)
    frame["signal"] = np.sin(np.arange(50))
    values = _features(frame, ["5m", "1h"], FeaturesConfig(indicators=["signal", "log_return"]))
    np.testing.assert_array_equal(values[:, 0], frame["signal"].to_numpy())
    assert values.shape[1] == 3  # 5m.signal, 5m.log_return, 1h.log_return


def test_signal_without_column_names_the_fix() -> None:
    with pytest.raises(DataError, match=r"no 'signal' column.*remove 'signal' from features\.indicators"):
        _features(ohlcv_frame(20), ["5m"], FeaturesConfig(indicators=["signal"]))


def test_short_segments_give_nan_not_errors() -> None:
    frame = ohlcv_frame(40)
    frame = frame.drop(frame.index[[5, 6, 20]])  # segments of 5, 13 and 19 bars: no complete hour in any
    values = _features(frame, ["5m", "1h"], FeaturesConfig(indicators=ALL))
    assert values.shape == (37, 20)
    assert np.isnan(values[:, 10:]).all()
    assert np.isnan(values[:5, 1:10]).all()  # every 5m indicator but log_return needs more than 5 bars
