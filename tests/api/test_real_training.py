"""End to end: `python -m bot serve` (real uvicorn) runs the real trainer on a tiny synthetic config.

A WebSocket client sees started -> progress -> completed with increasing sequence numbers; a job whose data file
does not exist ends failed with the trainer's error; stopping the server interrupts a running job, and after a
restart that job resumes from its checkpoint and completes.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.api.helpers import AUTH, wait_for
from tests.api.live_server import ServeProcess, WsRecorder

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

TINY_CONFIG = """\
# tiny synthetic run for the API tests: a few hundred steps, 1 worker
seed: 1
data:
  source: synthetic
  symbol: SYN/USDT
  base_timeframe: 5m
  timeframes: [5m, 1h]
  synthetic: {n_bars: 3000, seed: 7, signal_strength: 0.5}
features:
  indicators: [log_return, rsi, signal]
env: {window: 8, episode_length: 128}
training:
  algo: ppo
  n_workers: 1
  n_envs_per_worker: 2
  total_timesteps: 512
  checkpoint_freq: 256
  eval_freq: 0
  ppo: {n_steps: 64, batch_size: 64, n_epochs: 1, net_arch: [32, 32]}
"""
TRAINING_TIMEOUT_S = 240
SECRET = "root:x:0:0:TOPSECRET:/root:/bin/bash"


def _post(base_url: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = httpx.post(f"{base_url}{path}", json=body, headers=AUTH, timeout=30)
    assert response.status_code == 202, response.text
    result: dict[str, Any] = response.json()
    return result


def _job(base_url: str, job_id: str) -> dict[str, Any]:
    result: dict[str, Any] = httpx.get(f"{base_url}/api/training/jobs/{job_id}", timeout=30).json()
    return result


def _wait_status(base_url: str, job_id: str, *statuses: str) -> dict[str, Any]:
    result: dict[str, Any] = wait_for(
        lambda: (j := _job(base_url, job_id))["status"] in statuses and j, timeout_s=TRAINING_TIMEOUT_S, interval_s=0.5
    )
    return result


def _check_lifecycle(messages: list[dict[str, Any]], final: str) -> None:
    types = [m["type"] for m in messages]
    assert types[0] == "job.accepted" and types[-1] == final, types
    assert types.index("training.started") < types.index("training.progress") < types.index(final), types
    seqs = [m["seq"] for m in messages]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    progress = [m["data"]["progress"] for m in messages if m["type"] == "training.progress"]
    assert progress == sorted(progress) and progress[-1] == 1.0


def test_real_trainer_through_the_served_api(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "tiny.yaml").write_text(TINY_CONFIG)
    server = ServeProcess(tmp_path, ("--set", "api.max_concurrent_jobs=3"))
    recorder = WsRecorder(server.base_url)
    try:
        good = _post(server.base_url, "/api/training/jobs", {"config": "tiny", "timesteps": 512, "seed": 3})["job_id"]
        bad = _post(server.base_url, "/api/training/jobs", {
            "config": "tiny", "overrides": ["data.source=file", "data.path=data/does_not_exist.csv"]})["job_id"]
        long_job = _post(server.base_url, "/api/training/jobs", {"config": "tiny", "timesteps": 1_000_000})["job_id"]
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "leaky.csv").write_text(f"{SECRET},x\n1,2\n")
        leaky = _post(server.base_url, "/api/training/jobs", {
            "config": "tiny", "overrides": ["data.source=file", "data.path=data/leaky.csv"]})["job_id"]

        failed = _wait_status(server.base_url, bad, "failed", "completed")
        assert failed["status"] == "failed" and "does_not_exist.csv" in failed["error"], failed
        failure = wait_for(lambda: [m for m in recorder.of_job(bad) if m["type"] == "training.failed"])[0]
        assert "does_not_exist.csv" in failure["data"]["error"]
        leaked = _wait_status(server.base_url, leaky, "failed", "completed")
        assert leaked["status"] == "failed" and "leaky.csv" in leaked["error"], leaked
        assert SECRET not in leaked["error"]  # the file's first line is not the API client's to read
        output = httpx.get(f"{server.base_url}/api/training/jobs/{leaky}/logs", params={"tail": 2000}).text
        assert "leaky.csv" in output and SECRET not in output

        done = _wait_status(server.base_url, good, "completed", "failed")
        assert done["status"] == "completed", done
        assert done["progress"] == 1.0 and Path(done["checkpoint"], "model.zip").is_file()
        run_log = httpx.get(f"{server.base_url}/api/training/jobs/{good}/logs", params={"source": "run"}).json()
        assert run_log["source"].startswith(done["checkpoint"]) and run_log["lines"], run_log
        _check_lifecycle(wait_for(lambda: (m := recorder.of_job(good)) and m[-1]["type"] == "training.completed"
                                  and m), "training.completed")

        server_log = httpx.get(f"{server.base_url}/status/log_tail", params={"n": 500}).json()["lines"]
        assert any(f"Accepted job {good}" in line for line in server_log), server_log

        wait_for(lambda: _job(server.base_url, long_job)["timesteps"] > 0, timeout_s=TRAINING_TIMEOUT_S)
        last_seq = recorder.messages[-1]["seq"]
    finally:
        recorder.close()
        server.stop()

    server = ServeProcess(tmp_path, ("--set", "api.max_concurrent_jobs=3"))
    recorder = WsRecorder(server.base_url, since=last_seq)
    try:
        job = _job(server.base_url, long_job)
        assert job["status"] == "interrupted", job
        interrupted_at = job["timesteps"]
        assert interrupted_at > 0 and Path(job["checkpoint"], "model.zip").is_file()
        target = interrupted_at + 256  # a smaller budget than the original 1e6, so the resumed run ends soon
        reply = _post(server.base_url, f"/api/training/jobs/{long_job}/resume", {"timesteps": target})
        assert reply["job"]["attempt"] == 2
        resumed = _wait_status(server.base_url, long_job, "completed", "failed")
        assert resumed["status"] == "completed", resumed
        assert resumed["timesteps"] >= target
        messages = recorder.of_job(long_job)
        types = [m["type"] for m in messages]
        # replayed from the store: the interruption happened while this client was away
        assert types.count("training.interrupted") == 1, types
        _check_lifecycle(messages[types.index("training.interrupted") + 1 :], "training.completed")
        logs = httpx.get(f"{server.base_url}/api/training/jobs/{long_job}/logs", params={"tail": 2000}).json()
        assert any("--resume" in line for line in logs["lines"])
    finally:
        recorder.close()
        server.stop()


def test_a_stopped_real_trainer_fails_as_stalled(tmp_path: Path) -> None:
    """The real trainer's heartbeats reach the runner; SIGSTOP silences them and the job fails as stalled.

    A 60 s stall timeout gives the trainer a heartbeat every 5 s (``ApiSettings.heartbeat_s``); the stall clock
    starts at the launch, so the timeout must also cover importing torch on a busy machine.
    """
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "tiny.yaml").write_text(TINY_CONFIG)
    server = ServeProcess(tmp_path, ("--set", "api.stall_timeout_s=60"))
    pid = None
    try:
        job_id = _post(server.base_url, "/api/training/jobs", {"config": "tiny", "timesteps": 1_000_000})["job_id"]
        pid = _wait_status(server.base_url, job_id, "running")["pid"]
        events = tmp_path / "store" / "api_jobs" / job_id / "events-1.jsonl"
        wait_for(lambda: '"heartbeat"' in events.read_text(), timeout_s=60, interval_s=0.5)
        os.killpg(pid, signal.SIGSTOP)
        failed = _wait_status(server.base_url, job_id, "failed", "completed")
        assert failed["error"].startswith("stalled:"), failed
        wait_for(lambda: not _group_alive(pid), timeout_s=30)
    finally:
        if pid is not None and _group_alive(pid):
            os.killpg(pid, signal.SIGKILL)
        server.stop()


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs (zombies waiting to be reaped do not count)."""
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except ProcessLookupError:
            continue
    return False
