"""Run folders, their report files (confined to the run folder) and evaluation jobs through the API."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.api.runs import RunFileError, list_runs, run_file
from tests.api.helpers import AUTH, fake_command, wait_status

ClientFactory = Callable[..., TestClient]


def make_run(checkpoints: Path, run_id: str, mtime: float = 1_700_000_000.0, reports: tuple[str, ...] = ()) -> Path:
    """A run folder as the trainer leaves it (manifest, config, latest and best models), with evaluation reports."""
    run = checkpoints / run_id
    (run / "best").mkdir(parents=True)
    (run / "step_400").mkdir()
    (run / "model.zip").write_bytes(b"zip")
    (run / "best" / "model.zip").write_bytes(b"zip")
    (run / "config.yaml").write_text("data:\n  source: csv\n  path: /secret/place/btc_5m.csv.gz\n  symbol: BTC/USDT\n"
                                     "  base_timeframe: 5m\n  start: '2024-01-01'\n  end: null\n")
    manifest = {"algorithm": "ppo", "status": "completed", "timesteps": 512, "total_timesteps": 500,
                "created": "2026-12-01T10:00:00+00:00",
                "validation": {"sharpe": 1.25, "total_return": 0.031, "max_drawdown": float("nan"), "trades": 12}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    for name in reports:
        (run / name).mkdir()
        (run / name / "report.html").write_text("<h1>Evaluation of run</h1><img src='equity.png'>")
        (run / name / "equity.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    os.utime(run, (mtime, mtime))
    return run


def test_runs_are_listed_newest_first_with_data_dates_and_validation(tmp_path: Path) -> None:
    for i in range(5):
        make_run(tmp_path, f"run_{i}", mtime=1_700_000_000.0 + i, reports=("eval_test",) if i == 4 else ())
    (tmp_path / "api_jobs").mkdir()  # no manifest: not a run
    page, total = list_runs(tmp_path, page=1, page_size=2)
    assert total == 5 and [r.run_id for r in page] == ["run_4", "run_3"]
    newest = page[0]
    assert newest.checkpoints == ["latest", "best", "step_400"] and newest.reports == ["eval_test"]
    assert newest.data == {"source": "csv", "symbol": "BTC/USDT", "timeframe": "5m", "file": "btc_5m.csv.gz",
                           "start": "2024-01-01", "end": None}  # the file's name only, never the server's folders
    assert newest.validation["sharpe"] == 1.25 and newest.validation["max_drawdown"] is None  # NaN: no number
    assert [r.run_id for r in list_runs(tmp_path, page=3, page_size=2)[0]] == ["run_0"]
    assert list_runs(tmp_path / "missing", 1, 10) == ([], 0)


def test_run_files_stay_inside_the_run_folder(tmp_path: Path) -> None:
    run = make_run(tmp_path, "r1", reports=("eval_test",))
    (tmp_path / "outside.html").write_text("secret")
    (run / "eval_test" / "link.html").symlink_to(tmp_path / "outside.html")
    path, media = run_file(tmp_path, "r1", "eval_test/report.html")
    assert path == (run / "eval_test" / "report.html").resolve() and media == "text/html"
    refused = {
        ("r1", "../outside.html"): (422, "without '..'"),
        ("r1", "/etc/passwd"): (422, "relative path"),
        ("r1", "eval_test/link.html"): (422, "outside run r1"),
        ("r1", "model.zip"): (422, "only report files"),
        ("r1", "eval_test/missing.png"): (404, "does not exist in run r1"),
        ("..", "x.html"): (422, "plain folder name"),
        ("nope", "x.html"): (404, "run 'nope' does not exist"),
    }
    for (run_id, relative), (status, message) in refused.items():
        with pytest.raises(RunFileError, match=message) as info:
            run_file(tmp_path, run_id, relative)
        assert info.value.status == status, (run_id, relative)


def test_runs_routes(make_client: ClientFactory, tmp_path: Path) -> None:
    make_run(tmp_path / "checkpoints", "r1", reports=("eval_test",))
    client = make_client()
    body = client.get("/api/runs", params={"page": 1, "page_size": 10}).json()
    assert body["total"] == 1 and body["runs"][0]["run_id"] == "r1"
    assert client.get("/api/runs/r1").json()["reports"] == ["eval_test"]
    report = client.get("/api/runs/r1/files/eval_test/report.html")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert report.headers["content-security-policy"] == "script-src 'none'"
    assert client.get("/api/runs/r1/files/eval_test/equity.png").headers["content-type"] == "image/png"
    assert client.get("/api/runs/nope").status_code == 404
    assert "plain folder name" in client.get("/api/runs/bad name!").json()["detail"]
    assert client.get("/api/runs/r1/files/eval_test/..%2F..%2Fmanifest.json").status_code in (404, 422)
    assert client.get("/api/runs/r1/files/config.yaml").status_code == 422
    assert client.get("/api/runs", params={"page": 0}).status_code == 422


def test_evaluation_requests_are_checked_before_anything_starts(make_client: ClientFactory, tmp_path: Path) -> None:
    make_run(tmp_path / "checkpoints", "r1")
    client = make_client()
    assert client.post("/api/evaluations", json={"run_id": "r1"}).status_code == 401
    cases = [
        ({"run_id": "nope"}, "run_id", "does not exist"),
        ({"run_id": "../r1"}, "run_id", "plain folder name"),
        ({"run_id": "r1", "which": "step_9"}, "which", "pattern"),
        ({"run_id": "r1", "which": "9"}, "which", "has no checkpoint '9'"),
        ({"run_id": "r1", "split": "future"}, "split", "'train', 'validation' or 'test'"),
        ({"run_id": "r1", "fees_off": "yes"}, "fees_off", "valid boolean"),
        ({"run_id": "r1", "extra": 1}, "extra", "Extra inputs"),
    ]
    for body, field, message in cases:
        reply = client.post("/api/evaluations", json=body, headers=AUTH)
        assert reply.status_code == 422, (body, reply.text)
        detail = reply.json()["detail"][0]
        assert detail["loc"][-1] == field and message in detail["msg"], (body, detail)


def test_an_evaluation_runs_as_a_job_with_the_same_events(make_client: ClientFactory, tmp_path: Path) -> None:
    make_run(tmp_path / "checkpoints", "r1")
    # the fake trainer stands in for the evaluator: the runner's plumbing is what is tested here
    client = make_client(evaluator_command=fake_command("complete"))
    reply = client.post("/api/evaluations", json={"run_id": "r1", "which": "400", "split": "validation"},
                        headers=AUTH)
    assert reply.status_code == 202, reply.text
    job = reply.json()["job"]
    assert job["kind"] == "evaluate" and job["params"]["report"] == "eval_validation_400"
    done = wait_status(client, reply.json()["job_id"], "completed")
    argv = "\n".join(client.get(f"/api/training/jobs/{job['id']}/logs").json()["lines"])
    assert "--which 400 --split validation" in argv and f"{tmp_path}/checkpoints/r1/eval_validation_400" in argv
    assert done["kind"] == "evaluate"
    listed = client.get("/api/training/jobs", params={"kind": "evaluate"}).json()
    assert [j["id"] for j in listed["jobs"]] == [job["id"]]
    resume = client.post(f"/api/training/jobs/{job['id']}/resume", headers=AUTH)
    assert resume.status_code == 409 and "cannot be resumed" in resume.json()["detail"]


def test_the_real_evaluator_reports_a_broken_checkpoint_as_failed(make_client: ClientFactory, tmp_path: Path) -> None:
    make_run(tmp_path / "checkpoints", "r1")  # a manifest without the files it should list
    client = make_client(evaluator_command=(sys.executable, "-m", "bot.api.evaluation_job"))
    reply = client.post("/api/evaluations", json={"run_id": "r1", "which": "latest"}, headers=AUTH)
    job = wait_status(client, reply.json()["job_id"], "failed", timeout_s=120)
    assert job["error"] and "Error" in job["error"], job["error"]
