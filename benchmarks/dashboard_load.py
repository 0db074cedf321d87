"""Dashboard load: bytes of the first load (gzip on) and the latency of the paginated job list with 1,000 jobs.

Fills a fresh job store with ``--jobs`` finished jobs (each with a realistic metrics dict), starts
``python -m bot serve`` on it (its own process, on a free loopback port), then measures:

- the first load of the dashboard as a browser makes it: the page, every script and stylesheet it names, the ES
  modules they import, the manifest, icon and service worker, and the API calls of the first screen
  (``/api/training/jobs?page=1``, ``/api/sync/status``, ``/api/training/configs``), all with
  ``Accept-Encoding: gzip``; bytes are counted as they came over the wire (compressed) and decoded;
- ``GET /api/training/jobs?page=P&page_size=S`` latency over ``--requests`` requests cycling through every page
  (one keep-alive client, sequential), for the dashboard's page size and the largest allowed.

Writes benchmarks/out/dashboard_load.json. Usage: ``python benchmarks/dashboard_load.py [--jobs 1000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bot.api.db import Job, JobStatus, make_engine, make_session_factory

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out" / "dashboard_load.json"
FIRST_LOAD_LIMIT_BYTES = 400_000
P99_LIMIT_MS = 100.0
DASHBOARD_PAGE_SIZE = 25  # jobs.js
FIRST_SCREEN_API = ("/api/training/jobs?page=1&page_size=25", "/api/sync/status", "/api/training/configs")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def fill_store(db_path: Path, n_jobs: int) -> None:
    """``n_jobs`` finished training and evaluation jobs, one second apart, with the metrics a trainer reports."""
    sessions = make_session_factory(make_engine(db_path))
    start = time.time() - n_jobs
    statuses = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.INTERRUPTED)
    metrics = {"reward": 0.12, "loss": 0.034, "equity": 10_250.5, "validation/sharpe": 1.1,
               "validation/total_return": 0.02, "validation/cost_drag": 0.3}
    with sessions() as session, session.begin():
        for i in range(n_jobs):
            at = start + i
            evaluation = i % 10 == 0
            session.add(Job(
                id=f"job{i:09d}", kind="evaluate" if evaluation else "train",
                params={"run_id": f"run_{i}", "which": "best", "split": "test", "report": "eval_test_best"}
                if evaluation else {},
                status=statuses[i % len(statuses)], algo="ppo", workers=2, seed=i, symbol="BTC/USDT", timeframe="5m",
                config_name="demo.yaml", overrides=["training.n_envs_per_worker=4"], created_at=at, updated_at=at,
                queued_at=at, started_at=at, finished_at=at + 60, total_timesteps=50_000, timesteps=50_000,
                fps=1500.0, metrics=metrics, run_dir=f"/srv/bot/checkpoints/run_{i}", attempt=1,
                error="stalled: no event" if i % 4 == 1 else None,
            ))


def _resources(client: httpx.Client, page: str) -> list[str]:
    """Every same-server path the page loads at start: tags, module imports (recursively), service worker."""
    paths = re.findall(r'<(?:script|link)[^>]*(?:src|href)="(/[^"]+)"', page)
    modules = [p for p in paths if p.endswith(".js")]
    seen: set[str] = set(paths)
    while modules:
        source = client.get(modules.pop()).text
        for name in re.findall(r'from "\./([\w.-]+\.js)"', source):
            path = f"/static/{name}"
            if path not in seen:
                seen.add(path)
                paths.append(path)
                modules.append(path)
    return [*paths, "/sw.js"]


def first_load(base_url: str) -> dict[str, Any]:
    """Wire and decoded bytes of the first load, per path."""
    files: dict[str, dict[str, int]] = {}
    with httpx.Client(base_url=base_url, headers={"Accept-Encoding": "gzip"}) as client:
        page = client.get("/dashboard")
        files["/dashboard"] = {"wire": page.num_bytes_downloaded, "decoded": len(page.content)}
        for path in [*_resources(client, page.text), *FIRST_SCREEN_API]:
            with client.stream("GET", path) as reply:
                reply.raise_for_status()
                decoded = len(reply.read())
                files[path] = {"wire": reply.num_bytes_downloaded, "decoded": decoded,
                               "gzip": int(reply.headers.get("content-encoding") == "gzip")}
    return {"files": files, "wire_bytes": sum(f["wire"] for f in files.values()),
            "decoded_bytes": sum(f["decoded"] for f in files.values())}


def list_latency(base_url: str, n_jobs: int, page_size: int, n_requests: int) -> dict[str, float]:
    """Latency of the paginated job list, cycling through every page."""
    pages = max(1, -(-n_jobs // page_size))
    times: list[float] = []
    with httpx.Client(base_url=base_url) as client:
        client.get("/api/training/jobs", params={"page": 1, "page_size": page_size}).raise_for_status()  # warm-up
        for i in range(n_requests):
            t0 = time.perf_counter()
            reply = client.get("/api/training/jobs", params={"page": 1 + i % pages, "page_size": page_size})
            times.append((time.perf_counter() - t0) * 1000)
            assert reply.status_code == 200 and reply.json()["total"] == n_jobs, reply.text
    ordered = sorted(times)
    return {"page_size": page_size, "requests": n_requests, "p50_ms": statistics.median(ordered),
            "p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], "max_ms": ordered[-1]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dashboard_load_") as tmp:
        workdir = Path(tmp)
        fill_store(workdir / "store" / "api.sqlite", args.jobs)
        port = _free_port()
        env = dict(os.environ, BOT_API_TOKEN="bench-token", PYTHONPATH=str(ROOT))
        server = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port), "--db",
                                   "store/api.sqlite"], cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.STDOUT)
        base_url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base_url}/api/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            load = first_load(base_url)
            latency = [list_latency(base_url, args.jobs, size, args.requests) for size in (DASHBOARD_PAGE_SIZE, 200)]
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=60)
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.platform(),
        "cpus": os.cpu_count(), "python": platform.python_version(), "jobs_in_store": args.jobs,
        "first_load": load, "first_load_limit_bytes": FIRST_LOAD_LIMIT_BYTES, "job_list": latency,
        "p99_limit_ms": P99_LIMIT_MS,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1))
    for path, sizes in load["files"].items():
        print(f"{path:80s} {sizes['wire']:>8,d} B on the wire  {sizes['decoded']:>8,d} B decoded")
    print(f"first load: {load['wire_bytes']:,d} B transferred ({load['decoded_bytes']:,d} B decoded);"
          f" limit {FIRST_LOAD_LIMIT_BYTES:,d} B")
    for row in latency:
        print(f"GET /api/training/jobs?page=..&page_size={row['page_size']} with {args.jobs} jobs:"
              f" p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, max {row['max_ms']:.1f} ms")
    print(f"wrote {OUT}")
    ok = load["wire_bytes"] <= FIRST_LOAD_LIMIT_BYTES and latency[0]["p99_ms"] < P99_LIMIT_MS
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
