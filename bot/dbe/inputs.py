"""Per-bar inputs of the DBE: relative ATR, trend strength and the causal rolling volatility percentile.

Every array here is causal: its value at row t uses rows <= t only, so it is the same whether computed on the full
history or on the history truncated at t (DESIGN.md time contract).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import talib

FloatArray = npt.NDArray[np.float64]

#: ADX value that counts as a fully developed trend (trend strength 1).
ADX_FULL_TREND = 50.0
#: Rows per chunk of the rolling percentile (bounds the temporary [chunk, window] array).
_CHUNK_ROWS = 8192


def dbe_inputs(
    close: FloatArray,
    high: FloatArray,
    low: FloatArray,
    atr_period: int = 14,
    adx_period: int = 14,
    trend_window: int = 100,
) -> tuple[FloatArray, FloatArray]:
    """Relative ATR and signed trend strength per bar, from TA-Lib, known at each bar's close.

    - ``atr_rel[t] = ATR(atr_period)[t] / close[t]``;
    - ``trend[t] = sign(EMA(trend_window)[t] - EMA(trend_window)[t-1]) * min(ADX(adx_period)[t] / 50, 1)``, in
      [-1, 1]: the ADX says how strong the trend is, the slope of the EMA which way it goes.

    TA-Lib's indicators are recursive over past bars only, so both series are causal. Warm-up rows are NaN in
    ``atr_rel`` (the DBE then uses the neutral percentile 0.5) and 0.0 (no trend) in ``trend``.

    :param close: float64 [n] closes.
    :param high: float64 [n] highs.
    :param low: float64 [n] lows.
    :param atr_period: ATR period in bars (``features.atr_period``).
    :param adx_period: ADX period in bars (``features.adx_period``).
    :param trend_window: EMA period in bars (``dbe.trend_window``).
    :return: ``(atr_rel, trend)``, float64 [n] each.
    :raises ValueError: when the arrays are not 1-D of equal length or a period is < 2.
    """
    close = np.ascontiguousarray(close, dtype=np.float64)
    high = np.ascontiguousarray(high, dtype=np.float64)
    low = np.ascontiguousarray(low, dtype=np.float64)
    if close.ndim != 1 or high.shape != close.shape or low.shape != close.shape:
        raise ValueError(
            f"dbe_inputs needs 1-D close/high/low of equal length, got shapes {close.shape}, {high.shape},"
            f" {low.shape}; pass the base-timeframe columns of one market"
        )
    for name, period in (("atr_period", atr_period), ("adx_period", adx_period), ("trend_window", trend_window)):
        if period < 2:
            raise ValueError(f"dbe_inputs {name}={period} must be >= 2; use the config's period (default 14)")
    atr_rel = talib.ATR(high, low, close, timeperiod=atr_period) / close
    adx = talib.ADX(high, low, close, timeperiod=adx_period)
    ema = talib.EMA(close, timeperiod=trend_window)
    slope = np.zeros_like(close)
    slope[1:] = np.sign(ema[1:] - ema[:-1])
    trend = np.nan_to_num(slope * np.minimum(adx / ADX_FULL_TREND, 1.0), nan=0.0)
    return atr_rel, trend


def rolling_percentile(values: FloatArray, window: int) -> FloatArray:
    """Causal percentile rank of each value among the last ``window`` values (itself included).

    ``pct[t] = #{finite x in values[t-window+1 .. t] : x < values[t]} / (n_finite - 1)``: 0 for the lowest value of
    the window, 1 for the highest. Rows near the start use the shorter history available. Where ``values[t]`` is
    NaN or fewer than two finite values exist, the result is the neutral 0.5.

    :param values: float64 [n] series (e.g. relative ATR).
    :param window: look-back in rows, >= 2.
    :return: float64 [n] percentiles in [0, 1].
    :raises ValueError: when ``values`` is not 1-D or ``window`` < 2.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"rolling_percentile needs a 1-D series, got shape {x.shape}")
    if window < 2:
        raise ValueError(f"rolling_percentile window={window} must be >= 2 (dbe.atr_window)")
    n = x.shape[0]
    padded = np.concatenate([np.full(window - 1, np.nan), x])
    windows = np.lib.stride_tricks.sliding_window_view(padded, window)
    out = np.full(n, 0.5)
    for start in range(0, n, _CHUNK_ROWS):
        stop = min(start + _CHUNK_ROWS, n)
        block = windows[start:stop]
        current = x[start:stop, None]
        below = (block < current).sum(axis=1)
        n_finite = np.isfinite(block).sum(axis=1)
        ok = np.isfinite(x[start:stop]) & (n_finite > 1)
        out[start:stop] = np.where(ok, below / np.maximum(n_finite - 1, 1), 0.5)
    return out


def drawdown_decay(halflife_bars: int) -> float:
    """The per-bar rate ``lambda = 1 - 2 ** (-1 / h)`` of :func:`decayed_drawdown` for ``dbe.drawdown_halflife_bars``
    = h; 0.0 (no decay) for h = 0."""
    return 1.0 - 2.0 ** (-1.0 / halflife_bars) if halflife_bars > 0 else 0.0


def decayed_drawdown(reference: float, drawdown: float, decay: float) -> tuple[float, float]:
    """One bar of the decaying drawdown reference (see :mod:`bot.dbe.engine`, "Drawdown decay").

    In units of the account's peak equity is ``1 - drawdown``; the reference peak decays toward it,
    ``ref <- max(equity, ref - decay (ref - equity))``, and restarts at 1 at a new peak.

    :param reference: the reference peak after the previous bar (1.0 at the start of an episode).
    :param drawdown: the account's drawdown now, fraction in [0, 1].
    :param decay: from :func:`drawdown_decay` (> 0).
    :return: ``(reference, drawdown measured from it)``.
    """
    level = 1.0 - drawdown
    ref = reference - decay * (reference - level) if drawdown > 0.0 else 1.0
    ref = ref if ref > level else level
    return ref, (1.0 - level / ref if ref > 0.0 else 0.0)
