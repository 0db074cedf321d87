"""FeatureScaler: fit on the training rows only, transform, clip, save/load round trip, schema checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.data import FeatureScaler
from bot.errors import DataError, SchemaMismatchError

NAMES = ("5m.a", "5m.b", "1h.c")


def _features(n: int = 100, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal([1.0, -5.0, 100.0], [2.0, 0.1, 30.0], size=(n, 3))


def test_fit_uses_only_valid_rows() -> None:
    x = _features()
    valid = np.zeros(100, dtype=bool)
    valid[10:60] = True
    x[~valid] = 1e6  # warm-up garbage and later splits must not leak into the statistics
    scaler = FeatureScaler.fit(x, valid, NAMES)
    np.testing.assert_allclose(scaler.mean, x[10:60].mean(axis=0))
    np.testing.assert_allclose(scaler.std, x[10:60].std(axis=0))


def test_changing_test_rows_does_not_change_the_scaler() -> None:
    x = _features()
    train = np.r_[np.ones(70, bool), np.zeros(30, bool)]
    before = FeatureScaler.fit(x, train, NAMES)
    x[70:] = np.random.default_rng(9).normal(0, 1000, size=(30, 3))
    after = FeatureScaler.fit(x, train, NAMES)
    np.testing.assert_array_equal(before.mean, after.mean)
    np.testing.assert_array_equal(before.std, after.std)


def test_transform_normalises_clips_and_zeroes_invalid_rows() -> None:
    x = _features()
    x[0] = np.nan
    valid = np.isfinite(x).all(axis=1)
    scaler = FeatureScaler.fit(x, valid, NAMES, clip=3.0)
    x[5, 2] = 1e9
    out = scaler.transform(x, valid)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    np.testing.assert_array_equal(out[0], 0.0)
    assert out[5, 2] == 3.0
    assert np.abs(out).max() <= 3.0
    np.testing.assert_allclose(out[1:5], ((x[1:5] - scaler.mean) / scaler.std).astype(np.float32), rtol=1e-6)


def test_constant_feature_gets_unit_std() -> None:
    x = _features()
    x[:, 1] = 4.0
    scaler = FeatureScaler.fit(x, np.ones(100, bool), NAMES)
    assert scaler.std[1] == 1.0
    assert (scaler.transform(x, np.ones(100, bool))[:, 1] == 0).all()


def test_mode_none_only_clips() -> None:
    x = _features()
    scaler = FeatureScaler.fit(x, np.ones(100, bool), NAMES, mode="none", clip=50.0)
    out = scaler.transform(x, np.ones(100, bool))
    np.testing.assert_allclose(out[:, :2], x[:, :2].astype(np.float32))
    assert out[:, 2].max() == 50.0


def test_save_load_round_trip(tmp_path: Path) -> None:
    x = _features()
    scaler = FeatureScaler.fit(x, np.ones(100, bool), NAMES, clip=4.0)
    path = tmp_path / "scaler.json"
    scaler.save(path)
    loaded = FeatureScaler.load(path)
    assert loaded.feature_names == NAMES and loaded.mode == "zscore" and loaded.clip == 4.0
    np.testing.assert_array_equal(loaded.mean, scaler.mean)
    np.testing.assert_array_equal(loaded.std, scaler.std)
    np.testing.assert_array_equal(loaded.transform(x, np.ones(100, bool)), scaler.transform(x, np.ones(100, bool)))
    assert [p.name for p in tmp_path.iterdir()] == ["scaler.json"]  # no temp file left behind


def test_load_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"hello": 1}))
    with pytest.raises(DataError, match=r"other\.json: not a feature scaler file"):
        FeatureScaler.load(path)
    with pytest.raises(DataError, match=r"missing\.json: not a feature scaler file"):
        FeatureScaler.load(tmp_path / "missing.json")


def test_fit_without_valid_rows_names_the_fix() -> None:
    with pytest.raises(DataError, match="no valid training rows.*more data"):
        FeatureScaler.fit(_features(), np.zeros(100, bool), NAMES)


def test_schema_checks() -> None:
    scaler = FeatureScaler.fit(_features(), np.ones(100, bool), NAMES)
    scaler.check_names(NAMES)
    with pytest.raises(SchemaMismatchError, match=r"missing \['1h\.c'\], unexpected \['4h\.c'\]"):
        scaler.check_names(("5m.a", "5m.b", "4h.c"))
    with pytest.raises(SchemaMismatchError, match="features have 2 columns but the scaler was fit on 3"):
        scaler.transform(np.zeros((4, 2)), np.ones(4, bool))
