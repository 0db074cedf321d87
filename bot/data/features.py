"""Multi-timeframe feature matrix on the base clock, computed per gap-free segment.

Column order: for each timeframe in ``data.timeframes``, for each indicator in ``features.indicators``, its outputs;
names are ``"<timeframe>.<output>"`` (``"5m.rsi"``, ``"1h.macd_hist"``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from bot.config import TIMEFRAME_MS, FeaturesConfig
from bot.data.indicators import INDICATORS
from bot.data.resample import Bars, align_to_base, resample_bars

logger = logging.getLogger(__name__)


def _indicators_for(timeframe: str, base_timeframe: str, cfg: FeaturesConfig) -> list[str]:
    return [name for name in cfg.indicators if timeframe == base_timeframe or not INDICATORS[name].base_only]


def feature_names(timeframes: Sequence[str], cfg: FeaturesConfig) -> list[str]:
    """Names of the feature columns, in column order.

    :param timeframes: ``data.timeframes`` (the first is the base timeframe).
    :param cfg: the ``features`` config section.
    :return: names such as ``"5m.rsi"``; ``signal`` appears for the base timeframe only.
    """
    return [
        f"{tf}.{output}"
        for tf in timeframes
        for name in _indicators_for(tf, timeframes[0], cfg)
        for output in INDICATORS[name].outputs
    ]


def _timeframe_block(bars: Bars, timeframe: str, base_timeframe: str, cfg: FeaturesConfig) -> npt.NDArray[np.float64]:
    """float64 [len(bars), k_tf] features of one gap-free run of base bars for one timeframe, on the base clock."""
    base_ms, tf_ms = TIMEFRAME_MS[base_timeframe], TIMEFRAME_MS[timeframe]
    source = bars if tf_ms == base_ms else resample_bars(bars, base_ms, tf_ms)
    names = _indicators_for(timeframe, base_timeframe, cfg)
    columns = [col for name in names for col in INDICATORS[name].compute(source, cfg)]
    block = np.column_stack(columns) if columns else np.empty((len(source), 0))
    if tf_ms == base_ms:
        return block
    return align_to_base(bars.open_ms, base_ms, source.open_ms, tf_ms, block)


def compute_features(
    bars: Bars,
    segment_id: npt.NDArray[np.int32],
    timeframes: Sequence[str],
    cfg: FeaturesConfig,
) -> npt.NDArray[np.float64]:
    """Every timeframe's features aligned to the base clock, each gap-free segment computed on its own.

    A higher timeframe's bars are built from the segment's base bars (incomplete ones dropped) and appear on the
    base row where they close. Nothing of one segment reaches into another.

    :param bars: base bars (all segments).
    :param segment_id: int32 [n] non-decreasing segment id per base bar.
    :param timeframes: ``data.timeframes``; the first is the base timeframe.
    :param cfg: the ``features`` config section.
    :return: float64 [n, n_features] in :func:`feature_names` order; NaN during each segment's warm-up.
    :raises bot.errors.DataError: when an indicator needs a column the data lacks (``signal``).
    """
    n = len(bars)
    names = feature_names(timeframes, cfg)
    out = np.full((n, len(names)), np.nan)
    starts = np.flatnonzero(np.r_[True, segment_id[1:] != segment_id[:-1]]) if n else np.empty(0, np.intp)
    stops = np.r_[starts[1:], n].astype(np.intp)
    for start, stop in zip(starts.tolist(), stops.tolist(), strict=True):
        segment = bars.slice(start, stop)
        col = 0
        for tf in timeframes:
            block = _timeframe_block(segment, tf, timeframes[0], cfg)
            out[start:stop, col : col + block.shape[1]] = block
            col += block.shape[1]
    logger.debug("Computed %d features over %d bars in %d segments", len(names), n, starts.size)
    return out
