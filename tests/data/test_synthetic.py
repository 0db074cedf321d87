"""Tests of the offline synthetic market generator (bot/data/synthetic.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import TIMEFRAME_MS, SyntheticConfig
from bot.data.loading import load_ohlcv
from bot.data.synthetic import generate_synthetic, markov_regimes, oracle_log_returns, oracle_positions
from bot.errors import ConfigError, DataError

OHLCV = ["open", "high", "low", "close", "volume"]


def _cfg(**kw: object) -> SyntheticConfig:
    return SyntheticConfig(**{"n_bars": 5_000, **kw})


def _log_returns(df: pd.DataFrame) -> np.ndarray:
    return np.diff(np.log(df["close"].to_numpy()))


@pytest.fixture(scope="module")
def signal_market() -> pd.DataFrame:
    return generate_synthetic(SyntheticConfig(n_bars=200_000, seed=3, signal_strength=0.1), "5m")


def test_same_seed_gives_identical_frames() -> None:
    a = generate_synthetic(_cfg(seed=11, signal_strength=0.2), "5m")
    b = generate_synthetic(_cfg(seed=11, signal_strength=0.2), "5m")
    pd.testing.assert_frame_equal(a, b)


def test_different_seeds_differ() -> None:
    a = generate_synthetic(_cfg(seed=1), "5m")
    b = generate_synthetic(_cfg(seed=2), "5m")
    assert not np.allclose(a["close"].to_numpy(), b["close"].to_numpy())


def test_shape_index_and_dtypes() -> None:
    df = generate_synthetic(_cfg(start="2024-03-01T12:00"), "1h")
    assert list(df.columns) == OHLCV
    assert len(df) == 5_000
    assert isinstance(df.index, pd.DatetimeIndex)
    assert df.index.name == "open_time"
    assert str(df.index.dtype) == "datetime64[ms, UTC]"  # as bot.data.load_ohlcv returns
    assert df.index[0] == pd.Timestamp("2024-03-01T12:00", tz="UTC")
    assert (df.index[1:] - df.index[:-1] == pd.Timedelta(milliseconds=TIMEFRAME_MS["1h"])).all()
    assert all(df[c].dtype == np.float64 for c in OHLCV)
    assert df.iloc[0]["open"] == pytest.approx(30_000.0)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    annual_vol=st.floats(0.01, 5.0),
    persistence=st.floats(0.0, 0.9999),
    strength=st.floats(0.0, 1.0),
    start_price=st.floats(1e-4, 1e6),
    timeframe=st.sampled_from(sorted(TIMEFRAME_MS)),
)
def test_ohlc_is_always_valid(
    seed: int, annual_vol: float, persistence: float, strength: float, start_price: float, timeframe: str
) -> None:
    cfg = SyntheticConfig(
        n_bars=500,
        seed=seed,
        annual_vol=annual_vol,
        regime_persistence=persistence,
        signal_strength=strength,
        start_price=start_price,
    )
    df = generate_synthetic(cfg, timeframe)
    o, h, lo, c, v = (df[col].to_numpy() for col in OHLCV)
    assert np.isfinite(df.to_numpy()).all()
    assert (lo > 0).all()
    assert (h >= np.maximum(o, c)).all()
    assert (lo <= np.minimum(o, c)).all()
    assert (v >= 0).all()
    np.testing.assert_array_equal(o[1:], c[:-1])  # continuous: next open == this close
    assert df.index.is_monotonic_increasing and df.index.is_unique


def test_markov_regimes_switch_at_the_configured_rate() -> None:
    states = markov_regimes(np.random.default_rng(0), 100_000, 3, 0.99)
    switches = np.count_nonzero(np.diff(states))
    assert switches == pytest.approx(1_000, rel=0.15)  # every switch changes the state
    assert set(np.unique(states)) == {0, 1, 2}
    assert (np.bincount(states) > 20_000).all()


def test_markov_regimes_never_switch_to_themselves_at_zero_persistence() -> None:
    states = markov_regimes(np.random.default_rng(0), 1_000, 2, 0.0)
    assert (np.diff(states) != 0).all()


def test_market_shows_both_volatility_regimes() -> None:
    df = generate_synthetic(SyntheticConfig(n_bars=100_000, seed=5, regime_persistence=0.999), "5m")
    rolling_vol = pd.Series(_log_returns(df)).rolling(500).std().dropna().to_numpy()
    assert np.quantile(rolling_vol, 0.9) > 1.8 * np.quantile(rolling_vol, 0.1)


def test_market_shows_trend_regimes() -> None:
    df = generate_synthetic(SyntheticConfig(n_bars=100_000, seed=5, regime_persistence=0.9995, annual_vol=0.2), "5m")
    drift = pd.Series(_log_returns(df)).rolling(2_000).mean().dropna().to_numpy()
    assert drift.max() > 0 > drift.min()


def test_volatility_clusters() -> None:
    abs_r = np.abs(_log_returns(generate_synthetic(SyntheticConfig(n_bars=50_000, seed=9), "5m")))
    for lag in (1, 10, 50):
        assert np.corrcoef(abs_r[:-lag], abs_r[lag:])[0, 1] > 0.05


def test_volume_rises_with_absolute_return_and_has_the_configured_mean() -> None:
    df = generate_synthetic(SyntheticConfig(n_bars=50_000, seed=4, base_volume=250.0), "5m")
    abs_r = np.abs(_log_returns(df))
    assert np.corrcoef(df["volume"].to_numpy()[1:], abs_r)[0, 1] > 0.2
    assert df["volume"].mean() == pytest.approx(250.0, rel=0.03)


def test_signal_absent_when_strength_is_zero() -> None:
    df = generate_synthetic(_cfg(signal_strength=0.0), "5m")
    assert "signal" not in df.columns
    with pytest.raises(DataError, match="no 'signal' column.*signal_strength > 0"):
        oracle_positions(df)


def test_signal_predicts_next_return_at_the_configured_strength(signal_market: pd.DataFrame) -> None:
    r = _log_returns(signal_market)
    signal = signal_market["signal"].to_numpy()
    assert signal_market["signal"].dtype == np.float64
    next_corr = np.corrcoef(signal[:-1], r)[0, 1]
    assert next_corr**2 == pytest.approx(0.1, abs=0.02)
    same_bar_corr = np.corrcoef(signal[1:], r)[0, 1]  # no look-ahead the other way
    assert abs(same_bar_corr) < 0.01


def test_signal_is_independent_of_its_own_bar(signal_market: pd.DataFrame) -> None:
    signal = signal_market["signal"].to_numpy()
    intrabar = np.log(signal_market["high"].to_numpy() / signal_market["low"].to_numpy())
    body = np.log(signal_market["close"].to_numpy() / signal_market["open"].to_numpy())
    assert abs(np.corrcoef(signal, body)[0, 1]) < 0.01
    assert abs(np.corrcoef(signal, intrabar)[0, 1]) < 0.02


def test_oracle_earns_mean_absolute_signal(signal_market: pd.DataFrame) -> None:
    earned = oracle_log_returns(signal_market)
    signal = signal_market["signal"].to_numpy()
    assert earned.mean() == pytest.approx(np.abs(signal).mean(), rel=0.1)
    assert earned.mean() > 0
    pos = oracle_positions(signal_market)
    assert set(np.unique(pos)) <= {-1.0, 0.0, 1.0}


def test_full_strength_signal_announces_the_whole_next_return() -> None:
    cfg = SyntheticConfig(n_bars=2_000, seed=1, signal_strength=1.0, regime_persistence=0.0)
    df = generate_synthetic(cfg, "5m")
    r = _log_returns(df)
    residual = r - df["signal"].to_numpy()[:-1]  # only the trend drift is left
    sigma0 = 0.6 * math.sqrt(TIMEFRAME_MS["5m"] / (365 * 86_400_000))
    assert np.abs(residual).max() <= 0.05 * sigma0 * (1 + 1e-9)


def test_prices_stay_finite_with_extreme_persistence() -> None:
    cfg = SyntheticConfig(n_bars=1_000_000, seed=0, regime_persistence=0.9999999, annual_vol=5.0)
    df = generate_synthetic(cfg, "1m")
    assert np.isfinite(df["close"]).all()
    assert df["close"].min() > 0


def test_bad_timeframe_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"base_timeframe='7m' is not supported; use one of 1m, 5m"):
        generate_synthetic(_cfg(), "7m")


def test_bad_start_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"data.synthetic.start='yesterday-ish' is not an ISO date"):
        generate_synthetic(_cfg(start="yesterday-ish"), "5m")


def test_frame_round_trips_through_load_ohlcv(tmp_path: Path) -> None:
    df = generate_synthetic(_cfg(signal_strength=0.3), "15m")
    path = tmp_path / "synthetic.parquet"
    df.reset_index().to_parquet(path)
    pd.testing.assert_frame_equal(load_ohlcv(path), df)
