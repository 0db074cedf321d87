"""Resampling to higher timeframes and alignment back onto the base clock under the close-time rule.

Higher bars are epoch-aligned (a 4h bar opens at 00:00, 04:00, ... UTC; a 1d bar at 00:00 UTC). A higher bar that
misses any base bar is incomplete and dropped, never shown while forming. Its values become visible on the base row
whose CLOSE reaches the higher bar's close: ``open_ms[t] + base_ms >= htf_open + tf_ms``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from bot.config import TIMEFRAME_MS
from bot.data.validation import index_to_ms, infer_bar_ms

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Bars:
    """Plain-array candles of one timeframe: int64 ``open_ms`` [m] and float64 price/volume columns [m].

    ``extra`` holds optional float columns such as ``signal`` (the last base value of each bar when resampled).
    """

    open_ms: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    extra: dict[str, FloatArray]

    def __len__(self) -> int:
        return int(self.open_ms.shape[0])

    def slice(self, start: int, stop: int) -> Bars:
        """Rows [start, stop) as views."""
        return Bars(
            self.open_ms[start:stop],
            self.open[start:stop],
            self.high[start:stop],
            self.low[start:stop],
            self.close[start:stop],
            self.volume[start:stop],
            {k: v[start:stop] for k, v in self.extra.items()},
        )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Bars:
        """Arrays of an OHLCV frame (see :func:`bot.data.load_ohlcv`); extra float columns go to ``extra``."""
        extra = [c for c in frame.columns if c not in ("open", "high", "low", "close", "volume")]
        return cls(
            open_ms=index_to_ms(frame.index),
            open=frame["open"].to_numpy(np.float64),
            high=frame["high"].to_numpy(np.float64),
            low=frame["low"].to_numpy(np.float64),
            close=frame["close"].to_numpy(np.float64),
            volume=frame["volume"].to_numpy(np.float64),
            extra={c: frame[c].to_numpy(np.float64) for c in extra},
        )


def resample_bars(bars: Bars, base_ms: int, tf_ms: int) -> Bars:
    """Aggregate base bars into complete, epoch-aligned higher bars (open first, high max, low min, close last,
    volume sum, extras last).

    :param bars: base bars, strictly increasing open times, every spacing a multiple of ``base_ms``.
    :param base_ms: base bar length in ms.
    :param tf_ms: higher bar length in ms, a multiple of ``base_ms``.
    :return: only the higher bars that contain all ``tf_ms // base_ms`` base bars.
    """
    if tf_ms % base_ms:
        raise ValueError(f"timeframe {tf_ms} ms is not a multiple of the base bar {base_ms} ms")
    if len(bars) == 0:
        return bars
    bucket = bars.open_ms // tf_ms
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    counts = np.diff(np.r_[starts, bucket.size])
    complete = counts == tf_ms // base_ms
    first, last = starts[complete], (starts + counts - 1)[complete]
    return Bars(
        bucket[first] * tf_ms,
        bars.open[first],
        np.maximum.reduceat(bars.high, starts)[complete],
        np.minimum.reduceat(bars.low, starts)[complete],
        bars.close[last],
        np.add.reduceat(bars.volume, starts)[complete],
        {k: v[last] for k, v in bars.extra.items()},
    )


def align_to_base(
    base_open_ms: IntArray, base_ms: int, htf_open_ms: IntArray, tf_ms: int, values: FloatArray
) -> FloatArray:
    """Show each higher bar's values on the base rows where it has closed, NaN before the first close.

    :param base_open_ms: int64 [n] base bar open times, increasing.
    :param base_ms: base bar length in ms.
    :param htf_open_ms: int64 [m] higher bar open times, increasing.
    :param tf_ms: higher bar length in ms.
    :param values: float64 [m] or [m, k] values of the higher bars (known at their close).
    :return: float64 [n] or [n, k]: row t holds the latest higher bar with ``open + tf_ms <= base_open_ms[t] +
        base_ms``.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.shape[0] == 0:
        return np.full((base_open_ms.shape[0], *values.shape[1:]), np.nan)
    idx = np.searchsorted(htf_open_ms + tf_ms, base_open_ms + base_ms, side="right") - 1
    out = values[np.maximum(idx, 0)]
    out[idx < 0] = np.nan
    return out


def resample_ohlcv(frame: pd.DataFrame, timeframe: str, base_timeframe: str | None = None) -> pd.DataFrame:
    """Resample an OHLCV frame to a higher timeframe, keeping only complete bars.

    :param frame: OHLCV frame as returned by :func:`bot.data.load_ohlcv` (gaps allowed: bars they touch are dropped).
    :param timeframe: target timeframe such as ``"1h"`` or ``"4h"``.
    :param base_timeframe: the frame's timeframe; None infers it from the most common spacing.
    :return: frame indexed by the higher bars' OPEN times (``open_time``, UTC) with float64 ``open high low close
        volume`` (and ``signal`` when present); a bar is known only at its open + ``timeframe``.
    :raises ValueError: for an unknown timeframe or one that is not a multiple of the base.
    """
    bars = Bars.from_frame(frame)
    if timeframe not in TIMEFRAME_MS:
        raise ValueError(f"unknown timeframe {timeframe!r}; expected one of {list(TIMEFRAME_MS)}")
    if base_timeframe is not None:
        base_ms = TIMEFRAME_MS[base_timeframe]
    else:
        inferred = infer_bar_ms(bars.open_ms)
        if inferred is None:
            raise ValueError("cannot infer the base timeframe from fewer than 2 bars; pass base_timeframe")
        base_ms = inferred
    out = resample_bars(bars, base_ms, TIMEFRAME_MS[timeframe])
    index = pd.DatetimeIndex(out.open_ms.view("datetime64[ms]"), name="open_time").tz_localize("UTC")
    columns = {"open": out.open, "high": out.high, "low": out.low, "close": out.close, "volume": out.volume}
    return pd.DataFrame({**columns, **out.extra}, index=index)
