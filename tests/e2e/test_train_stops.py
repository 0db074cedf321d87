"""`scripts/train_parallel_agents.py` stopped where it used to hang or ignore signals: a worker stuck in start-up
(time limit, first Ctrl-C, the API's SIGTERM) and a SIGTERM during the final validation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.training import REPO_ROOT, set_args, tiny_synthetic

SCRIPT = str(REPO_ROOT / "scripts" / "train_parallel_agents.py")
FAILING_SITE = REPO_ROOT / "tests" / "support" / "failing_env"


def _tiny(checkpoint_dir: Path, workers: int) -> list[str]:
    return tiny_synthetic(
        checkpoint_dir, f"training.n_workers={workers}", "training.n_envs_per_worker=1", "training.total_timesteps=64"
    )


def _start(args: list[str], **hooks: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(FAILING_SITE), str(REPO_ROOT), env.get("PYTHONPATH", "")])
    env.update(hooks)
    cmd = [sys.executable, SCRIPT, "--no-progress", *args]
    return subprocess.Popen(
        cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def _wait_for(marker: Path, proc: subprocess.Popen[str], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, f"{marker.name} did not appear within {timeout_s} s"
        time.sleep(0.1)


def _finish(proc: subprocess.Popen[str], timeout_s: float = 60) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout_s)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    return proc.returncode, err


def _events(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_worker_hanging_in_start_up_fails_within_the_start_up_limit(tmp_path: Path) -> None:
    args = set_args([*_tiny(tmp_path / "ck", workers=2), "training.worker_startup_timeout_s=3"])
    proc = _start(args, BOT_TEST_HANG_AT_STARTUP=str(tmp_path / "hung"))
    code, err = _finish(proc, timeout_s=120)
    assert code == 2, err[-3000:]
    assert "error: TrainingError: worker 1 did not finish start-up (building its environments) within 3 s" in err
    assert "Traceback" not in err
    assert not (tmp_path / "ck").exists() or not list((tmp_path / "ck").iterdir())  # no run folder with only a log


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_first_signal_during_start_up_cancels_the_run(tmp_path: Path, sig: signal.Signals) -> None:
    events = tmp_path / "events.jsonl"
    overrides = [*_tiny(tmp_path / "ck", workers=2), "training.worker_startup_timeout_s=0"]
    args = ["--events-jsonl", str(events), *set_args(overrides)]
    proc = _start(args, BOT_TEST_HANG_AT_STARTUP=str(tmp_path / "hung"))
    _wait_for(tmp_path / "hung", proc)
    os.killpg(proc.pid, sig)  # once, to the whole group: what Ctrl-C and the control API's cancel do
    code, err = _finish(proc, timeout_s=30)
    assert code == 130, err[-3000:]
    assert f"Training cancelled ({sig.name}) before it started" in err
    last = _events(events)[-1]
    assert last["type"] == "cancelled" and last["reason"] == sig.name


def test_sigterm_that_kills_a_starting_worker_is_still_a_cancel(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    overrides = [*_tiny(tmp_path / "ck", workers=2), "training.worker_startup_timeout_s=0"]
    hooks = {"BOT_TEST_HANG_AT_STARTUP": str(tmp_path / "hung"), "BOT_TEST_SLOW_WORKER0_START": "60"}
    proc = _start(["--events-jsonl", str(events), *set_args(overrides)], **hooks)
    _wait_for(tmp_path / "hung", proc)  # worker 1 is built; worker 0 has not yet set SIGTERM to ignored
    os.killpg(proc.pid, signal.SIGTERM)  # kills worker 0 (and the forkserver) along with the cancel
    code, err = _finish(proc, timeout_s=30)
    assert code == 130, err[-3000:]
    assert _events(events)[-1]["type"] == "cancelled"


def test_sigterm_during_the_final_validation_is_a_cancel(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    args = ["--events-jsonl", str(events), *set_args([*_tiny(tmp_path / "ck", 1), "run_name=validating"])]
    proc = _start(args, BOT_TEST_SLOW_VALIDATION=str(tmp_path / "validating"))
    _wait_for(tmp_path / "validating", proc)
    os.killpg(proc.pid, signal.SIGTERM)
    code, err = _finish(proc, timeout_s=30)  # the slowed validation alone would take about 15 s more
    assert code == 130, err[-3000:]
    manifest = json.loads((tmp_path / "ck" / "validating" / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and "validation" not in manifest
    last = _events(events)[-1]
    assert last["type"] == "cancelled" and last["reason"] == "SIGTERM"
