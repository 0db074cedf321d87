"""The /api/training endpoints: submit, list, inspect, metrics, logs, cancel, resume; auth, 422 and traversal."""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import AUTH, fake_command, job_state, submit, wait_for, wait_status

ClientFactory = Callable[..., TestClient]


def _post(client: TestClient, body: dict[str, Any]) -> Any:
    return client.post("/api/training/jobs", json=body, headers=AUTH)


def _error_locs(response: Any) -> list[list[Any]]:
    return [item["loc"] for item in response.json()["detail"]]


def test_job_goes_from_accepted_to_completed_with_progress(make_client: ClientFactory) -> None:
    client = make_client()
    response = _post(client, {"config": "demo.yaml", "timesteps": 500, "workers": 1, "algo": "ppo", "seed": 3})
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "accepted"
    assert body["job"]["total_timesteps"] == 500
    assert body["job"]["progress"] == 0.0
    job = wait_status(client, body["job_id"], "completed", "failed")
    assert job["status"] == "completed", job
    assert job["progress"] == 1.0
    assert job["timesteps"] == 500
    assert job["fps"] == pytest.approx(1005.0)
    assert job["metrics"]["train/loss"] == pytest.approx(0.2)
    assert job["checkpoint"].endswith(f"fake_{body['job_id']}")
    assert job["exit_code"] == 0 and job["error"] is None and job["pid"] is None


def test_defaults_come_from_the_config(make_client: ClientFactory) -> None:
    client = make_client()
    response = _post(client, {"config": "demo"})
    job = response.json()["job"]
    assert (job["algo"], job["workers"], job["total_timesteps"], job["seed"]) == ("ppo", 2, 60000, 42)
    assert (job["symbol"], job["timeframe"], job["config"]) == ("SYN/USDT", "5m", "demo.yaml")


def test_symbol_and_timeframe_become_overrides(make_client: ClientFactory) -> None:
    client = make_client()
    job_id = submit(client, symbol="ETH/USDT", timeframe="15m", overrides=["env.window=8"])
    job = job_state(client, job_id)
    assert job["overrides"] == [
        "env.window=8", "data.symbol=ETH/USDT", "data.base_timeframe=15m", "data.timeframes=[15m, 1h]"
    ]
    assert (job["symbol"], job["timeframe"]) == ("ETH/USDT", "15m")
    wait_status(client, job_id, "completed")
    argv = client.get(f"/api/training/jobs/{job_id}/logs").json()["lines"][-1]
    assert "--set data.symbol=ETH/USDT" in argv and "--set env.window=8" in argv and "--timesteps 500" in argv


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/training/jobs"),
        ("post", "/api/training/jobs/abc/cancel"),
        ("post", "/api/training/jobs/abc/resume"),
    ],
)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dTpw"}])
def test_mutating_endpoints_need_the_token(
    make_client: ClientFactory, method: str, path: str, headers: dict[str, str]
) -> None:
    client = make_client()
    response = getattr(client, method)(path, json={"config": "demo.yaml"}, headers=headers)
    assert response.status_code == 401
    assert "BOT_API_TOKEN" in response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/training/jobs").json()["jobs"] == []


def test_without_a_server_token_mutations_are_refused_with_the_fix(make_client: ClientFactory) -> None:
    client = make_client(token=None)
    response = _post(client, {"config": "demo.yaml"})
    assert response.status_code == 503
    assert "set BOT_API_TOKEN" in response.json()["detail"]
    assert client.get("/api/health").json()["auth_configured"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"workers": 0}, "workers"),
        ({"workers": "two"}, "workers"),
        ({"timesteps": -5}, "timesteps"),
        ({"algo": "sac"}, "algo"),
        ({"symbol": "BTC USDT"}, "symbol"),
        ({"timeframe": "7m"}, "timeframe"),
        ({"seed": -1}, "seed"),
        ({"overrides": "training.n_workers=2"}, "overrides"),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
