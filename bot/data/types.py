"""Array containers that carry market data from the data layer to the environment, backtest and live trader.

Everything here is plain NumPy so that the env's step loop is array indexing only (no pandas).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bot.data.scaler import FeatureScaler


@dataclass(frozen=True, slots=True)
class MarketData:
    """Base-timeframe candles with every timeframe's features aligned to the base clock.

    Row ``t`` is the base bar that OPENS at ``open_time_ms[t]``; it is known at its close,
    ``open_time_ms[t] + base_ms``. ``features[t]`` uses only data whose close time is <= that close
    (higher-timeframe bars appear only once closed).

    :param open_time_ms: int64 [n] bar open times, UTC milliseconds, strictly increasing.
    :param open: float64 [n]; likewise ``high``, ``low``, ``close``, ``volume``.
    :param features: float32 [n, n_features] raw (un-normalised) features; NaN during warm-up.
    :param feature_names: n_features names such as ``"5m.rsi"`` or ``"1h.macd_hist"``.
    :param segment_id: int32 [n] id of the gap-free run of bars each row belongs to (0, 1, ...).
    :param valid: bool [n] True where every feature is finite and its window lies inside the row's segment.
    :param base_ms: base bar length in milliseconds.
    :param symbol: symbol label.
    :param fingerprint: stable hash of the candles (for checkpoint manifests).
    """

    open_time_ms: npt.NDArray[np.int64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]
    features: npt.NDArray[np.float32]
    feature_names: tuple[str, ...]
    segment_id: npt.NDArray[np.int32]
    valid: npt.NDArray[np.bool_]
    base_ms: int
    symbol: str
    fingerprint: str

    def __len__(self) -> int:
        return int(self.open_time_ms.shape[0])


@dataclass(frozen=True, slots=True)
class Dataset:
    """A :class:`MarketData` plus its chronological splits and the normalised observation features.

    :param market: the candles and raw features.
    :param splits: split name (``"train"``, ``"validation"``, ``"test"``) -> half-open row range [start, stop).
    :param obs_features: float32 [n, n_features] features normalised with statistics fit on the train split
        only, clipped, and 0.0 where ``market.valid`` is False.
    :param schema_hash: hash of feature names + normalisation settings; a model trained on one schema must not
        be run on another.
    :param scaler: the scaler that produced ``obs_features`` (save it with the model); None for hand-built datasets.
    """

    market: MarketData
    splits: dict[str, range]
    obs_features: npt.NDArray[np.float32]
    schema_hash: str
    scaler: FeatureScaler | None = None

    @property
    def fingerprint(self) -> str:
        """The candles' fingerprint (as :attr:`bot.data.universe.Universe.fingerprint` for several symbols)."""
        return self.market.fingerprint

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The feature names, in column order."""
        return self.market.feature_names
