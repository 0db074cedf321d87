"""Chronological splits with embargo, and walk-forward folds."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from bot.config import SplitsConfig, WalkForwardConfig
from bot.data import split_ranges, walk_forward_folds
from bot.errors import ConfigError, DataError


def test_fraction_boundaries_without_embargo() -> None:
    ranges = split_ranges(1000, SplitsConfig(train_fraction=0.7, validation_fraction=0.15))
    assert ranges == {"train": range(0, 700), "validation": range(700, 850), "test": range(850, 1000)}


def test_fraction_boundaries_with_embargo() -> None:
    ranges = split_ranges(1000, SplitsConfig(train_fraction=0.6, validation_fraction=0.2, embargo_bars=10))
    assert ranges == {"train": range(0, 600), "validation": range(610, 800), "test": range(810, 1000)}


def test_no_validation_split() -> None:
    ranges = split_ranges(100, SplitsConfig(train_fraction=0.8, validation_fraction=0.0, embargo_bars=3))
    assert ranges == {"train": range(0, 80), "validation": range(80, 80), "test": range(83, 100)}


def test_date_boundaries() -> None:
    times = pd.date_range("2023-01-01", periods=24 * 10, freq="1h", tz="UTC")
    ms = times.as_unit("ms").asi8
    cfg = SplitsConfig(method="date", train_end="2023-01-06", validation_end="2023-01-08T12:00", embargo_bars=2)
    ranges = split_ranges(len(ms), cfg, ms)
    assert times[ranges["train"].stop - 1] == pd.Timestamp("2023-01-05 23:00", tz="UTC")
    assert times[ranges["validation"].start] == pd.Timestamp("2023-01-06 02:00", tz="UTC")
    assert times[ranges["test"].start] == pd.Timestamp("2023-01-08 14:00", tz="UTC")
    assert ranges["test"].stop == len(ms)


@pytest.mark.parametrize(
    ("n", "cfg"),
    [
        (1000, SplitsConfig()),
        (997, SplitsConfig(train_fraction=0.5, validation_fraction=0.3, embargo_bars=17)),
        (50, SplitsConfig(train_fraction=0.3, validation_fraction=0.3, embargo_bars=20)),
    ],
)
def test_splits_are_disjoint_chronological_and_embargoed(n: int, cfg: SplitsConfig) -> None:
    ranges = split_ranges(n, cfg)
    ordered = [ranges[k] for k in ("train", "validation", "test")]
    non_empty = [r for r in ordered if len(r)]
    for a, b in itertools.pairwise(non_empty):
        assert b.start - a.stop >= cfg.embargo_bars
    used = np.concatenate([np.arange(r.start, r.stop) for r in ordered])
    assert len(np.unique(used)) == len(used) and used.max() < n


def test_empty_test_split_names_the_sizes_and_fix() -> None:
    cfg = SplitsConfig(train_fraction=0.7, validation_fraction=0.2, embargo_bars=50)
    with pytest.raises(DataError, match=r"\['test'\] would be empty \(train=70, validation=0, test=0 rows of 100"):
        split_ranges(100, cfg)


def test_inverted_dates_and_bad_dates() -> None:
    ms = pd.date_range("2023-01-01", periods=100, freq="1h", tz="UTC").as_unit("ms").asi8
    with pytest.raises(ConfigError, match="splits.train_end='2023-01-04' is after splits.validation_end"):
        split_ranges(100, SplitsConfig(method="date", train_end="2023-01-04", validation_end="2023-01-02"), ms)
    with pytest.raises(ConfigError, match="splits.train_end='soon' is not an ISO date"):
        split_ranges(100, SplitsConfig(method="date", train_end="soon", validation_end="2023-01-02"), ms)


def test_walk_forward_folds_are_chronological_non_overlapping_and_embargoed() -> None:
    cfg = WalkForwardConfig(n_folds=4, embargo_bars=12, test_fraction=0.25)
    folds = walk_forward_folds(1003, cfg, start=100)
    assert len(folds) == 4
    assert folds[0].train.start == 100 and folds[-1].test.stop == 1103
    previous_end = 100
    for fold in folds:
        assert fold.train.start >= previous_end
        assert fold.test.start - fold.train.stop == 12
        assert len(fold.test) == round((fold.test.stop - fold.train.start) * 0.25)
        previous_end = fold.test.stop
    assert folds[0] == (range(100, 276), range(288, 350))


def test_walk_forward_too_many_folds() -> None:
    with pytest.raises(DataError, match=r"walk-forward fold 0 of 10 over 100 rows has 0 train .*fewer"):
        walk_forward_folds(100, WalkForwardConfig(n_folds=10, embargo_bars=20, test_fraction=0.5))
