"""`bot tune` on a real local Ray: an ASHA search with a crashing trial and seed retraining, PBT exploits, ensembles.

One Ray instance (``local_ray``: 2 CPUs, a small object store, no dashboard) serves the whole module and is stopped at
its end.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from bot.cli import main
from bot.training import load_checkpoint
from bot.tune.trial import TRIAL_RECORD
from tests.tune.conftest import INTERVAL, trial_overrides, tune_argv, write_space

pytestmark = pytest.mark.usefixtures("local_ray")


def _leaderboard(folder: Path) -> list[dict[str, str]]:
    with (folder / "leaderboard.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_asha_search_ranks_trials_reports_a_crash_and_retrains_the_leader_over_seeds(tmp_path: Path) -> None:
    # 2 samples x 2 devices: the two cuda trials crash in the trainer (this torch has no CUDA) and are retried once
    space = write_space(tmp_path, """
training.ppo.learning_rate: {loguniform: [1.0e-4, 1.0e-3]}
training.device: {grid: [cpu, cuda]}
""")
    # two validations (reports) per trial: ASHA may stop a trial after the first
    argv = tune_argv(space, tmp_path / "tune_runs", "asha", trial_overrides(tmp_path), "--trials", "2",
                     "--scheduler", "asha", "--max-failures", "1", "--seeds", "2", "--top-k", "1")
    assert main(argv) == 0

    experiment = tmp_path / "tune_runs" / "asha"
    rows = _leaderboard(experiment)
    assert len(rows) == 4
    ok = [r for r in rows if r["status"] == "ok"]
    failed = [r for r in rows if r["status"] == "error"]
    assert [r["training.device"] for r in ok] == ["cpu", "cpu"]
    assert rows[: len(ok)] == ok  # failed trials come last
    scores = [float(r["best sharpe"]) for r in ok]
    assert scores == sorted(scores, reverse=True)
    assert len(failed) == 2
    for row in failed:
        assert "no CUDA device is available" in row["error"]
        assert 'bot/tune/trial.py", line' in row["error"] and "\x1b[" not in row["error"]  # the traceback, plain
        # retried once from the start (it never reported): Ray's own record counts both failures
        assert "Failure # 2" in (experiment / row["trial"] / "error.txt").read_text(encoding="utf-8")
    assert "no CUDA device" in (experiment / "leaderboard.md").read_text(encoding="utf-8")
    for row in ok:  # every trial is a normal run folder, all TensorBoard logs under runs/
        run = Path(row["run_dir"])
        assert run.parent == experiment / "runs" and (run / "tb").is_dir()
        assert json.loads((run / "manifest.json").read_text())["timesteps"] >= INTERVAL

    best = experiment / "best"
    assert json.loads((best / TRIAL_RECORD).read_text())["trial_id"] == ok[0]["trial"]
    assert main(["evaluate", "--checkpoint", str(best), "--out", str(tmp_path / "eval_best")]) == 0
    assert (tmp_path / "eval_best" / "report.md").is_file()

    seed_rows = _leaderboard(experiment / "seeds")
    assert len(seed_rows) == 2 and {r["status"] for r in seed_rows} == {"ok"}
    assert {r["training.ppo.learning_rate"] for r in seed_rows} == {ok[0]["training.ppo.learning_rate"]}
    assert len({r["seed"] for r in seed_rows}) == 2
    summary = (experiment / "seeds" / "summary.md").read_text(encoding="utf-8")
    assert "| 1 | 2/2 |" in summary

    out = tmp_path / "eval_ensemble"
    runs = [r["run_dir"] for r in seed_rows]
    assert main(["evaluate", "--ensemble", *runs, "--out", str(out)]) == 0
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "ensemble of 2 runs" in report
    assert json.loads((out / "metrics.json").read_text())


def test_pbt_exploit_restores_the_better_trials_checkpoint_with_new_hyperparameters(tmp_path: Path) -> None:
    space = write_space(tmp_path, """
