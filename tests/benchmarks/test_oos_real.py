"""benchmarks/oos_real.py: the wiring of the real-data walk-forward benchmark (tiny budgets; figures mean nothing)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from bot.evaluation.walk_forward import FoldRun

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "oos_real.py"

#: Two folds of one seed over three months of real BTC/USDT 1h candles, with a few hundred training steps per run.
TINY = [
    "--datasets", "btc1h", "--folds", "2", "--seeds", "1", "--timesteps", "128", "--label", "ci",
    "--set", "data.start=2022-01-01",
    "--set", "data.end=2022-04-01",
    "--set", "env.window=8",
    "--set", "env.episode_length=128",
    "--set", "training.n_envs_per_worker=2",
    "--set", "training.ppo.n_steps=32",
    "--set", "training.ppo.batch_size=64",
    "--set", "training.ppo.n_epochs=1",
    "--set", "training.ppo.net_arch=[16, 16]",
    "--set", "training.eval_freq=0",
    "--set", "evaluation.n_random_runs=2",
]  # fmt: skip


@pytest.fixture(scope="module")
def oos() -> ModuleType:
    """The benchmark script imported as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("oos_real", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["oos_real"] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_two_folds_of_real_btc_1h_end_to_end(
    oos: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    btc1h = oos.SHARED_DATA / oos.DATASETS["btc1h"].file
    if not btc1h.is_file():
        pytest.skip(f"real market data not found at {btc1h} (clone with ../shared beside the repo)")
    out = tmp_path / "oos.json"
    assert oos.main([*TINY, "--out", str(out), "--runs-dir", str(tmp_path / "runs")]) == 0
    printed = capsys.readouterr().out
    assert printed.count("TARGET ") == 3 and "mean net Sharpe >= buy-and-hold's" in printed
    payload = json.loads(out.read_text())
    assert payload["complete"] is True and payload["folds"] == 2 and payload["seeds"] == 1
    entry = payload["datasets"]["btc1h"]
    assert entry["timeframes"] == ["1h", "4h"] and entry["embargo_bars"] == 24
    runs = entry["runs"]
    assert [(r["fold"], r["seed"]) for r in runs] == [(0, 42), (1, 42)]
    for run in runs:
        assert run["train_rows"][1] + 24 == run["test_rows"][0]  # embargo between training and test rows
        assert run["train_period"][1] < run["test_period"][0]
        policies = set(run["metrics"])
        assert {"agent", "buy_and_hold", "flat", "ma_crossover_20_100", "random_paced"} <= policies
        assert set(run["metrics"]["agent"]) == set(oos.REPORT_KEYS)
    assert runs[0]["test_rows"][1] <= runs[1]["train_rows"][0]  # rolling folds share no bars
    assert (tmp_path / "runs" / "ci_btc1h_fold0_seed42" / "best" / "model.zip").is_file()
    sharpe = entry["aggregate"]["agent"]["sharpe"]
    assert sharpe["ci95_low"] <= sharpe["mean"] <= sharpe["ci95_high"]
    assert entry["aggregate"]["flat"]["total_return"]["mean"] == 0.0
    assert entry["targets"][0]["name"] == "mean net Sharpe >= buy-and-hold's and > 0"
    assert all(isinstance(t["passed"], bool) for t in entry["targets"])


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--folds", "1"], "--folds=1 must be >= 2"),
        (["--seeds", "0"], "--seeds=0 must be >= 1"),
        (["--jobs", "0"], "--jobs=0 must be >= 1"),
        (["--timesteps", "0"], "--timesteps=0 must be >= 1"),
        (["--datasets", "btc1h,doge"], "unknown \\['doge'\\]"),
        (["--set", "env.decision_every"], "is not KEY=VALUE"),
        (["--label", "a/b"], "--label='a/b' must be"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(
    oos: ModuleType, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        oos.main(["--datasets", "syn_trend", *flags])
    assert exit_info.value.code == 2
    assert re.search(message, capsys.readouterr().err)


def test_missing_data_folder_is_a_clear_error(
    oos: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(oos, "SHARED_DATA", tmp_path / "nowhere")
    with pytest.raises(SystemExit):
        oos.main(["--datasets", "btc1h"])
    err = capsys.readouterr().err
    assert "real market data not found" in err and "nowhere" in err and "--datasets syn_trend" in err


def test_dry_run_prints_the_folds_and_trains_nothing(
    oos: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.json"
    assert oos.main(["--datasets", "syn_trend", "--dry-run", "--window", "expanding", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "fold 2: train 2024-01-01.." in printed and "dry run: 9 runs planned" in printed
    assert not out.exists()


def test_a_bad_override_is_reported_before_any_training(
    oos: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert oos.main(["--datasets", "syn_trend", "--set", "env.window=-3", "--out", str(tmp_path / "x.json")]) == 2
    assert "env.window" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def _run(fold: int, agent: dict[str, float], bh: dict[str, float]) -> FoldRun:
    return FoldRun(fold, 42, range(0, 10), range(12, 20), ("a", "b"), Path("x"), {"agent": agent, "buy_and_hold": bh})


def test_targets_and_pooled_cost_drag(oos: ModuleType) -> None:
    costs = {"fees": 60.0, "slippage": 30.0, "funding": 10.0}
    runs = [
        _run(
            0, {"sharpe": 1.5, "max_drawdown": 0.1, "gross_pnl": 500.0, **costs}, {"sharpe": 1.0, "max_drawdown": 0.3}
        ),
        _run(
            1, {"sharpe": 0.5, "max_drawdown": 0.2, "gross_pnl": -100.0, **costs}, {"sharpe": 0.8, "max_drawdown": 0.3}
        ),
    ]
    pooled = oos.pooled_cost_drag(runs, "agent", 10_000.0)
    assert pooled == {"costs": 200.0, "gross_pnl": 400.0, "ratio": 0.5}  # one run's lost edge is not dropped
    targets = oos.judge("btc1h", oos.aggregate(runs, 2), pooled, len(runs))
    assert [t.passed for t in targets] == [True, True, False]  # Sharpe 1.0 >= 0.9 and > 0; DD 15 % <= 30 %; drag 50 %
    no_edge = oos.judge("btc1h", oos.aggregate(runs, 2), {"costs": 5.0, "gross_pnl": -1.0, "ratio": None}, 2)
    assert not no_edge[2].passed and "no gross edge" in no_edge[2].detail
    aggregated = oos.aggregate(runs, 2)["agent"]
    assert aggregated["sharpe"]["mean"] == pytest.approx(1.0) and aggregated["trades_per_day"] is None
    old_metrics = [_run(0, {"fees_paid": 50.0, "final_equity": 10_150.0}, {})]  # before the split cost metrics
    assert oos.pooled_cost_drag(old_metrics, "agent", 10_000.0) == {"costs": 50.0, "gross_pnl": 200.0, "ratio": 0.25}
