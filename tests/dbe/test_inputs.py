"""DBE inputs: relative ATR, trend strength and the causal rolling percentile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.dbe import dbe_inputs, rolling_percentile


def test_rolling_percentile_by_hand() -> None:
    pct = rolling_percentile(np.array([1.0, 2.0, 3.0, 2.5, 0.5]), window=3)
    # t0: one value -> 0.5; t1: 2 above 1 -> 1; t2: 3 highest -> 1; t3: 2.5 in [2, 3, 2.5] -> 1/2; t4: lowest -> 0
    np.testing.assert_allclose(pct, [0.5, 1.0, 1.0, 0.5, 0.0])


def test_rolling_percentile_ignores_nan_and_gives_neutral_for_nan() -> None:
    pct = rolling_percentile(np.array([np.nan, np.nan, 1.0, 2.0, np.nan, 0.5]), window=4)
    np.testing.assert_allclose(pct, [0.5, 0.5, 0.5, 1.0, 0.5, 0.0])


def test_rolling_percentile_is_causal() -> None:
    rng = np.random.default_rng(3)
    x = rng.lognormal(size=3_000)
    full = rolling_percentile(x, window=200)
    for cut in (1, 50, 199, 200, 1_234, 2_999):
        np.testing.assert_array_equal(rolling_percentile(x[:cut], window=200), full[:cut])


def test_rolling_percentile_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"window=1 must be >= 2"):
        rolling_percentile(np.ones(5), window=1)
    with pytest.raises(ValueError, match=r"1-D series, got shape \(2, 2\)"):
        rolling_percentile(np.ones((2, 2)), window=3)


def _btc(path: Path, n: int = 6_000) -> pd.DataFrame:
    return pd.read_csv(path, nrows=n)


def test_dbe_inputs_on_real_candles_are_bounded_and_causal(btc_5m_path: Path) -> None:
    df = _btc(btc_5m_path)
    close, high, low = (df[c].to_numpy() for c in ("close", "high", "low"))
    atr_rel, trend = dbe_inputs(close, high, low)
    assert atr_rel.shape == trend.shape == close.shape
    assert np.isnan(atr_rel[:14]).all()
    assert (atr_rel[14:] > 0).all() and (atr_rel[14:] < 0.1).all()
    assert (np.abs(trend) <= 1.0).all()
    assert np.isfinite(trend).all()
    assert (trend > 0.5).any() and (trend < -0.5).any()
    for cut in (100, 2_500, 5_999):
        a_cut, t_cut = dbe_inputs(close[:cut], high[:cut], low[:cut])
        np.testing.assert_array_equal(a_cut, atr_rel[:cut])
        np.testing.assert_array_equal(t_cut, trend[:cut])


def test_dbe_inputs_rejects_bad_arguments() -> None:
    x = np.linspace(100.0, 110.0, 50)
    with pytest.raises(ValueError, match="equal length"):
        dbe_inputs(x, x[:-1], x)
    with pytest.raises(ValueError, match="trend_window=1 must be >= 2"):
        dbe_inputs(x, x + 1, x - 1, trend_window=1)