training.ppo.learning_rate: {loguniform: [1.0e-4, 1.0e-3]}
training.ppo.ent_coef: {uniform: [0.0, 0.02]}
""")
    # synchronous PBT: both trials wait at each of the three validations, then the lower one exploits the other. The
    # asynchronous default exploits only a donor whose checkpoint Tune took at the donor's own perturbation point,
    # which depends on the order Tune processes the reports in: a test of it could pass or fail by timing
    overrides = trial_overrides(tmp_path, 3 * INTERVAL, "training.vecnormalize=true")
    argv = tune_argv(space, tmp_path / "tune_runs", "pbt", overrides, "--trials", "2", "--scheduler", "pbt",
                     "--pbt-synch")
    assert main(argv) == 0

    experiment = tmp_path / "tune_runs" / "pbt"
    assert (experiment / "pbt_global.txt").read_text(encoding="utf-8").strip()  # Ray's record of the exploits
    exploits = []
    for run in sorted((experiment / "runs").iterdir()):
        record = json.loads((run / TRIAL_RECORD).read_text())
        exploits += [(run, e) for e in record["restores"] if e["from_trial"] != record["trial_id"]]
    assert exploits, "no trial restored another trial's checkpoint"
    run, exploit = exploits[-1]
    # the files restored are exactly one of the donor's reported checkpoints: model (with the optimiser state),
    # VecNormalize statistics and scaler
    assert {"model.zip", "vecnormalize.pkl"} <= set(exploit["files"])
    donor = experiment / exploit["from_trial"]
    donor_checkpoints = [json.loads(p.read_text())["files"] for p in donor.glob("checkpoint_*/manifest.json")]
    assert exploit["files"] in donor_checkpoints
    # the explore step's hyperparameters reach the model that trains on
    assert "learning_rate" in exploit["changed"]
    model = load_checkpoint(run, "latest").model
    last_lr = [e["changed"]["learning_rate"] for e in json.loads((run / TRIAL_RECORD).read_text())["restores"]
               if "learning_rate" in e["changed"]][-1]
    assert model.learning_rate == pytest.approx(last_lr)
    # it went on from the donor's step (an exploit at the last validation ends there: the budget is spent)
    assert model.num_timesteps >= 3 * INTERVAL and model.num_timesteps >= exploit["timesteps"] >= INTERVAL


def test_an_experiment_whose_trials_all_fail_exits_1_with_the_errors_on_the_leaderboard(tmp_path: Path) -> None:
    space = write_space(tmp_path, "training.device: {choice: [cuda]}\n")
    argv = tune_argv(space, tmp_path / "tune_runs", "failing", trial_overrides(tmp_path, INTERVAL), "--trials", "1",
                     "--scheduler", "fifo", "--max-failures", "0")
    assert main(argv) == 1
    experiment = tmp_path / "tune_runs" / "failing"
    [row] = _leaderboard(experiment)
    assert row["status"] == "error" and "no CUDA device is available" in row["error"]
    assert not (experiment / "best").exists()


def test_walk_forward_with_asha_reports_the_running_mean_after_each_fold_and_stops_poor_starts(
        tmp_path: Path) -> None:
    # three trials one after the other (so ASHA sees them in grid order), two folds each: ASHA's only rung is the
    # first fold, where a trial below the cut of those before it (their median) is stopped
    space = write_space(tmp_path, "seed: {grid: [1, 2, 3]}\n")
    argv = tune_argv(space, tmp_path / "tune_runs", "wf", trial_overrides(tmp_path, INTERVAL), "--trials", "1",
                     "--scheduler", "asha", "--walk-forward", "2", "--max-concurrent", "1")
    assert main(argv) == 0
    experiment = tmp_path / "tune_runs" / "wf"
    rows = {r["trial"]: r for r in _leaderboard(experiment)}
    first_fold: list[float] = []
    expected_stopped = set()
    for trial in sorted(rows):
        row = rows[trial]
        folds = [json.loads(p.read_text())["validation"]["sharpe"]
                 for p in sorted(Path(row["run_dir"]).glob("fold_*/manifest.json"))]
        # Tune's own record of the trial: one report per fold, the mean over the folds done
        with (experiment / trial / "progress.csv").open(encoding="utf-8") as fh:
            reports = list(csv.DictReader(fh))
        assert [int(r["training_iteration"]) for r in reports] == list(range(1, len(folds) + 1))
        assert [float(r["sharpe"]) for r in reports] == pytest.approx(
            [sum(folds[: k + 1]) / (k + 1) for k in range(len(folds))], rel=1e-4)
        if first_fold and folds[0] < float(np.percentile(first_fold, 50)):
            expected_stopped.add(trial)
        first_fold.append(folds[0])
        assert row["status"] == ("stopped" if trial in expected_stopped else "ok")
        assert len(folds) == (1 if trial in expected_stopped else 2)
        assert float(row["best sharpe"]) == pytest.approx(sum(folds) / len(folds), rel=1e-3)
    assert expected_stopped, "ASHA stopped no trial: pick seeds whose first folds differ more"
    ranked = list(rows.values())
    done = [r for r in ranked if r["status"] == "ok"]
    assert ranked[: len(done)] == done  # trials scored on every fold first
    assert [float(r["best sharpe"]) for r in done] == sorted((float(r["best sharpe"]) for r in done), reverse=True)
    assert (experiment / "best" / "fold_1" / "model.zip").is_file()


def test_a_reused_actor_starts_each_trial_clean(tmp_path: Path) -> None:
    # one trial at a time, the third the same config and seed as the first: Tune hands the actor of each trial to the
    # next one, and a trial in a reused actor must train exactly as one in a fresh actor (seeds, torch threads,
    # logging handlers, env workers: nothing left over from the trial before)
    space = write_space(tmp_path, "seed: {grid: [1, 2, 1]}\n")
    overrides = trial_overrides(tmp_path, INTERVAL, "training.n_workers=2", "training.n_envs_per_worker=1")
    argv = tune_argv(space, tmp_path / "tune_runs", "reuse", overrides, "--trials", "1", "--scheduler", "fifo",
                     "--max-concurrent", "1", "--cpus-per-trial", "1")
    assert main(argv) == 0

    experiment = tmp_path / "tune_runs" / "reuse"
    rows = _leaderboard(experiment)
    assert [r["status"] for r in rows] == ["ok"] * 3
    runs = {int(r["seed"]): [] for r in rows}
    records = {}
    for row in rows:
        run = Path(row["run_dir"])
        records[run.name] = json.loads((run / TRIAL_RECORD).read_text())
        runs[int(row["seed"])].append(run)
    assert len({pid for r in records.values() for pid in r["pids"]}) == 1  # one actor ran all three
    first, again = runs[1]
    assert _parameters(first) == _parameters(again)
    assert (json.loads((first / "manifest.json").read_text())["validation"]
            == json.loads((again / "manifest.json").read_text())["validation"])
    # each trial's log file holds its own run only (a handler left over would copy the next trial's lines into it),
    # with its own env workers
    logs = {run: _log_messages(run) for run in (*runs[1], *runs[2])}
    assert len({len(messages) for messages in logs.values()}) == 1
    assert logs[first] == logs[again]
    assert all(any("started 2 forkserver workers" in m for m in messages) for messages in logs.values())


def _log_messages(run: Path) -> list[str]:
    """The run's log lines without their time stamps and with its run folder's name as ``<run>``."""
    lines = (run / "bot.log").read_text(encoding="utf-8").splitlines()
    return [line.split(" ", 2)[2].replace(run.name, "<run>") for line in lines]


def _parameters(run: Path) -> list[list[float]]:
    return [p.detach().flatten().tolist() for p in load_checkpoint(run, "latest").model.policy.parameters()]