def test_invalid_bodies_are_422_naming_the_field(make_client: ClientFactory, body: dict[str, Any], field: str) -> None:
    client = make_client()
    response = _post(client, {"config": "demo.yaml", **body})
    assert response.status_code == 422
    assert any(field in loc for loc in _error_locs(response)), response.json()


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("training.n_workers=0", r"training\.n_workers"),
        ("training.nope=1", "unknown key"),
        ("no_equals_sign", "dotted.key=value"),
        ("data.path", "dotted.key=value"),
    ],
)
def test_bad_overrides_are_422_with_the_config_error(make_client: ClientFactory, override: str, expected: str) -> None:
    client = make_client()
    response = _post(client, {"config": "demo.yaml", "overrides": [override]})
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", "overrides"]
    assert re.search(expected, detail["msg"]), detail["msg"]


@pytest.mark.parametrize(
    "name", ["../pyproject.toml", "../../etc/passwd.yaml", "/etc/passwd", "sub/../../demo.yaml", "..\\demo.yaml",
             "C:/x.yaml", "demo.yaml\x00"]
)
def test_config_names_cannot_leave_config_dir(make_client: ClientFactory, name: str) -> None:
    client = make_client()
    response = _post(client, {"config": name})
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", "config"]
    assert "demo.yaml" in detail["msg"]  # the error lists the configs that can be used


def test_config_symlink_out_of_config_dir_is_rejected(make_client: ClientFactory, config_dir: Path,
                                                     tmp_path: Path) -> None:
    outside = tmp_path / "secret.yaml"
    outside.write_text("seed: 1\n")
    os.symlink(outside, config_dir / "evil.yaml")
    client = make_client()
    response = _post(client, {"config": "evil.yaml"})
    assert response.status_code == 422
    assert "outside" in response.json()["detail"][0]["msg"]
    assert client.get("/api/training/configs").json()["configs"] == ["demo.yaml"]


def test_missing_config_is_422(make_client: ClientFactory) -> None:
    response = _post(make_client(), {"config": "nope"})
    assert response.status_code == 422
    assert "does not exist" in response.json()["detail"][0]["msg"]


def test_unknown_job_is_404_everywhere(make_client: ClientFactory) -> None:
    client = make_client()
    for path in ("", "/metrics", "/logs"):
        response = client.get(f"/api/training/jobs/nope{path}")
        assert response.status_code == 404
        assert "does not exist" in response.json()["detail"]
    for action in ("cancel", "resume"):
        assert client.post(f"/api/training/jobs/nope/{action}", headers=AUTH).status_code == 404


def test_list_metrics_and_logs(make_client: ClientFactory) -> None:
    client = make_client()
    first = submit(client)
    wait_status(client, first, "completed")
    second = submit(client)
    wait_status(client, second, "completed")
    jobs = client.get("/api/training/jobs").json()["jobs"]
    assert [j["id"] for j in jobs] == [second, first]
    assert client.get("/api/training/jobs", params={"status": "running"}).json()["jobs"] == []
    assert client.get("/api/training/jobs", params={"status": "bogus"}).status_code == 422
    points = client.get(f"/api/training/jobs/{first}/metrics").json()["points"]
    assert [p["timesteps"] for p in points] == [100, 200, 300, 400, 500]
    assert points[0]["metrics"]["nan_metric"] is None  # NaN from the trainer is sent as null
    logs = client.get(f"/api/training/jobs/{first}/logs", params={"tail": 1}).json()
    assert logs["lines"][0].startswith("fake trainer argv:")
    assert client.get(f"/api/training/jobs/{first}/logs", params={"tail": 0}).status_code == 422
    run_log = client.get(f"/api/training/jobs/{first}/logs", params={"source": "run"}).json()
    assert run_log["lines"] == [f"INFO fake run log of {first}"] and run_log["source"].endswith("bot.log")
    assert client.get(f"/api/training/jobs/{first}/logs", params={"source": "disk"}).status_code == 422


def test_run_log_before_the_run_folder_exists(make_client: ClientFactory) -> None:
    client = make_client(trainer_command=fake_command("hang_before_start"))
    job_id = submit(client)
    body = client.get(f"/api/training/jobs/{job_id}/logs", params={"source": "run"}).json()
    assert body == {"source": f"job {job_id} has no run log yet", "lines": []}
    client.post(f"/api/training/jobs/{job_id}/cancel", headers=AUTH)


