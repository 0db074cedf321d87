"""Walk-forward: folds train on their window and test on the next, per seed, with mean and 95 % CI aggregates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.cli import main
from bot.config import load_config
from bot.data import Fold
from bot.errors import ConfigError
from bot.evaluation.baselines import t_quantile_975
from bot.evaluation.walk_forward import FoldRun, WalkForwardResult, fold_dataset, plan_folds
from tests.support.market_builder import make_market, random_ohlcv


def test_fold_dataset_fits_the_scaler_on_the_fold_train_rows_only() -> None:
    market = make_market(random_ohlcv(1000, seed=1))
    cfg = load_config(None, ["splits.train_fraction=0.6", "splits.validation_fraction=0.2"])
    dataset = fold_dataset(market, cfg, Fold(range(100, 500), range(550, 700)))
    assert dataset.splits == {"train": range(100, 400), "validation": range(400, 500), "test": range(550, 700)}
    assert dataset.scaler is not None
    np.testing.assert_allclose(dataset.scaler.mean, market.features[100:400].mean(axis=0), rtol=1e-5)
    no_validation = load_config(None, ["splits.validation_fraction=0"])
    with pytest.raises(ConfigError, match="splits.validation_fraction > 0"):
        fold_dataset(market, no_validation, Fold(range(0, 500), range(550, 700)))


def test_plan_folds_rolling_blocks_or_expanding_history_with_the_same_test_windows() -> None:
    cfg = load_config(None, ["splits.walk_forward.embargo_bars=10", "splits.walk_forward.test_fraction=0.2"])
    rolling = plan_folds(1000, cfg, 3)
    assert rolling == [
        Fold(range(0, 256), range(266, 333)),
        Fold(range(333, 589), range(599, 666)),
        Fold(range(666, 923), range(933, 1000)),
    ]
    expanding = plan_folds(1000, cfg, 3, "expanding")
    assert [f.test for f in expanding] == [f.test for f in rolling]
    assert [f.train for f in expanding] == [range(0, 256), range(0, 589), range(0, 923)]
    for fold in expanding:
        assert fold.train.stop + 10 == fold.test.start  # the embargo still separates training and test rows
    with pytest.raises(ConfigError, match="at least 2 folds"):
        plan_folds(1000, cfg, 1)
    with pytest.raises(ConfigError, match="'sliding' is not one of"):
        plan_folds(1000, cfg, 3, "sliding")  # type: ignore[arg-type]


def _run(fold: int, seed: int, agent_return: float) -> FoldRun:
    metrics = {
        "agent": {"total_return": agent_return, "sharpe": 1.0},
        "buy_and_hold": {"total_return": 0.0, "sharpe": 0.0},
    }
    return FoldRun(fold, seed, range(0, 10), range(12, 20), ("a", "b"), Path("x"), metrics)


def test_aggregate_is_the_mean_and_t_interval_over_every_fold_and_seed() -> None:
    result = WalkForwardResult(2, (1, 2), (_run(0, 1, 0.1), _run(0, 2, 0.2), _run(1, 1, 0.3), _run(1, 2, 0.4)))
    mean, low, high = result.aggregate()["total_return"]
    half = t_quantile_975(3) * np.std([0.1, 0.2, 0.3, 0.4], ddof=1) / 2
    assert mean == pytest.approx(0.25) and (low, high) == pytest.approx((0.25 - half, 0.25 + half))
    assert result.aggregate("buy_and_hold")["sharpe"] == (0.0, 0.0, 0.0)
    assert "2 folds x 2 seed(s)" in result.summary() and "buy_and_hold" in result.summary()


def test_walk_forward_cli_with_two_tiny_folds(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["evaluate", "--checkpoint", str(tiny_run), "--out", str(tmp_path), "--cv-folds", "2", "--seeds", "2"]
    overrides = [
        "evaluation.n_random_runs=2",
        "training.total_timesteps=128",
        "training.eval_freq=0",
        "training.checkpoint_freq=0",
        "splits.walk_forward.embargo_bars=24",
    ]
    assert main(args + [a for o in overrides for a in ("--set", o)]) == 0
    printed = capsys.readouterr().out
    assert "Walk-forward: 2 folds x 2 seed(s)" in printed
    payload = json.loads((tmp_path / "walk_forward" / "walk_forward.json").read_text())
    runs = payload["runs"]
    assert [(r["fold"], r["seed"]) for r in runs] == [(0, 42), (0, 43), (1, 42), (1, 43)]
    for run in runs:
        assert run["train_rows"][1] + 24 == run["test_rows"][0]  # the embargo separates train and test
        assert Path(run["run_dir"], "model.zip").is_file()
        assert set(run["metrics"]) >= {"agent", "buy_and_hold", "flat", "random_paced"}
        assert run["train_period"][1] < run["test_period"][0] and run["train_seconds"] > 0
    assert runs[0]["test_rows"][1] <= runs[2]["train_rows"][0]  # folds do not overlap
    assert runs[0]["metrics"]["buy_and_hold"] == runs[1]["metrics"]["buy_and_hold"]  # same fold, same bars
    aggregate = payload["aggregate"]["agent"]["total_return"]
    assert aggregate["ci95_low"] <= aggregate["mean"] <= aggregate["ci95_high"]
    assert "| fold | seed |" in (tmp_path / "walk_forward" / "walk_forward.md").read_text()
