"""env.mode universe end to end on the real BTC and ETH 2023 candles: 2 workers train, every symbol is validated and
evaluated, per-symbol scalers travel with the checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.cli import main
from bot.config import load_config
from bot.data import SCALERS, SymbolScalers, Universe, build_universe
from bot.env.universe_env import UniverseEnv
from bot.errors import ConfigError
from bot.training.trainer import env_factory, train
from bot.training.universe import build_training_data, mean_result
from bot.training.validation import ValidationResult
from tests.support.training import only_run, real_data_overrides, set_args


def _overrides(shared_data: Path, tmp_path: Path) -> list[str]:
    single = real_data_overrides(shared_data / "binance_spot_2023" / "BTC_USDT-5m.csv.gz", tmp_path)
    kept = [
        o for o in single if not o.startswith(("data.source", "data.path", "data.symbol", "data.start", "data.end"))
    ]
    return [
        *kept,
        "env.mode=universe",
        "data.source=file",
        "data.symbol=null",
        f"data.dir={shared_data / 'binance_spot_2023'}",
        "data.symbols=[BTC/USDT, ETH/USDT]",
        # three weeks around the 2023-03-24 outage: both symbols split there, with validation and test after it
        "data.start=2023-03-06",
        "data.end=2023-03-27",
        "training.total_timesteps=2048",
        "training.checkpoint_freq=1024",
        "training.eval_freq=1024",
    ]


def test_universe_training_with_two_workers_then_per_symbol_evaluation(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overrides = _overrides(shared_data, tmp_path / "ck")
    assert main(["train", "--no-progress", *set_args(overrides)]) == 0
    run = only_run(tmp_path / "ck")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["timesteps"] >= 2048
    cfg = load_config(run / "config.yaml")
    universe = build_universe(cfg)
    assert manifest["data_fingerprint"] == universe.fingerprint and manifest["schema_hash"] == universe.schema_hash
    for folder in (run, run / "best"):
        scalers = SymbolScalers.load(folder)  # every checkpoint holds every symbol's scaler
        assert scalers.symbols == ("BTC/USDT", "ETH/USDT")
        assert [s.to_dict() for s in scalers.scalers] == [s.to_dict() for s in SymbolScalers.of(universe).scalers]
    assert SCALERS in manifest["files"]  # covered by the checkpoint's integrity hashes

    # each of the 2 workers draws from its own symbol
    factory = env_factory(cfg, universe)
    slices = [{e.symbol_ids for e in factory(w, 2) if isinstance(e, UniverseEnv)} for w in range(2)]
    assert slices == [{(0,)}, {(1,)}]

    capsys.readouterr()
    out_dir = tmp_path / "eval"
    assert (
        main(["evaluate", "--checkpoint", str(run), "--which", "best", "--split", "test", "--out", str(out_dir)]) == 0
    )
    summary = json.loads((out_dir / "universe.json").read_text())
    assert [row["symbol"] for row in summary["symbols"]] == ["BTC/USDT", "ETH/USDT"]
    returns = [row["total_return"] for row in summary["symbols"]]
    assert summary["mean"]["total_return"] == pytest.approx(sum(returns) / 2)
    for name in ("BTC_USDT", "ETH_USDT"):
        metrics = json.loads((out_dir / name / "metrics.json").read_text())
        row = next(r for r in summary["symbols"] if r["symbol"].replace("/", "_") == name)
        assert metrics["agent"]["total_return"] == pytest.approx(row["total_return"])
    assert "**mean**" in capsys.readouterr().out

    assert main(["evaluate", "--checkpoint", str(run), "--cv-folds", "2"]) == 2
    assert "--cv-folds and --ensemble evaluate single-symbol runs" in capsys.readouterr().err


def test_mean_of_per_symbol_validation_results() -> None:
    a = ValidationResult(sharpe=1.0, total_return=0.1, max_drawdown=0.2, trades=3, fees=1.0, steps=10)
    b = ValidationResult(sharpe=3.0, total_return=-0.1, max_drawdown=0.4, trades=5, fees=2.0, steps=20)
    mean = mean_result([a, b])
    assert (mean.sharpe, mean.total_return, mean.max_drawdown) == (2.0, 0.0, 0.4)
    assert (mean.trades, mean.fees, mean.steps) == (8, 3.0, 30)
    assert mean_result([a]) is a


def test_a_resumed_universe_run_reuses_its_saved_scalers(tmp_path: Path) -> None:
    basket = ["env.mode=universe", "data.synthetic.assets=2", "data.synthetic.n_bars=2000", "data.timeframes=[5m, 1h]"]
    first = build_training_data(load_config(None, basket))
    assert isinstance(first, Universe)
    SymbolScalers.of(first).save(tmp_path / "scaler.json")
    # a resume with other split fractions would fit other scalers; the saved ones must win
    again = build_training_data(load_config(None, [*basket, "splits.train_fraction=0.5"]), tmp_path)
    assert isinstance(again, Universe)
    for a, b in zip(again.datasets, first.datasets, strict=True):
        np.testing.assert_array_equal(a.obs_features, b.obs_features)


def test_supervised_baselines_refuse_a_universe(tmp_path: Path) -> None:
    basket = ["env.mode=universe", "data.synthetic.assets=2", "data.synthetic.n_bars=2000", "data.timeframes=[5m, 1h]"]
    universe = build_universe(load_config(None, basket))
    with pytest.raises(ConfigError, match="training.algo='rf' fits one symbol; env.mode=universe needs RL"):
        train(load_config(None, [*basket, "training.algo=rf"]), universe, tmp_path)
