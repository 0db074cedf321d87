"""``bot evaluate`` end to end on a tiny checkpoint, and every refusal with its message and exit code 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib.image as mpimg
import pytest

from bot.cli import main


def _evaluate(run: Path, *args: str) -> int:
    return main(["evaluate", "--checkpoint", str(run), "--set", "evaluation.n_random_runs=3", *args])


def test_evaluate_end_to_end(tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    assert _evaluate(tiny_run, "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert (
        "on the test split" in printed
        and "buy_and_hold" in printed
        and "random(x3)" in printed
        and "random@pace(x3)" in printed
    )
    assert "beats" in printed and str(out / "report.html") in printed and "IN-SAMPLE" not in printed
    files = ("metrics.json", "equity.csv", "report.md", "report.html", "equity.png", "drawdown.png", "positions.png")
    for name in (*files, "costs.png"):
        assert (out / name).stat().st_size > 0
    assert mpimg.imread(out / "equity.png").ndim == 3
    payload = json.loads((out / "metrics.json").read_text())
    assert payload["split"] == "test" and payload["random"]["n_runs"] == 3
    assert set(payload["zero_cost"]) >= {"agent", "buy_and_hold", "flat"}
    agent = payload["agent"]
    assert agent["gross_pnl"] - agent["fees"] - agent["slippage"] - agent["funding"] == pytest.approx(
        agent["final_equity"] - 10_000
    )
    assert agent["funding"] != 0.0  # funding is on by default for perpetuals
    assert "cost_drag" in printed and "turnover_per_day" in printed and "n/a(<90d)" in printed
    assert "ZERO fees" not in (out / "report.md").read_text()


def test_default_out_dir_and_split(tiny_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _evaluate(tiny_run, "--which", "latest", "--split", "validation", "--fees-off") == 0
    payload = json.loads((tiny_run / "eval_validation" / "metrics.json").read_text())
    assert payload["zero_cost"] == {} and payload["agent"]["fees_paid"] == 0.0
    assert "zero fees and slippage" in " ".join(payload["notes"])
    assert payload["notes"][0].startswith("IN-SAMPLE: the evaluated bars overlap")  # best/ was picked on validation
    printed = capsys.readouterr().out
    assert "on the validation split" in printed and "WARNING: IN-SAMPLE" in printed
    assert "(bars) with ZERO fees and slippage (--fees-off):" in re.sub(r"\(\d+ bars\)", "(bars)", printed)
    markdown = (tiny_run / "eval_validation" / "report.md").read_text()
    assert markdown.startswith("# Evaluation of") and "(--fees-off: ZERO fees and slippage)" in markdown.splitlines()[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "data.timeframes=[5m]"], "SchemaMismatchError: .*missing \\[.1h.atr"),
        (["--set", "features.rsi_period=7"], "SchemaMismatchError: checkpoint .* was trained on observation schema"),
        (["--set", "env.window=4"], "SchemaMismatchError: checkpoint .* expects observations"),
        (["--config", "config/demo.yaml"], "ConfigError: --config config/demo.yaml: evaluate always starts from"),
        (["--cv-folds", "1"], "ConfigError: --cv-folds 1 must be 0"),
        (["--seeds", "2"], "ConfigError: --seeds 2 needs --cv-folds"),
        (["--which", "999"], "CheckpointError: .* has no step_999/"),
        (["--set", "data.nope=1"], "ConfigError: .*data.nope: unknown key"),
    ],
)
def test_refusals_exit_2_with_a_clear_message(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert _evaluate(tiny_run, "--out", str(tmp_path), *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and re.search(message, err, re.DOTALL), err


def test_missing_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--checkpoint", str(tmp_path / "none")]) == 2
    assert "is not a run folder" in capsys.readouterr().err


def test_evaluate_on_other_data_with_the_same_schema(tiny_run: Path, tmp_path: Path) -> None:
    assert _evaluate(tiny_run, "--out", str(tmp_path), "--set", "data.synthetic.seed=8") == 0
    other = json.loads((tmp_path / "metrics.json").read_text())
    assert _evaluate(tiny_run, "--out", str(tmp_path / "same")) == 0
    same = json.loads((tmp_path / "same" / "metrics.json").read_text())
    assert other["baselines"]["buy_and_hold"] != same["baselines"]["buy_and_hold"]  # another market was evaluated
    assert not any("IN-SAMPLE" in note for note in other["notes"] + same["notes"])


def test_moved_splits_that_reach_into_training_bars_are_flagged(tiny_run: Path, tmp_path: Path) -> None:
    assert _evaluate(tiny_run, "--out", str(tmp_path), "--set", "splits.train_fraction=0.4") == 0
    notes = json.loads((tmp_path / "metrics.json").read_text())["notes"]
    assert notes[0].startswith("IN-SAMPLE") and "2024-01-" in notes[0]
