"""`bot tune` as a command: bad flags, an unreachable cluster (a real process), and Ctrl-C (SIGINT to this process
while Tune runs on the module's local Ray) followed by --resume, also of a walk-forward experiment."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.cli import main
from tests.support.training import REPO_ROOT
from tests.tune.conftest import INTERVAL, trial_overrides, tune_argv, write_space

SPACE = "training.ppo.learning_rate: {loguniform: [1.0e-4, 1.0e-3]}\n"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--trials", "0"], "--trials 0 must be >= 1"),
        (["--seeds", "0"], "--seeds 0 must be >= 1"),
        (["--top-k", "0"], "--top-k 0 must be >= 1"),
        (["--cpus-per-trial", "0"], "--cpus-per-trial 0.0 must be > 0"),
        (["--max-failures", "-1"], "--max-failures -1 must be >= 0"),
        (["--max-concurrent", "0"], "--max-concurrent 0 must be >= 1"),
        (["--metric", "profit"], "--metric 'profit' is not reported by a trial"),
        (["--name", "../x"], "--name '../x': use letters"),
        (["--resume"], "--resume needs --name NAME"),
        (["--address", "nohost"], "--address 'nohost' must be auto or HOST:PORT"),
        (["--walk-forward", "1"], "--walk-forward 1 must be >= 2"),
        (["--walk-forward", "3", "--scheduler", "pbt"], "nothing for a PBT exploit to copy"),
    ],
)
def test_bad_flags_are_refused_before_ray_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    space = write_space(tmp_path, SPACE)
    argv = ["tune", "--space", str(space), "--storage", str(tmp_path), *flags]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_a_bad_space_key_is_refused_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space = write_space(tmp_path, "training.ppo.learning_rat: {uniform: [0.1, 0.2]}\n")
    assert main(["tune", "--space", str(space), "--storage", str(tmp_path)]) == 2
    assert "training.ppo.learning_rat: unknown key" in capsys.readouterr().err


def test_pbt_refuses_keys_the_saved_model_is_built_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space = write_space(tmp_path, "env.window: {choice: [4, 8]}\n")
    argv = tune_argv(space, tmp_path / "tune_runs", "p", trial_overrides(tmp_path), "--scheduler", "pbt")
    assert main(argv) == 2
    assert "env.window cannot be perturbed by PBT" in capsys.readouterr().err


def test_an_unreachable_address_is_a_clear_error_within_15_s(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    space = write_space(tmp_path, SPACE)
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "bot", *tune_argv(space, tmp_path, "x", [], "--address", f"127.0.0.1:{port}")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert time.monotonic() - start < 15
    assert proc.returncode == 2
    assert f"--address 127.0.0.1:{port}: no Ray cluster answers there" in proc.stderr
    assert "ray start --head" in proc.stderr


def _run_with_ctrl_c_after_a_second_report(argv: list[str], experiment: Path) -> tuple[int, bool]:
    """``main(argv)``, sent SIGINT once a trial of ``experiment`` has its second Tune checkpoint: it reports only once
    Tune took the first, which SIGINT's save then holds.

    :return: the exit code and whether SIGINT was sent.
    """
    interrupted = threading.Event()
    finished = threading.Event()

    def ctrl_c_after_a_second_report() -> None:
        # SIGINT only while Tune's handler is installed (during fit), never to pytest itself
        while not finished.wait(0.05):
            if any(experiment.glob("*/checkpoint_000001")) and signal.getsignal(signal.SIGINT) not in (
                    signal.default_int_handler, signal.SIG_DFL):
                os.kill(os.getpid(), signal.SIGINT)
                interrupted.set()
                return

    watcher = threading.Thread(target=ctrl_c_after_a_second_report, daemon=True)
    watcher.start()
    try:
        code = main(argv)
    finally:
        finished.set()
        watcher.join()
    return code, interrupted.is_set()


def test_sigint_saves_the_experiment_and_resume_completes_it(
    tmp_path: Path, local_ray: str, capsys: pytest.CaptureFixture[str]
) -> None:
    space = write_space(tmp_path, SPACE)
    argv = tune_argv(space, tmp_path / "tune_runs", "resumed", trial_overrides(tmp_path, 6 * INTERVAL),
                     "--trials", "2", "--scheduler", "fifo")
    experiment = tmp_path / "tune_runs" / "resumed"
    code, interrupted = _run_with_ctrl_c_after_a_second_report(argv, experiment)
    err = capsys.readouterr().err
    assert interrupted and code == 130, err[-3000:]
    assert "--resume --name resumed" in err

    events = tmp_path / "resumed_events.jsonl"  # what the control API's job reads: the resumed run's trial events
    assert main([*argv, "--resume", "--events-jsonl", str(events)]) == 0
    with (experiment / "leaderboard.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["status"] for r in rows] == ["ok", "ok"]
    emitted = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]
    trial_events = [e for e in emitted if e["type"] == "trial"]
    assert {e["trial_id"] for e in trial_events if e["status"] == "running" and e["metric"] is not None}
    last = {e["trial_id"]: e for e in trial_events}
    assert sorted(last) == sorted(r["trial"] for r in rows)
    assert all(e["status"] == "terminated" and e["step"] >= 6 * INTERVAL for e in last.values())
    assert emitted[-1]["type"] == "completed"
    assert all(float(r["timesteps"]) >= 6 * INTERVAL for r in rows)
    restores = [json.loads((Path(r["run_dir"]) / "tune_trial.json").read_text())["restores"] for r in rows]
    assert any(restores), "no trial continued from its checkpoint after --resume"
    assert (experiment / "best" / "manifest.json").is_file()


def test_a_walk_forward_trial_resumes_with_the_fold_after_the_last_one_it_reported(
    tmp_path: Path, local_ray: str, capsys: pytest.CaptureFixture[str]
) -> None:
    space = write_space(tmp_path, SPACE)
    # three folds of six validation intervals each: SIGINT comes once the second fold reported, during the third
    argv = tune_argv(space, tmp_path / "tune_runs", "wf", trial_overrides(tmp_path, 6 * INTERVAL), "--trials", "1",
                     "--scheduler", "asha", "--walk-forward", "3")
    experiment = tmp_path / "tune_runs" / "wf"
    code, interrupted = _run_with_ctrl_c_after_a_second_report(argv, experiment)
    assert interrupted and code == 130, capsys.readouterr().err[-3000:]
    [run] = (experiment / "runs").iterdir()
    first_fold = (run / "fold_0" / "manifest.json").read_bytes()

    assert main([*argv, "--resume"]) == 0
    # the saved experiment holds at least the first fold's checkpoint: that fold is kept as it was, the trial goes on
    # from the fold after its checkpoint's last one
    assert (run / "fold_0" / "manifest.json").read_bytes() == first_fold
    folds = [json.loads((run / f"fold_{k}" / "manifest.json").read_text()) for k in range(3)]
    assert all(f["status"] == "completed" and f["timesteps"] >= 6 * INTERVAL for f in folds)
    assert len(json.loads((run / "tune_trial.json").read_text())["pids"]) == 2  # two runs of the trial
    with (experiment / "leaderboard.csv").open(encoding="utf-8") as fh:
        [row] = list(csv.DictReader(fh))
    assert row["status"] == "ok" and float(row["folds"]) == 3
    assert float(row["best sharpe"]) == pytest.approx(sum(f["validation"]["sharpe"] for f in folds) / 3, rel=1e-3)
