"""build_market / build_dataset on the real 2023 data and on the synthetic market."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.config import BotConfig, load_config
from bot.data import Dataset, FeatureScaler, build_dataset, build_market
from bot.data.dataset import schema_hash
from bot.errors import ConfigError, DataError, DataValidationError, SchemaMismatchError
from tests.data.ohlcv_files import ohlcv_frame, write_ohlcv


def _file_cfg(path: Path, *overrides: str) -> BotConfig:
    return load_config(None, ["data.source=file", f"data.path={path}", *overrides])


@pytest.fixture(scope="module")
def real_dataset(btc_5m_path: Path) -> tuple[BotConfig, Dataset]:
    cfg = _file_cfg(btc_5m_path, "data.end=2023-06-01", "splits.embargo_bars=288")
    return cfg, build_dataset(cfg)


def test_build_dataset_on_real_data(real_dataset: tuple[BotConfig, Dataset]) -> None:
    cfg, ds = real_dataset
    assert isinstance(ds, Dataset)
    m = ds.market
    n = len(m)
    assert n == 151 * 288 - 16  # Jan..May 2023 minus the outage
    assert m.open_time_ms.dtype == np.int64 and np.all(np.diff(m.open_time_ms) > 0)
    assert m.features.dtype == np.float32 and m.features.shape == (n, 30)
    assert m.feature_names[0] == "5m.log_return" and m.feature_names[-1] == "4h.volume_zscore"
    assert m.base_ms == 300_000 and m.symbol == "BTC/USDT"
    # two segments around the 2023-03-24 outage, each starting with an invalid warm-up
    assert m.segment_id.dtype == np.int32 and set(np.unique(m.segment_id)) == {0, 1}
    second = int(np.argmax(m.segment_id == 1))
    assert not m.valid[second : second + 100].any() and m.valid[second - 1]
    assert np.isfinite(m.features[m.valid]).all()
    assert np.isnan(m.features[~m.valid]).any(axis=1).all()
    # splits with the 288-bar embargo
    assert ds.splits["train"].start == 0
    assert ds.splits["validation"].start - ds.splits["train"].stop == 288
    assert ds.splits["test"].stop == n
    # observation features: normalised with train statistics, finite, 0 on invalid rows, clipped
    obs = ds.obs_features
    assert obs.dtype == np.float32 and np.isfinite(obs).all()
    assert (obs[~m.valid] == 0).all() and np.abs(obs).max() <= cfg.features.clip
    train = ds.splits["train"]
    train_obs = obs[train.start : train.stop][m.valid[train.start : train.stop]]
    np.testing.assert_allclose(train_obs.mean(axis=0), 0.0, atol=0.05)
    assert ds.scaler is not None and ds.scaler.feature_names == m.feature_names
    assert len(ds.schema_hash) == 16 and len(m.fingerprint) == 16


def test_saved_scaler_reproduces_obs_and_rejects_other_schema(
    real_dataset: tuple[BotConfig, Dataset], tmp_path: Path, btc_5m_path: Path
) -> None:
    cfg, ds = real_dataset
    path = tmp_path / "scaler.json"
    assert ds.scaler is not None
    ds.scaler.save(path)
    again = build_dataset(cfg, FeatureScaler.load(path))
    np.testing.assert_array_equal(again.obs_features, ds.obs_features)
    assert again.schema_hash == ds.schema_hash
    other = _file_cfg(btc_5m_path, "data.end=2023-02-01", "data.timeframes=[5m, 1h]")
    with pytest.raises(SchemaMismatchError, match=r"missing \['4h\.adx'"):
        build_dataset(other, FeatureScaler.load(path))


def test_fingerprint_and_schema_hash_are_stable_and_sensitive(tmp_path: Path) -> None:
    frame = ohlcv_frame(3000)
    path = write_ohlcv(frame, tmp_path / "bars.parquet")
    cfg = _file_cfg(path, "data.timeframes=[5m, 1h]")
    a, b = build_market(cfg), build_market(cfg)
    assert a.fingerprint == b.fingerprint
    frame.iloc[100, 3] *= 1.0001
    frame.iloc[100, 1] = frame.iloc[100, [0, 1, 3]].max()
    assert (
        build_market(_file_cfg(write_ohlcv(frame, tmp_path / "b2.parquet"), "data.timeframes=[5m, 1h]")).fingerprint
        != a.fingerprint
    )
    names = a.feature_names
    assert schema_hash(names, cfg.features) == schema_hash(names, cfg.features)
    assert schema_hash(names, cfg.features) != schema_hash(names, cfg.features.model_copy(update={"rsi_period": 7}))
    assert schema_hash(names, cfg.features) != schema_hash(names, cfg.features.model_copy(update={"normalize": "none"}))
    assert schema_hash(names, cfg.features) != schema_hash(names[:-1], cfg.features)


def test_synthetic_source_with_signal() -> None:
    cfg = load_config(
        None,
        [
            "data.synthetic.n_bars=3000",
            "data.synthetic.signal_strength=0.5",
            "data.timeframes=[5m, 1h]",
            "features.indicators=[log_return, signal]",
        ],
    )
    ds = build_dataset(cfg)
    assert ds.market.feature_names == ("5m.log_return", "5m.signal", "1h.log_return")
    assert len(ds.market) == 3000 and ds.market.valid[30:].all()


def test_signal_feature_on_real_data_names_the_fix(btc_1h_path: Path) -> None:
    cfg = _file_cfg(btc_1h_path, "data.base_timeframe=1h", "data.timeframes=[1h]", "features.indicators=[signal]")
    with pytest.raises(DataError, match="no 'signal' column"):
        build_market(cfg)


def test_base_timeframe_mismatch(btc_1h_path: Path) -> None:
    with pytest.raises(DataValidationError, match=r"bars are 1h apart .* set data.base_timeframe=1h"):
        build_market(_file_cfg(btc_1h_path))


def test_date_range_cut_and_errors(btc_1h_path: Path) -> None:
    cfg = _file_cfg(
        btc_1h_path,
        "data.base_timeframe=1h",
        "data.timeframes=[1h, 4h]",
        "data.start=2023-02-01",
        "data.end=2023-03-01",
    )
    market = build_market(cfg)
    assert len(market) == 28 * 24
    with pytest.raises(DataError, match=r"no bars between data.start='2030-01-01'.*widen or remove"):
        build_market(cfg.model_copy(update={"data": cfg.data.model_copy(update={"start": "2030-01-01", "end": None})}))
    with pytest.raises(ConfigError, match="data.start='later' is not an ISO date"):
        build_market(cfg.model_copy(update={"data": cfg.data.model_copy(update={"start": "later"})}))


def test_gap_policy_fail_and_ffill_on_real_data(btc_5m_path: Path) -> None:
    window = ("data.start=2023-03-20", "data.end=2023-03-28", "data.timeframes=[5m, 1h]")
    with pytest.raises(DataValidationError, match=r"1 gap\(s\) in the 5m bars, the first: 16 missing bars between"):
        build_market(_file_cfg(btc_5m_path, *window, "data.gap_policy=fail"))
    filled = build_market(_file_cfg(btc_5m_path, *window, "data.gap_policy=ffill", "data.max_ffill_bars=20"))
    assert len(filled) == 8 * 288 and not filled.segment_id.any()
    still_split = build_market(_file_cfg(btc_5m_path, *window, "data.gap_policy=ffill", "data.max_ffill_bars=3"))
    assert len(still_split) == 8 * 288 - 16 and still_split.segment_id.max() == 1


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found; check data.path"):
        build_market(_file_cfg(tmp_path / "absent.csv.gz"))


def test_scaler_ignores_validation_and_test_data(tmp_path: Path) -> None:
    """Rewriting every bar after the train split leaves the fitted statistics bit for bit unchanged."""
    frame = ohlcv_frame(4000, seed=3)
    overrides = ("data.timeframes=[5m, 1h]", "splits.embargo_bars=12")
    first = build_dataset(_file_cfg(write_ohlcv(frame, tmp_path / "a.parquet"), *overrides))
    train_stop = first.splits["train"].stop
    changed = frame.copy()
    changed.iloc[train_stop:, :4] *= 3.0
    changed.iloc[train_stop:, 4] += 1000.0
    second = build_dataset(_file_cfg(write_ohlcv(changed, tmp_path / "b.parquet"), *overrides))
    assert first.scaler is not None and second.scaler is not None
    np.testing.assert_array_equal(first.scaler.mean, second.scaler.mean)
    np.testing.assert_array_equal(first.scaler.std, second.scaler.std)
    assert not np.array_equal(first.obs_features[train_stop + 50 :], second.obs_features[train_stop + 50 :])
