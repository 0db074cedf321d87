"""``build_market`` and ``build_dataset``: from ``cfg.data`` to the arrays the env, backtest and live trader index."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from bot.config import TIMEFRAME_MS, BotConfig, DataConfig, FeaturesConfig
from bot.data.features import compute_features, feature_names
from bot.data.gaps import apply_gap_policy
from bot.data.loading import load_ohlcv
from bot.data.resample import Bars
from bot.data.scaler import FeatureScaler
from bot.data.splits import split_ranges
from bot.data.types import Dataset, MarketData
from bot.data.validation import validate_ohlcv
from bot.errors import ConfigError, DataError

logger = logging.getLogger(__name__)


def cut_dates(frame: pd.DataFrame, cfg: DataConfig, source: str) -> pd.DataFrame:
    """Keep bars opening in [data.start, data.end)."""
    bounds = {}
    for key in ("start", "end"):
        value = getattr(cfg, key)
        if value is None:
            continue
        try:
            ts = pd.Timestamp(value)
        except ValueError as e:
            raise ConfigError(f"data.{key}={value!r} is not an ISO date; use e.g. 2023-06-01") from e
        bounds[key] = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if not bounds:
        return frame
    keep = np.ones(len(frame), dtype=bool)
    if "start" in bounds:
        keep &= frame.index >= bounds["start"]
    if "end" in bounds:
        keep &= frame.index < bounds["end"]
    if not keep.any():
        raise DataError(
            f"{source}: no bars between data.start={cfg.start!r} and data.end={cfg.end!r} (the data spans"
            f" {frame.index[0].isoformat()} .. {frame.index[-1].isoformat()}); widen or remove data.start/data.end"
        )
    return frame.loc[keep]


def load_frame(cfg: DataConfig) -> tuple[pd.DataFrame, str]:
    """Load the configured candles (file or synthetic), validated against ``data.base_timeframe`` and cut to
    ``[data.start, data.end)``; gaps are still in.

    :return: the OHLCV frame and a source label for messages.
    :raises DataError: for a missing file or no bars in the date range.
    :raises DataValidationError: for bad data or a spacing other than ``data.base_timeframe``.
    """
    if cfg.source == "synthetic":
        from bot.data.synthetic import generate_synthetic

        frame = generate_synthetic(cfg.synthetic, cfg.base_timeframe)
        source = f"synthetic(seed={cfg.synthetic.seed})"
    else:
        # DataConfig requires data.path or data.symbols for source=file; one listed symbol is a single market too
        source = cfg.path or cfg.symbol_files()[0].path
        frame = load_ohlcv(source, cfg.plausibility)
    validate_ohlcv(frame, source, TIMEFRAME_MS[cfg.base_timeframe])
    return cut_dates(frame, cfg, source), source


def candle_fingerprint(bars: Bars) -> str:
    """Stable hash (sha256 hex, 16 chars) of the candle arrays: open times and OHLCV values, bit for bit."""
    digest = hashlib.sha256()
    for array in (bars.open_ms, bars.open, bars.high, bars.low, bars.close, bars.volume):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def schema_hash(names: Sequence[str], cfg: FeaturesConfig) -> str:
    """Stable hash (sha256 hex, 16 chars) of the observation schema: feature names, indicator settings, normalisation.

    :param names: feature names in column order.
    :param cfg: the ``features`` section (periods, normalisation mode and clip).
    """
    payload = {"features": list(names), "settings": cfg.model_dump(mode="json")}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def market_from_frame(frame: pd.DataFrame, cfg: BotConfig, source: str = "<frame>") -> MarketData:
    """Gap policy + multi-timeframe features on an already loaded OHLCV frame (the live trader's entry point).

    :param frame: validated OHLCV frame at ``cfg.data.base_timeframe`` (see :func:`bot.data.load_ohlcv`).
    :param cfg: the whole config (``data`` and ``features`` are used).
    :param source: label for messages.
    :return: the :class:`MarketData`.
    """
    base_ms = TIMEFRAME_MS[cfg.data.base_timeframe]
    warn_ms = int(cfg.data.gap_warning_hours * 3_600_000)
    frame, segment_id = apply_gap_policy(
        frame, base_ms, cfg.data.gap_policy, cfg.data.max_ffill_bars, source, warn_gap_ms=warn_ms or None
    )
    bars = Bars.from_frame(frame)
    raw = compute_features(bars, segment_id, cfg.data.timeframes, cfg.features)
    features = raw.astype(np.float32)
    valid: npt.NDArray[np.bool_] = np.asarray(np.isfinite(features).all(axis=1))
    names = tuple(feature_names(cfg.data.timeframes, cfg.features))
    logger.debug("Built %d bars x %d features from %s (%d valid rows)", len(bars), len(names), source, int(valid.sum()))
    return MarketData(
        open_time_ms=bars.open_ms,
        open=bars.open,
        high=bars.high,
        low=bars.low,
        close=bars.close,
        volume=bars.volume,
        features=features,
        feature_names=names,
        segment_id=segment_id,
        valid=valid,
        base_ms=base_ms,
        symbol=cfg.data.symbol,
        fingerprint=candle_fingerprint(bars),
    )


def build_market(cfg: BotConfig) -> MarketData:
    """Load per ``cfg.data``, cut to start/end, apply the gap policy and compute every timeframe's features.

    :param cfg: the whole config.
    :return: base candles with features aligned to the base clock (NumPy only).
    :raises DataError: for missing files, empty date ranges, or a ``signal`` feature on data without one.
    :raises DataValidationError: for bad data, or gaps under ``gap_policy=fail``.
    """
    frame, source = load_frame(cfg.data)
    return market_from_frame(frame, cfg, source)


def build_dataset(cfg: BotConfig, scaler: FeatureScaler | None = None) -> Dataset:
    """:func:`build_market` + chronological splits + normalised observation features + schema hash.

    :param cfg: the whole config.
    :param scaler: a saved scaler (evaluation, live trading); None fits a new one on the train split's valid rows.
    :return: the :class:`Dataset`; ``dataset.scaler`` is the scaler used (save it with the model).
    :raises SchemaMismatchError: when ``scaler`` was fit on other features than the config produces.
    :raises DataError: when a split is empty or the train split has no valid row.
    """
    market = build_market(cfg)
    return dataset_from_market(market, split_ranges(len(market), cfg.splits, market.open_time_ms), cfg, scaler)


def dataset_from_market(
    market: MarketData, splits: dict[str, range], cfg: BotConfig, scaler: FeatureScaler | None = None
) -> Dataset:
    """A :class:`Dataset` over given split ranges (e.g. a walk-forward fold's).

    :param scaler: a saved scaler; None fits a new one on the valid rows of ``splits["train"]`` only.
    :raises SchemaMismatchError: when ``scaler`` was fit on other features than ``market`` has.
    """
    names = market.feature_names
    if scaler is None:
        train = splits["train"]
        train_valid = np.zeros(len(market), dtype=bool)
        train_valid[train.start : train.stop] = market.valid[train.start : train.stop]
        scaler = FeatureScaler.fit(market.features, train_valid, names, cfg.features.normalize, cfg.features.clip)
    else:
        scaler.check_names(names)
    obs = scaler.transform(market.features, market.valid)
    return Dataset(
        market=market,
        splits=splits,
        obs_features=obs,
        schema_hash=schema_hash(names, cfg.features),
        scaler=scaler,
    )
