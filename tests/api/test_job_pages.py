"""Pages of the job list and downsampled metric series, on a store filled directly (no trainer needed)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from bot.api.db import Job, JobStatus, MetricSample, make_engine, make_session_factory

ClientFactory = Callable[..., TestClient]


def _fill(db_path: Path, n_jobs: int, n_points: int = 0) -> list[str]:
    """``n_jobs`` finished jobs one second apart (every third an evaluation); the newest gets ``n_points`` points."""
    engine = make_engine(db_path)
    now = time.time()
    ids = [f"job{i:04d}" for i in range(n_jobs)]
    with make_session_factory(engine)() as session, session.begin():
        for i, job_id in enumerate(ids):
            session.add(Job(id=job_id, kind="evaluate" if i % 3 == 0 else "train", params={},
                            status=JobStatus.COMPLETED if i % 2 else JobStatus.FAILED, algo="ppo", workers=1, seed=i,
                            symbol="X/Y", timeframe="5m", config_name="demo.yaml", overrides=[], created_at=now + i,
                            updated_at=now + i, queued_at=now + i, total_timesteps=100, timesteps=100, metrics={},
                            attempt=1))
        for k in range(n_points):
            # a slow wave with one spike and NaN losses in the second half (stored as null, as the runner stores them)
            reward = 100.0 if k == 1234 else math.sin(k / 300)
            session.add(MetricSample(job_id=ids[-1], time=now + k, timesteps=10 * k, fps=None,
                                     metrics={"reward": reward, "loss": None if k > n_points // 2 else 1.0 / (k + 1)}))
    engine.dispose()
    return ids


def test_jobs_come_in_pages_newest_first_with_the_total(make_client: ClientFactory, tmp_path: Path) -> None:
    ids = _fill(tmp_path / "store" / "api.sqlite", 60)
    client = make_client()
    first = client.get("/api/training/jobs", params={"page": 1, "page_size": 25}).json()
    assert first["total"] == 60 and first["page"] == 1 and first["page_size"] == 25
    assert [j["id"] for j in first["jobs"]] == ids[::-1][:25]
    last = client.get("/api/training/jobs", params={"page": 3, "page_size": 25}).json()
    assert [j["id"] for j in last["jobs"]] == ids[::-1][50:]
    assert client.get("/api/training/jobs", params={"page": 4, "page_size": 25}).json()["jobs"] == []
    evaluations = client.get("/api/training/jobs", params={"kind": "evaluate", "status": "failed"}).json()
    assert evaluations["total"] == 10 and {j["kind"] for j in evaluations["jobs"]} == {"evaluate"}
    assert len(client.get("/api/training/jobs", params={"limit": 7}).json()["jobs"]) == 7  # the older name
    for bad in ({"page": 0}, {"page_size": 1001}, {"kind": "Bad Kind"}, {"status": "sleeping"}):
        reply = client.get("/api/training/jobs", params=bad)
        assert reply.status_code == 422 and reply.json()["detail"][0]["loc"][-1] == next(iter(bad)), bad


def test_long_metric_series_are_downsampled_keeping_their_shape(make_client: ClientFactory, tmp_path: Path) -> None:
    ids = _fill(tmp_path / "store" / "api.sqlite", 1, n_points=5000)
    client = make_client()
    body = client.get(f"/api/training/jobs/{ids[0]}/metrics", params={"max_points": 200}).json()
    points = body["points"]
    assert body["total_points"] == 5000 and 200 <= len(points) <= 2 * 200
    steps = [p["timesteps"] for p in points]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == 49_990
    assert max(p["metrics"]["reward"] for p in points) == 100.0  # the one-point spike survives
    assert any(p["metrics"]["loss"] is None for p in points)  # NaN stays null
    short = client.get(f"/api/training/jobs/{ids[0]}/metrics", params={"limit": 50}).json()
    assert len(short["points"]) == short["total_points"] == 50  # short series are never thinned
    assert client.get(f"/api/training/jobs/{ids[0]}/metrics", params={"max_points": 2}).status_code == 422
