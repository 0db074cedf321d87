"""The in-sample warning decides by the candles: same bars at the same times as the training run's train/validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.config import BotConfig, SyntheticConfig, load_config
from bot.data import build_dataset, build_market, generate_synthetic
from bot.evaluation.in_sample import in_sample_warning, seen_bars
from tests.support.market_builder import make_market, random_ohlcv

SPLITS = ["splits.train_fraction=0.6", "splits.validation_fraction=0.2", "splits.embargo_bars=0"]


def _candles(seed: int, n: int = 1500) -> pd.DataFrame:
    return generate_synthetic(SyntheticConfig(n_bars=n, seed=seed), "5m")


def _cfg(path: Path, *extra: str) -> BotConfig:
    return load_config(None, ["data.source=file", f"data.path={path}", "data.timeframes=[5m]", *SPLITS, *extra])


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """train.csv: the first 1000 bars of a market; full.csv: the same market, 1500 bars; other.csv: another market."""
    full = _candles(seed=3)
    paths = {name: tmp_path / f"{name}.csv" for name in ("train", "full", "other")}
    full.iloc[:1000].to_csv(paths["train"])
    full.to_csv(paths["full"])
    _candles(seed=4).to_csv(paths["other"])
    return paths


def test_later_bars_of_a_longer_file_are_out_of_sample(files: dict[str, Path]) -> None:
    trained = _cfg(files["train"])
    fingerprint = build_market(trained).fingerprint
    dataset = build_dataset(_cfg(files["full"]))  # test split: rows 1200.. of 1500, after the 1000 training bars
    assert in_sample_warning(trained, fingerprint, dataset, "test") is None


def test_the_training_bars_in_another_file_are_found(files: dict[str, Path]) -> None:
    # another path, other splits: a config comparison cannot tell, the candles can
    trained = _cfg(files["train"])
    fingerprint = build_market(trained).fingerprint
    dataset = build_dataset(_cfg(files["full"], "splits.train_fraction=0.3", "splits.validation_fraction=0.1"))
    test = dataset.splits["test"]
    assert (test.start, test.stop) == (600, 1500)
    warning = in_sample_warning(trained, fingerprint, dataset, "test")
    assert warning is not None and warning.startswith("IN-SAMPLE: the evaluated bars overlap")
    # training split train.csv as rows 0..599 (train) and 600..799 (validation): test rows 600..799 are validation bars
    assert "of the 900 evaluated bars, 200 are validation-split bars" in warning
    assert "train-split" not in warning
    times = dataset.market.open_time_ms
    assert str(np.datetime64(int(times[600]), "ms")) in warning and str(np.datetime64(int(times[799]), "ms")) in warning


def test_other_candles_at_the_same_times_are_not_in_sample(files: dict[str, Path]) -> None:
    trained = _cfg(files["train"])
    fingerprint = build_market(trained).fingerprint
    dataset = build_dataset(_cfg(files["other"], "splits.train_fraction=0.1", "splits.validation_fraction=0.1"))
    assert in_sample_warning(trained, fingerprint, dataset, "test") is None


def test_the_same_data_and_splits_flag_the_validation_split_only(files: dict[str, Path]) -> None:
    trained = _cfg(files["train"])
    dataset = build_dataset(trained)
    fingerprint = dataset.market.fingerprint
    assert in_sample_warning(trained, fingerprint, dataset, "test") is None
    validation = in_sample_warning(trained, fingerprint, dataset, "validation")
    assert validation is not None and "of the 200 evaluated bars, 200 are validation-split bars" in validation
    train = in_sample_warning(trained, fingerprint, dataset, "train")
    assert train is not None and "600 are train-split bars" in train


def test_training_data_gone_or_changed_cannot_be_checked(files: dict[str, Path]) -> None:
    trained = _cfg(files["train"])
    fingerprint = build_market(trained).fingerprint
    dataset = build_dataset(_cfg(files["full"]))
    _candles(seed=5, n=1000).to_csv(files["train"])  # re-downloaded or overwritten since training
    changed = in_sample_warning(trained, fingerprint, dataset, "test")
    assert changed is not None and f"the manifest says {fingerprint}" in changed
    assert changed.startswith("cannot check whether the evaluated bars are in-sample")
    files["train"].unlink()
    gone = in_sample_warning(trained, fingerprint, dataset, "test")
    assert gone is not None and "training data cannot be loaded" in gone


def test_seen_bars_needs_the_same_candle_at_the_same_time() -> None:
    market = make_market(random_ohlcv(100, seed=1))
    assert seen_bars(market, range(50, 100), market, range(0, 50)) is None
    overlap = seen_bars(market, range(40, 100), market, range(0, 50))
    assert overlap is not None and overlap.n_bars == 10
    assert (overlap.first_ms, overlap.last_ms) == (int(market.open_time_ms[40]), int(market.open_time_ms[49]))
    other = make_market(random_ohlcv(100, seed=2))  # same times, other prices
    assert seen_bars(other, range(0, 100), market, range(0, 100)) is None
    assert seen_bars(market, range(0, 0), market, range(0, 50)) is None
