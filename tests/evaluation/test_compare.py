"""``bot evaluate --compare``: an RL run and a supervised run with the baselines in one table on the same bars (and
in one ensemble)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from tests.support.training import set_args
from tests.training.test_supervised import RF

PPO_TINY = [
    "training.algo=ppo", "training.n_workers=1", "training.n_envs_per_worker=2", "training.total_timesteps=128",
    "training.ppo.n_steps=32", "training.ppo.batch_size=32", "training.ppo.n_epochs=1", "training.ppo.net_arch=[16]",
    "training.eval_freq=0", "training.checkpoint_freq=0", "training.torch_threads=1",
]


def _train(tmp_path: Path, name: str, *extra: str) -> Path:
    overrides = [*RF, "training.supervised.n_estimators=5", *extra, f"training.checkpoint_dir={tmp_path}"]
    assert main(["train", "--no-progress", *set_args([*overrides, f"run_name={name}"])]) == 0
    return tmp_path / name


def test_runs_of_any_algorithm_share_one_table_on_the_same_bars(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rf = _train(tmp_path, "rf")
    ppo = _train(tmp_path, "ppo", *PPO_TINY)
    out = tmp_path / "cmp"
    argv = ["evaluate", "--compare", str(rf), str(ppo), "--which", "latest", "--fees-off", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "rf[rf]" in printed and "ppo[ppo]" in printed and "buy_and_hold" in printed
    data = json.loads((out / "compare.json").read_text())
    assert data["runs"] == ["rf[rf]", "ppo[ppo]"]
    columns = data["columns"]
    assert {"rf[rf]", "ppo[ppo]", "buy_and_hold", "flat"} <= set(columns)
    assert columns["rf[rf]"]["n_bars"] == columns["ppo[ppo]"]["n_bars"] == columns["buy_and_hold"]["n_bars"] > 0
    assert columns["rf[rf]"]["total_return"] != columns["flat"]["total_return"]
    assert "predict_proba" in (out / "compare.md").read_text()
    # the supervised run also votes in an ensemble with the RL run, without a special case
    ensemble = ["evaluate", "--ensemble", str(rf), str(ppo), "--which", "latest", "--fees-off", "--out", str(out / "e")]
    assert main(ensemble) == 0
    assert "ensemble of 2 runs" in capsys.readouterr().out

    # a run on other bars is refused, naming it
    other = _train(tmp_path, "other", "data.synthetic.n_bars=5000")
    assert main(["evaluate", "--compare", str(rf), str(other), "--which", "latest", "--out", str(out)]) == 2
    assert "other[rf] is evaluated on" in capsys.readouterr().err


def test_one_run_is_not_a_comparison(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--compare", str(tmp_path)]) == 2
    assert "--compare needs at least two runs" in capsys.readouterr().err