def test_queue_respects_max_concurrent_jobs_in_order(make_client: ClientFactory) -> None:
    client = make_client(max_concurrent_jobs=1, trainer_command=fake_command("complete", step_delay_s=0.1))
    ids = [submit(client) for _ in range(3)]
    assert [job_state(client, i)["status"] for i in ids[1:]] == ["accepted", "accepted"]
    jobs = [wait_status(client, i, "completed") for i in ids]
    for earlier, later in itertools.pairwise(jobs):
        assert later["started_at"] >= earlier["finished_at"]  # the next is launched only once a slot is free
        assert later["started_at"] > earlier["started_at"]


def test_cancel_queued_and_running_jobs(make_client: ClientFactory) -> None:
    client = make_client(max_concurrent_jobs=1, trainer_command=fake_command("slow", step_delay_s=0.05))
    running, queued = submit(client), submit(client)
    wait_status(client, running, "running")
    response = client.post(f"/api/training/jobs/{queued}/cancel", headers=AUTH)
    assert response.status_code == 202
    assert response.json()["status"] == "cancelled"
    response = client.post(f"/api/training/jobs/{running}/cancel", headers=AUTH)
    assert response.status_code == 202 and response.json()["job"]["cancel_requested"] is True
    job = wait_status(client, running, "cancelled", "failed")
    assert job["status"] == "cancelled" and job["exit_code"] == 130
    again = client.post(f"/api/training/jobs/{running}/cancel", headers=AUTH)
    assert again.status_code == 409
    assert "already cancelled" in again.json()["detail"]


def test_resume_a_cancelled_job_continues_from_its_run_folder(make_client: ClientFactory) -> None:
    client = make_client(trainer_command=fake_command("slow", step_delay_s=0.05))
    job_id = submit(client)
    wait_status(client, job_id, "running")
    client.post(f"/api/training/jobs/{job_id}/cancel", headers=AUTH)
    cancelled = wait_status(client, job_id, "cancelled")
    response = client.post(f"/api/training/jobs/{job_id}/resume", headers=AUTH)
    assert response.status_code == 202
    assert response.json()["job"]["attempt"] == 2
    wait_status(client, job_id, "running")
    argv = wait_for(lambda: [ln for ln in client.get(f"/api/training/jobs/{job_id}/logs").json()["lines"]
                             if ln.startswith("fake trainer argv") and "--resume" in ln])
    assert f"--resume {cancelled['checkpoint']}" in argv[0]


def test_resume_refuses_jobs_that_are_not_stopped(make_client: ClientFactory) -> None:
    client = make_client()
    job_id = submit(client)
    wait_status(client, job_id, "completed")
    response = client.post(f"/api/training/jobs/{job_id}/resume", headers=AUTH)
    assert response.status_code == 409
    assert "only interrupted, failed or cancelled" in response.json()["detail"]


def test_resume_refuses_jobs_without_checkpoint(make_client: ClientFactory) -> None:
    client = make_client(trainer_command=fake_command("crash"))
    job_id = submit(client)
    wait_status(client, job_id, "failed")
    response = client.post(f"/api/training/jobs/{job_id}/resume", headers=AUTH)
    assert response.status_code == 409
    assert "no checkpoint" in response.json()["detail"]


def test_resume_with_a_new_budget(make_client: ClientFactory) -> None:
    client = make_client(trainer_command=fake_command("slow", step_delay_s=0.05))
    job_id = submit(client, timesteps=100_000)
    wait_for(lambda: job_state(client, job_id)["timesteps"] > 0)
    client.post(f"/api/training/jobs/{job_id}/cancel", headers=AUTH)
    done = wait_status(client, job_id, "cancelled")["timesteps"]
    too_small = client.post(f"/api/training/jobs/{job_id}/resume", json={"timesteps": done}, headers=AUTH)
    assert too_small.status_code == 409
    assert f"done {done} timesteps already" in too_small.json()["detail"]
    assert client.post(f"/api/training/jobs/{job_id}/resume", json={"timesteps": 0}, headers=AUTH).status_code == 422
    response = client.post(f"/api/training/jobs/{job_id}/resume", json={"timesteps": done + 10}, headers=AUTH)
    assert response.status_code == 202 and response.json()["job"]["total_timesteps"] == done + 10
    client.post(f"/api/training/jobs/{job_id}/cancel", headers=AUTH)
