"""TA-Lib indicators on one gap-free series of bars, made scale-free so one scaler fits years of prices.

Each indicator returns float64 arrays as long as the input, NaN during its warm-up. Values at bar ``i`` use bars
``<= i`` only (TA-Lib's EMA-based indicators also depend on where the series starts, which is why features are
computed per gap-free segment from the segment's first bar).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import talib

from bot.config import FeaturesConfig
from bot.data.resample import Bars
from bot.errors import DataError

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Indicator:
    """An indicator: the names of its outputs (``rsi``, or ``macd``, ``macd_signal``, ``macd_hist``) and its function.

    :param outputs: output names, in order.
    :param compute: ``(bars, features_cfg) -> [one float64 array per output]``.
    :param base_only: computed on the base timeframe only (the planted ``signal`` describes the next base bar).
    """

    outputs: tuple[str, ...]
    compute: Callable[[Bars, FeaturesConfig], list[FloatArray]]
    base_only: bool = False


def _safe_ratio(num: FloatArray, den: FloatArray, where_zero: float) -> FloatArray:
    """``num / den`` with ``where_zero`` where the denominator is 0 (flat prices, constant volume); NaN stays NaN."""
    out = np.full_like(num, np.nan)
    nonzero = den != 0
    np.divide(num, den, out=out, where=nonzero)
    out[(den == 0) & np.isfinite(num)] = where_zero
    return out


def _log_return(bars: Bars, cfg: FeaturesConfig) -> list[FloatArray]:
    out = np.full_like(bars.close, np.nan)
    out[1:] = np.log(bars.close[1:] / bars.close[:-1])
    return [out]


def _rsi(bars: Bars, cfg: FeaturesConfig) -> list[FloatArray]:
    return [talib.RSI(bars.close, timeperiod=cfg.rsi_period) / 100.0]


def _macd(bars: Bars, cfg: FeaturesConfig) -> list[FloatArray]:
    line, signal, hist = talib.MACD(
        bars.close, fastperiod=cfg.macd_fast, slowperiod=cfg.macd_slow, signalperiod=cfg.macd_signal
    )
    return [line / bars.close, signal / bars.close, hist / bars.close]


def _atr(bars: Bars, cfg: FeaturesConfig) -> list[FloatArray]:
    return [talib.ATR(bars.high, bars.low, bars.close, timeperiod=cfg.atr_period) / bars.close]


def _bbands_pctb(bars: Bars, cfg: FeaturesConfig) -> list[FloatArray]:
    upper, _, lower = talib.BBANDS(
        bars.close,
        timeperiod=cfg.bbands_period,
        nbdevup=cfg.bbands_std,
        nbdevdn=cfg.bbands_std,
        matype=talib.MA_Type.SMA,
    )
    return [_safe_ratio(bars.close - lower, upper - lower, 0.5)]


def _adx(bars: Bars, cfg: FeaturesConfig) -> list[FloatArray]:
    return [talib.ADX(bars.high, bars.low, bars.close, timeperiod=cfg.adx_period) / 100.0]


def _ema_slope(bars: Bars, cfg: FeaturesConfig) -> list[FloatArray]:
    ema = talib.EMA(bars.close, timeperiod=cfg.ema_period)
    out = np.full_like(ema, np.nan)
    out[1:] = ema[1:] / ema[:-1] - 1.0
    return [out]


def _volume_zscore(bars: Bars, cfg: FeaturesConfig) -> list[FloatArray]:
    mean = talib.SMA(bars.volume, timeperiod=cfg.volume_window)
    std = talib.STDDEV(bars.volume, timeperiod=cfg.volume_window, nbdev=1.0)
    # TA-Lib's running variance can leave float dust where the window is constant: treat tiny spreads as zero.
    std = np.where(std <= 1e-12 * np.maximum(np.abs(mean), 1.0), 0.0, std)
    return [_safe_ratio(bars.volume - mean, std, 0.0)]


def _signal(bars: Bars, cfg: FeaturesConfig) -> list[FloatArray]:
    if "signal" not in bars.extra:
        raise DataError(
            "features.indicators includes 'signal' but the data has no 'signal' column: only synthetic data with"
            " data.synthetic.signal_strength > 0 carries one; remove 'signal' from features.indicators or set"
            " data.source=synthetic and data.synthetic.signal_strength > 0"
        )
    return [bars.extra["signal"].astype(np.float64, copy=True)]


#: indicator name (as in ``features.indicators``) -> outputs and function.
INDICATORS: dict[str, Indicator] = {
    "log_return": Indicator(("log_return",), _log_return),
    "rsi": Indicator(("rsi",), _rsi),
    "macd": Indicator(("macd", "macd_signal", "macd_hist"), _macd),
    "atr": Indicator(("atr",), _atr),
    "bbands_pctb": Indicator(("bbands_pctb",), _bbands_pctb),
    "adx": Indicator(("adx",), _adx),
    "ema_slope": Indicator(("ema_slope",), _ema_slope),
    "volume_zscore": Indicator(("volume_zscore",), _volume_zscore),
    "signal": Indicator(("signal",), _signal, base_only=True),
}
