"""Live observations: the checkpoint's schema is enforced and a window never spans warm-up rows or gaps."""

from __future__ import annotations

import pytest

from bot.errors import DataError, SchemaMismatchError
from bot.live.observation import DBEState, ObservationBuilder, PortfolioView
from tests.support.bybit_candles import make_candles
from tests.support.bybit_trading import fit_scaler, small_config


def test_observation_shapes_and_portfolio_entries() -> None:
    cfg = small_config()
    candles = make_candles(200)
    builder = ObservationBuilder(cfg, fit_scaler(cfg, candles), None, (8, 4))
    live = builder.market(candles)
    window = builder.market_window(live)
    assert window.shape == (8, 4) and window.dtype.name == "float32"
    dbe = builder.dbe(live, DBEState(), 0.0, None)
    view = PortfolioView(11_000.0, 100.0, 10_900.0, 0.5, 80, 0.02, 10_000.0)
    vec = builder.portfolio(view, dbe)
    assert vec.shape == (12,) and vec[0] == pytest.approx(0.5) and vec[3] == 1.0  # 80 bars > episode_length 64
    assert vec[6] == 1.0  # neutral DBE mode one-hot


def test_schema_hash_and_feature_names_are_checked() -> None:
    cfg = small_config()
    candles = make_candles(200)
    with pytest.raises(SchemaMismatchError, match="trained on 'abc'"):
        ObservationBuilder(cfg, fit_scaler(cfg, candles), "abc", None).market(candles)
    other = small_config().model_copy(update={"features": cfg.features.model_copy(update={"rsi_period": 9})})
    with pytest.raises(SchemaMismatchError, match="trained on"):
        ObservationBuilder(other, fit_scaler(other, candles), "deadbeef", None).market(candles)


def test_window_after_a_gap_waits_for_more_bars() -> None:
    cfg = small_config()
    candles = make_candles(200)
    gapped = candles.drop(candles.index[195])  # the newest rows start a fresh segment, still in warm-up
    builder = ObservationBuilder(cfg, fit_scaler(cfg, candles), None, None)
    with pytest.raises(DataError, match="not all usable"):
        builder.market_window(builder.market(gapped))
    with pytest.raises(DataError, match="only 5 closed candles"):
        builder.market_window(builder.market(candles.iloc[:5]))
