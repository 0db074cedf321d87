"""The supervised baselines ``rf`` / ``gbm``: fit through ``bot train``, beat the random policy on a planted signal,
evaluate like any run, never read the future in their features, and refuse what they cannot do."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from bot.cli import main
from bot.config import load_config
from bot.data import FeatureScaler, build_dataset
from bot.env import EpisodeBounds
from bot.errors import ConfigError
from bot.evaluation.runner import evaluate_model
from bot.training.checkpoints import SCALER, load_checkpoint
from bot.training.policy import make_policy, plain_policy
from bot.training.supervised import check_supervised, training_samples
from bot.training.supervised_policy import SupervisedModel, SupervisedPolicy
from bot.training.validation import make_validation_env
from tests.support.training import set_args
from tests.training.test_learning import PLANTED

RF = [
    *[o for o in PLANTED if not o.startswith(("training.", "run_name"))],
    "training.algo=rf",
    "training.supervised.n_estimators=20",
    "training.supervised.min_samples_leaf=20",
    "training.supervised.lags=2",
    "logging.console=false",
]


@pytest.fixture(scope="module")
def rf_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rf")
    events = out / "events.jsonl"
    argv = ["train", "--no-progress", "--events-jsonl", str(events)]
    assert main([*argv, *set_args([*RF, f"training.checkpoint_dir={out}", "run_name=rf"])]) == 0
    return out


def test_rf_beats_the_random_policys_ci_on_a_planted_signal(rf_run: Path) -> None:
    run = rf_run / "rf"
    loaded = load_checkpoint(run, "latest")
    assert isinstance(loaded.model, SupervisedModel) and loaded.manifest["algorithm"] == "rf"
    assert (run / "model.joblib").is_file() and not (run / "model.zip").exists()
    assert (run / "best" / "model.joblib").is_file()
    assert loaded.manifest["threshold"] == loaded.model.threshold and loaded.manifest["timesteps"] == 20
    dataset = build_dataset(loaded.config, FeatureScaler.load(run / SCALER))
    report = evaluate_model(loaded.config, dataset, loaded.model, None, "test", str(run), fees_off=True)
    assert report.random is not None
    total = report.agent.metrics.total_return
    assert total > 0.2 and total > report.random.ci_high["total_return"], (total, report.random.ci_high)
    assert any("predict_proba" in note for note in report.notes)


def test_the_fit_reports_trees_built_as_progress(rf_run: Path) -> None:
    events = [json.loads(line) for line in (rf_run / "events.jsonl").read_text().splitlines()]
    kinds = [e["type"] for e in events if e["type"] != "heartbeat"]
    assert kinds[0] == "started" and kinds[-1] == "completed"
    trees = [e["timesteps"] for e in events if e["type"] == "progress"]
    assert trees == sorted(trees) and trees[-1] == 20 and len(trees) >= 5
    assert all(e["total_timesteps"] == 20 for e in events if e["type"] == "progress")


def test_gbm_trains_and_evaluates_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    overrides = [*RF, "training.algo=gbm", "training.supervised.n_estimators=10", f"training.checkpoint_dir={tmp_path}"]
    assert main(["train", "--no-progress", *set_args([*overrides, "run_name=gbm"])]) == 0
    printed = capsys.readouterr().out
    assert "Fitting completed with 10 trees." in printed and "TensorBoard" not in printed
    out = tmp_path / "report"
    argv = ["evaluate", "--checkpoint", str(tmp_path / "gbm"), "--split", "test", "--fees-off", "--out", str(out)]
    assert main(argv) == 0
    assert (out / "metrics.json").is_file()
    # a fitted model cannot be continued: the error names the run and what works
    assert main(["train", "--no-progress", "--resume", str(tmp_path / "gbm")]) == 2


def test_resume_is_refused_naming_the_run(rf_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--no-progress", "--resume", str(rf_run / "rf")]) == 2
    err = capsys.readouterr().err
    assert "cannot be resumed" in err and str(rf_run / "rf") in err


def test_loading_warns_that_the_model_file_is_a_pickle(rf_run: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        load_checkpoint(rf_run / "rf", "best")
    assert any("pickle" in r.getMessage() and "trust" in r.getMessage() for r in caplog.records)


def test_labels_read_only_the_bars_after_the_decision_inside_the_run() -> None:
    rng = np.random.default_rng(0)
    opens = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, 200)))
    runs = [EpisodeBounds(10, 90), EpisodeBounds(100, 200)]
    horizon = 3
    rows, labels = training_samples(opens, runs, horizon)
    # no label needs a bar past its run's last traded bar (so none past the split either)
    for run in runs:
        inside = rows[(rows >= run.start) & (rows < run.stop)]
        assert inside.min() == run.start and inside.max() + 1 + horizon == run.stop - 1
    assert np.array_equal(labels, (opens[rows + 1 + horizon] > opens[rows + 1]).astype(np.int8))
    # the label of row t is the same whatever happens after t + 1 + horizon, and whatever happened up to t
    t = 40
    changed = opens.copy()
    changed[t + 2 + horizon :] *= 3.0
    changed[: t + 1] *= 0.5
    again_rows, again = training_samples(changed, runs, horizon)
    assert again[np.flatnonzero(again_rows == t)[0]] == labels[np.flatnonzero(rows == t)[0]]


def test_features_of_a_row_are_the_newest_bars_of_its_window_and_ignore_later_rows() -> None:
    cfg = load_config(None, [*RF, "data.synthetic.n_bars=1500"])
    dataset = build_dataset(cfg)
    env = make_validation_env(cfg, dataset)
    episode = env.unwrapped.evaluation_episodes[0]
    model = SupervisedModel("rf", None, 2, 1, (-1.0, 0.0, 1.0), env.observation_space, env.action_space)
    obs, _ = env.reset(options={"start_index": episode.start, "end_index": episode.stop})
    row = env.unwrapped.current_row
    from_rows = model.row_features(dataset.obs_features, np.array([row]))
    assert np.array_equal(from_rows, model.features(obs["market"][None]))
    future = dataset.obs_features.copy()
    future[row + 1 :] = 99.0
    assert np.array_equal(model.row_features(future, np.array([row])), from_rows)


def test_the_batched_and_the_live_policy_choose_the_same_actions(rf_run: Path) -> None:
    loaded = load_checkpoint(rf_run / "rf", "latest")
    model = loaded.model
    assert isinstance(model, SupervisedModel)
    dataset = build_dataset(loaded.config, FeatureScaler.load(rf_run / "rf" / SCALER))
    env = make_validation_env(loaded.config, dataset)
    episode = env.unwrapped.evaluation_episodes[0]
    rows = range(episode.start, episode.stop)
    batched = make_policy(model, None, dataset.obs_features, loaded.config.env.window, rows, None)
    live = plain_policy(model, None, None)
    assert isinstance(batched, SupervisedPolicy) and isinstance(live, SupervisedPolicy)
    obs, _ = env.reset(options={"start_index": episode.start, "end_index": episode.stop})
    seen = set()
    for _ in range(60):
        row = env.unwrapped.current_row
        action = batched.act(obs, row)
        assert action == live.act(obs, -1)
        seen.add(action)
        obs, *_ = env.step(action)
    assert len(seen) >= 2  # it trades: both calls agreed on real decisions


def test_a_masked_choice_becomes_the_nearest_allowed_level() -> None:
    cfg = load_config(None, [*RF, "data.synthetic.n_bars=1500"])
    env = make_validation_env(cfg, build_dataset(cfg))

    class Always:
        classes_ = np.array([0, 1])

        def predict_proba(self, x: np.ndarray) -> np.ndarray:
            return np.tile([0.1, 0.9], (x.shape[0], 1))

    model = SupervisedModel("rf", Always(), 1, 1, (-1.0, 0.0, 1.0), env.observation_space, env.action_space)
    obs, _ = env.reset()
    assert SupervisedPolicy(model).act(obs, -1) == 2
    assert SupervisedPolicy(model, lambda: np.array([True, True, False])).act(obs, -1) == 1


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("training.supervised.n_estimators=0", "training.supervised.n_estimators"),
        ("training.supervised.thresholds=[0.4]", "training.supervised.thresholds"),
        ("training.supervised.min_samples_leaf=0", "training.supervised.min_samples_leaf"),
        ("training.supervised.max_features=1.5", "training.supervised.max_features"),
    ],
)
def test_bad_hyperparameters_are_config_errors(override: str, key: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--set", "training.algo=rf", "--set", override]) == 2
    assert key in capsys.readouterr().err


def test_settings_the_model_cannot_act_on_are_refused() -> None:
    with pytest.raises(ConfigError, match="training.supervised.lags=9 exceeds env.window=4"):
        check_supervised(load_config(None, [*RF, "training.supervised.lags=9"]))
    with pytest.raises(ConfigError, match="env.action_mode='target'"):
        check_supervised(load_config(None, [*RF, "env.action_mode=delta"]))


def test_train_reports_the_fits_validation_to_the_hook(tmp_path: Path) -> None:
    from bot.training.callbacks import ValidationReport
    from bot.training.trainer import train

    cfg = load_config(None, [*RF, "training.supervised.n_estimators=3", "data.synthetic.n_bars=2000"])
    reports: list[ValidationReport] = []
    outcome = train(cfg, build_dataset(cfg), tmp_path, on_validation=reports.append)
    assert outcome.status == "completed" and outcome.timesteps == 3
    (report,) = reports
    assert report.final and report.timesteps == 3 and report.result == outcome.validation
    assert load_checkpoint(tmp_path, "latest").manifest["validation"]["sharpe"] == pytest.approx(report.result.sharpe)
