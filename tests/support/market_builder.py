"""Hand-built :class:`MarketData` / :class:`Dataset` objects for env tests that must not depend on the data layer.

``random_ohlcv(n)`` makes a reproducible random walk; ``make_market(...)`` wraps OHLCV arrays and a feature matrix,
optionally with a data gap (two segments, the second's open times jump forward); ``make_dataset(...)`` adds splits
and observation features (the raw features, zeroed where invalid, as the real layer does after normalising).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bot.data.types import Dataset, MarketData

FloatArray = npt.NDArray[np.float64]

BASE_MS = 300_000
START_MS = 1_672_531_200_000  # 2023-01-01T00:00:00Z


@dataclass(frozen=True, slots=True)
class Ohlcv:
    """Five float64 [n] arrays of one candle series."""

    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray


def random_ohlcv(n: int, seed: int = 0, start_price: float = 20_000.0, vol: float = 0.002) -> Ohlcv:
    """A reproducible log-normal random walk with consistent high/low (high >= max(open, close), ...).

    :param n: number of bars.
    :param seed: generator seed.
    :param start_price: first open.
    :param vol: standard deviation of the per-bar log return.
    """
    rng = np.random.default_rng(seed)
    log_close = np.log(start_price) + np.cumsum(rng.normal(0.0, vol, n))
    close = np.exp(log_close)
    open_ = np.concatenate([[start_price], close[:-1]])
    wick = np.abs(rng.normal(0.0, vol / 2, (2, n)))
    high = np.maximum(open_, close) * (1.0 + wick[0])
    low = np.minimum(open_, close) * (1.0 - wick[1])
    volume = rng.uniform(50.0, 150.0, n)
    return Ohlcv(open_, high, low, close, volume)


def flat_ohlcv(n: int, price: float = 100.0) -> Ohlcv:
    """Constant candles: every open, high, low and close equals ``price`` (equity only moves by costs)."""
    p = np.full(n, price)
    return Ohlcv(p, p.copy(), p.copy(), p.copy(), np.full(n, 100.0))


def default_features(ohlcv: Ohlcv) -> npt.NDArray[np.float32]:
    """Two causal features per row: the bar's log return and the close relative to the open (float32 [n, 2])."""
    log_ret = np.diff(np.log(ohlcv.close), prepend=np.log(ohlcv.open[0]))
    body = ohlcv.close / ohlcv.open - 1.0
    return np.stack([log_ret * 100.0, body * 100.0], axis=1).astype(np.float32)


def make_market(
    ohlcv: Ohlcv,
    features: npt.NDArray[np.float32] | None = None,
    *,
    gap_at: int | None = None,
    gap_bars: int = 16,
    warmup: int = 0,
    base_ms: int = BASE_MS,
    start_ms: int = START_MS,
) -> MarketData:
    """Wrap arrays into a :class:`MarketData`.

    :param ohlcv: the candles.
    :param features: float32 [n, n_features]; default :func:`default_features`.
    :param gap_at: row index of the first bar after a gap of ``gap_bars`` missing bars: rows before it are segment 0,
        rows from it on segment 1 (None = no gap).
    :param gap_bars: bars missing at the gap.
    :param warmup: rows at the start of each segment whose ``valid`` is False (feature warm-up).
    :param base_ms: bar length in ms.
    :param start_ms: open time of row 0.
    """
    n = ohlcv.close.shape[0]
    feats = default_features(ohlcv) if features is None else features.astype(np.float32)
    steps = np.arange(n, dtype=np.int64)
    segment = np.zeros(n, dtype=np.int32)
    if gap_at is not None:
        steps[gap_at:] += gap_bars
        segment[gap_at:] = 1
    valid = np.ones(n, dtype=bool)
    for seg in np.unique(segment):
        first = int(np.flatnonzero(segment == seg)[0])
        valid[first : first + warmup] = False
    feats = feats.copy()
    feats[~valid] = np.nan
    return MarketData(
        open_time_ms=start_ms + steps * base_ms,
        open=ohlcv.open,
        high=ohlcv.high,
        low=ohlcv.low,
        close=ohlcv.close,
        volume=ohlcv.volume,
        features=feats,
        feature_names=tuple(f"5m.f{i}" for i in range(feats.shape[1])),
        segment_id=segment,
        valid=valid,
        base_ms=base_ms,
        symbol="TEST/USDT",
        fingerprint="test",
    )


def make_dataset(market: MarketData, splits: dict[str, range] | None = None) -> Dataset:
    """Wrap a market into a :class:`Dataset`; default splits 70/15/15 by rows, obs features = raw, 0 where invalid.

    :param market: from :func:`make_market`.
    :param splits: split name -> row range; default chronological 70/15/15.
    """
    n = len(market)
    if splits is None:
        a, b = int(n * 0.7), int(n * 0.85)
        splits = {"train": range(0, a), "validation": range(a, b), "test": range(b, n)}
    obs = np.where(market.valid[:, None], np.nan_to_num(market.features), 0.0).astype(np.float32)
    return Dataset(market=market, splits=splits, obs_features=obs, schema_hash="test-schema")


def simple_dataset(
    n: int = 600, seed: int = 0, gap_at: int | None = None, warmup: int = 0, splits: dict[str, range] | None = None
) -> Dataset:
    """A random-walk dataset in one call (see :func:`make_market` for the arguments)."""
    return make_dataset(make_market(random_ohlcv(n, seed), gap_at=gap_at, warmup=warmup), splits)
