"""A server killed with SIGKILL and started again (real uvicorn processes, fake trainer): start-up does not wait
for the trainer it left behind, and the progress that trainer wrote meanwhile reaches the metric series once."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.api.helpers import AUTH, REPO_ROOT, TOKEN, fake_command, wait_for
from tests.api.live_server import free_port, healthy

FAKE_SERVER = Path(__file__).resolve().parent / "fake_server.py"
GRACE_S = 120.0  # a start-up that waited for the leftover trainer would exceed the health timeout below


class _Server:
    def __init__(self, spec: dict[str, Any], log: Path) -> None:
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        with log.open("ab") as out:
            self.process = subprocess.Popen([sys.executable, str(FAKE_SERVER), json.dumps({**spec, "port": port})],
                                            cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT)
        wait_for(lambda: self.process.poll() is not None or healthy(self.base_url), timeout_s=60)
        assert self.process.poll() is None, log.read_text()

    def job(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(f"{self.base_url}/api/training/jobs/{job_id}", timeout=30).json()
        return result

    def metric_steps(self, job_id: str) -> list[int]:
        points = httpx.get(f"{self.base_url}/api/training/jobs/{job_id}/metrics", timeout=30).json()["points"]
        return [p["timesteps"] for p in points]

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


def _progress_steps(events: Path) -> list[int]:
    lines = [json.loads(line) for line in events.read_text().splitlines() if line.endswith("}")]
    return [e["timesteps"] for e in lines if e["type"] == "progress"]


def test_after_kill_9_and_restart_the_downtime_progress_reaches_the_metrics(tmp_path: Path, config_dir: Path) -> None:
    spec = {"db_path": str(tmp_path / "store" / "api.sqlite"), "token": TOKEN, "config_dir": str(config_dir),
            "checkpoint_dir": str(tmp_path / "checkpoints"), "jobs_dir": str(tmp_path / "store" / "jobs"),
            "trainer_command": list(fake_command("ignore_term", step_delay_s=0.1)), "workdir": str(REPO_ROOT),
            "cancel_grace_s": GRACE_S}
    log = tmp_path / "servers.log"
    servers = [_Server(spec, log)]
    trainer_pid = None
    try:
        reply = httpx.post(f"{servers[0].base_url}/api/training/jobs", headers=AUTH, timeout=30,
                           json={"config": "demo.yaml", "timesteps": 100_000, "workers": 1})
        job_id = reply.json()["job_id"]
        trainer_pid = wait_for(lambda: (j := servers[0].job(job_id))["status"] == "running" and j["pid"])
        stored = wait_for(lambda: servers[0].metric_steps(job_id))
        servers[0].kill()
        events = tmp_path / "store" / "jobs" / job_id / "events-1.jsonl"
        wait_for(lambda: len(_progress_steps(events)) >= len(stored) + 10)  # progress while no server runs
        downtime = _progress_steps(events)

        started = time.monotonic()
        servers.append(_Server(spec, log))
        assert time.monotonic() - started < GRACE_S / 2  # healthy long before the leftover's kill deadline
        steps = wait_for(lambda: (s := servers[1].metric_steps(job_id)) and set(downtime) <= set(s) and s)
        assert steps == sorted(set(steps)), "a progress point was stored twice"

        os.killpg(trainer_pid, signal.SIGKILL)  # it ignores SIGTERM: end it rather than wait for the deadline
        job = wait_for(lambda: (j := servers[1].job(job_id))["status"] not in ("running", "accepted") and j)
        assert job["status"] == "interrupted" and "restarted" in job["error"], job
    finally:
        for server in servers:
            server.kill()
        if trainer_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(trainer_pid, signal.SIGKILL)
