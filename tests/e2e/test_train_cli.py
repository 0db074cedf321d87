"""`scripts/train_parallel_agents.py` as a user runs it: an env failure ends the run non-zero with the worker's
traceback (never a hang), and SIGINT leaves a loadable checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from stable_baselines3 import PPO

from tests.support.training import REPO_ROOT, only_run, real_data_overrides, set_args

SCRIPT = str(REPO_ROOT / "scripts" / "train_parallel_agents.py")
FAILING_SITE = REPO_ROOT / "tests" / "support" / "failing_env"


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(FAILING_SITE), str(REPO_ROOT), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def test_env_failure_exits_non_zero_with_the_worker_traceback(btc_5m_path: Path, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    cmd = [sys.executable, SCRIPT, "--no-progress", "--events-jsonl", str(events)]
    cmd += set_args([*real_data_overrides(btc_5m_path, tmp_path / "ck"), "training.total_timesteps=100000"])
    proc = subprocess.run(
        cmd, cwd=REPO_ROOT, env=_env(BOT_TEST_RAISE_AT_STEP="40"), capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "error: TrainingError: worker 1, env 2 failed in 'step'" in proc.stderr
    assert "--- worker traceback ---" in proc.stderr and "sitecustomize.py" in proc.stderr
    assert "RuntimeError: planted env failure at step 40 in worker 1" in proc.stderr
    run = only_run(tmp_path / "ck")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "planted env failure" in manifest["error"]
    assert PPO.load(run / "model.zip", device="cpu").num_timesteps == manifest["timesteps"]
    last = json.loads(events.read_text().splitlines()[-1])
    assert last["type"] == "failed" and "planted env failure" in last["error"]


def _wait_for_event(events: Path, event_type: str, proc: subprocess.Popen[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if events.is_file() and any(json.loads(x)["type"] == event_type for x in events.read_text().splitlines()):
            return
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.2)
    raise AssertionError(f"no {event_type!r} event within {timeout_s} s")


def test_sigint_saves_a_loadable_checkpoint(btc_5m_path: Path, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    cmd = [sys.executable, SCRIPT, "--no-progress", "--events-jsonl", str(events)]
    cmd += set_args([*real_data_overrides(btc_5m_path, tmp_path / "ck"), "training.total_timesteps=1000000"])
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_event(events, "progress", proc, timeout_s=120)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err[-3000:]
    assert "Training interrupted after" in out
    run = only_run(tmp_path / "ck")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and 0 < manifest["timesteps"] < 1_000_000
    assert PPO.load(run / "model.zip", device="cpu").num_timesteps == manifest["timesteps"]
    emitted = [json.loads(line) for line in events.read_text().splitlines()]
    assert emitted[-1]["type"] == "cancelled" and emitted[-1]["reason"] == "SIGINT"
    progress = [e for e in emitted if e["type"] == "progress"]
    assert progress and progress[0]["metrics"]["equity"] > 0  # mean equity over all envs, for the dashboard chart


def test_sigterm_to_the_process_group_is_a_cancel_not_a_worker_failure(btc_5m_path: Path, tmp_path: Path) -> None:
    # what the control API's cancel does: SIGTERM to the trainer's process group, which holds the workers too
    events = tmp_path / "events.jsonl"
    cmd = [sys.executable, SCRIPT, "--no-progress", "--events-jsonl", str(events)]
    cmd += set_args([*real_data_overrides(btc_5m_path, tmp_path / "ck"), "training.total_timesteps=1000000"])
    proc = subprocess.Popen(
        cmd, cwd=REPO_ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for_event(events, "progress", proc, timeout_s=120)
        os.killpg(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130, err[-3000:]
    manifest = json.loads((only_run(tmp_path / "ck") / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    emitted = [json.loads(line) for line in events.read_text().splitlines()]
    assert emitted[-1]["type"] == "cancelled" and emitted[-1]["reason"] == "SIGTERM"


def test_bad_flag_value_is_one_clear_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, SCRIPT, "--workers", "0", "--checkpoint-dir", str(tmp_path)],
        cwd=REPO_ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "error: ConfigError: invalid config config/demo.yaml" in proc.stderr
    assert "training.n_workers=0" in proc.stderr
    assert not list(tmp_path.iterdir())  # no run folder for a run that never started
