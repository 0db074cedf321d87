"""Tune jobs through the control API: bad bodies (422 naming the field), the trials table in the job's status and
over the WebSocket (a fake tune command), and one real tiny `bot tune` job cancelled, then resumed through the API."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
from fastapi.testclient import TestClient

from bot.api.tune_job_kind import SPACE_FILE, TUNE_DIR
from tests.api.helpers import AUTH, TOKEN, job_state, wait_for, wait_status

ClientFactory = Callable[..., TestClient]
FAKE_TUNER = Path(__file__).resolve().parent / "fake_tuner.py"
SPACE = {"training.ppo.learning_rate": {"loguniform": [1.0e-4, 1.0e-3]}}
#: Env steps of each trial of the real tune job: 20 validations, the cancel comes after the first.
BUDGET = 64 * 20


def _fake(scenario: str) -> tuple[str, ...]:
    return (sys.executable, str(FAKE_TUNER), "--scenario", scenario)


def _post(client: TestClient, **body: Any) -> Any:
    return client.post("/api/tune/jobs", json={"config": "demo.yaml", "space": SPACE, "num_samples": 2, **body},
                       headers=AUTH)


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"space": {"training.ppo.learning_rat": {"uniform": [0.1, 0.2]}}}, "space",
         "training.ppo.learning_rat"),
        ({"space": {"training.ppo.learning_rate": {"uniform": [0.2, 0.1]}}}, "space", "must be below high"),
        ({"space": {"env.window": {"choice": [4, 8]}}, "scheduler": "pbt"}, "space", "cannot be perturbed by PBT"),
        ({"num_samples": 0}, "num_samples", "greater than 0"),
        ({"scheduler": "hyperband"}, "scheduler", "'fifo', 'asha' or 'pbt'"),
        ({"metric": "profit"}, "metric", "'sharpe'"),
        ({"config": "../etc/passwd"}, "config", "must not contain '..'"),
        ({"walk_forward": 3, "scheduler": "pbt"}, "walk_forward", "use scheduler asha"),
        ({"walk_forward": 1, "scheduler": "fifo"}, "walk_forward", "greater than or equal to 2"),
    ],
)
def test_bad_bodies_are_422_naming_the_field(
    make_client: ClientFactory, body: dict[str, Any], field: str, message: str
) -> None:
    client = make_client()
    response = _post(client, **body)
    assert response.status_code == 422, response.text
    [error] = [e for e in response.json()["detail"] if e["loc"][:2] == ["body", field]]
    assert message in error["msg"]
    assert client.get("/api/training/jobs").json()["total"] == 0


def test_trials_stream_over_the_websocket_and_fill_the_jobs_trials_table(make_client: ClientFactory) -> None:
    client = make_client(tuner_command=_fake("complete"))
    with client.websocket_connect(f"/ws?token={TOKEN}") as ws:
        assert ws.receive_json()["type"] == "hello"
        response = _post(client, num_samples=2, scheduler="fifo", walk_forward=2)
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        messages = []
        while not messages or messages[-1]["type"] != "training.completed":
            message = ws.receive_json()
            if message["job_id"] == job_id:
                messages.append(message)
    trials = [m["data"] for m in messages if m["type"] == "tune.trial"]
    assert {t["trial_id"] for t in trials} == {"t0", "t1"}
    assert trials[-1]["status"] == "terminated" and trials[-1]["params"] == {"training.ppo.learning_rate": 0.002}
    job = job_state(client, job_id)
    assert job["kind"] == "tune" and job["status"] == "completed"
    table = job["params"]["trials"]
    assert {row["status"] for row in table.values()} == {"terminated"}
    assert table["t1"]["best"] == pytest.approx(0.6) and table["t1"]["step"] == 100
    assert job["params"]["scheduler"] == "fifo" and job["params"]["space"] == SPACE
    assert "--walk-forward 2" in "\n".join(client.get(f"/api/training/jobs/{job_id}/logs").json()["lines"])
    # the job ran the tune command on the space the request carried
    settings = client.app.state.bot.settings  # type: ignore[attr-defined]
    assert json.loads((settings.jobs_dir / job_id / SPACE_FILE).read_text()) == SPACE
    assert job["checkpoint"] == str(settings.checkpoint_dir / TUNE_DIR / job_id)


def test_cancel_stops_the_unfinished_trials_and_keeps_the_table(make_client: ClientFactory) -> None:
    client = make_client(tuner_command=_fake("slow"))
    job_id = _post(client).json()["job_id"]
    wait_for(lambda: (job_state(client, job_id)["params"].get("trials") or {}).get("t0", {}).get("status")
             == "terminated")
    assert client.post(f"/api/training/jobs/{job_id}/cancel", headers=AUTH).status_code == 202
    job = wait_status(client, job_id, "cancelled")
    table = job["params"]["trials"]
    assert table["t0"]["status"] == "terminated" and table["t1"]["status"] == "stopped"


def _processes_naming(text: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(text in part for part in proc.info["cmdline"] or []):
            found.append(proc)
    return found


def test_a_real_tune_job_reports_its_trials_a_cancel_stops_ray_and_a_resume_completes_it(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    overrides = [
        "data.synthetic.n_bars=2000", "data.timeframes=[5m]", "features.indicators=[log_return, rsi]",
        "env.window=4", "env.episode_length=64", "training.n_workers=1", "training.n_envs_per_worker=2",
        "training.eval_freq=64", "training.checkpoint_freq=0", "training.ppo.n_steps=32",
        "training.ppo.batch_size=32", "training.ppo.n_epochs=1", "training.ppo.net_arch=[16]",
        "training.torch_threads=1",
    ]
    # budget for many validations: the cancel comes once each trial reported its first
    client = make_client(stall_timeout_s=300.0, cancel_grace_s=60.0)
    response = _post(client, overrides=overrides, timesteps=BUDGET, scheduler="fifo")
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]

    def reported() -> bool:
        job = job_state(client, job_id)
        if job["status"] not in ("accepted", "running"):
            logs = client.get(f"/api/training/jobs/{job_id}/logs?tail=40").json()["lines"]
            raise AssertionError(f"the job ended {job['status']}: {job['error']}\n" + "\n".join(logs))
        table = job["params"].get("trials") or {}
        return len(table) == 2 and all(row["step"] >= 64 for row in table.values())

    wait_for(reported, timeout_s=240, interval_s=0.5)
    assert _processes_naming(job_id), "the tune command does not name its experiment"
    assert client.post(f"/api/training/jobs/{job_id}/cancel", headers=AUTH).status_code == 202
    job = wait_status(client, job_id, "cancelled", timeout_s=120)
    experiment = Path(job["checkpoint"])
    assert experiment == tmp_path / "checkpoints" / TUNE_DIR / job_id
    with (experiment / "leaderboard.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and all(float(r["timesteps"]) >= 64 for r in rows)  # the trials' reports, kept
    # the trials Tune stopped on the cancel, each with its last report
    assert {row["status"] for row in job["params"]["trials"].values()} == {"stopped"}
    assert all(row["step"] >= 64 and row["best"] is not None for row in job["params"]["trials"].values())
    wait_for(lambda: not _processes_naming(job_id), timeout_s=30)  # the wrapper and `bot tune` have exited

    # resumed through the API: Tune continues both trials from their checkpoints, and their events stream again
    refused = client.post(f"/api/training/jobs/{job_id}/resume", json={"timesteps": 10**6}, headers=AUTH)
    assert refused.status_code == 409 and "tune job" in refused.json()["detail"]
    with client.websocket_connect(f"/ws?token={TOKEN}") as ws:
        assert ws.receive_json()["type"] == "hello"
        assert client.post(f"/api/training/jobs/{job_id}/resume", headers=AUTH).status_code == 202
        messages = []
        while not messages or messages[-1]["type"] not in ("training.completed", "training.failed"):
            message = ws.receive_json()
            if message["job_id"] == job_id:
                messages.append(message)
    assert messages[-1]["type"] == "training.completed", messages[-1]
    trials = [m["data"] for m in messages if m["type"] == "tune.trial"]
    assert {t["trial_id"] for t in trials} == set(job["params"]["trials"])
    assert any(t["status"] == "running" and t["step"] > 64 for t in trials)
    table = job_state(client, job_id)["params"]["trials"]
    assert {row["status"] for row in table.values()} == {"terminated"}
    assert all(row["step"] == BUDGET for row in table.values())


def test_the_bodys_metrics_are_the_ones_a_trial_reports() -> None:
    from typing import get_args

    from bot.api.tune_request import Metric
    from bot.tune.commands import metric_names

    assert list(get_args(Metric)) == metric_names()
