"""Control-API load: N WebSocket clients plus status polling while a real training job runs.

Starts ``python -m bot serve`` on a free loopback port (its own process, so its CPU is measured alone), submits a
long job on a tiny synthetic config, connects ``--clients`` WebSocket clients and ``--pollers`` HTTP pollers, and
measures for ``--duration`` seconds:

- event latency of every ``training.progress`` event at every client: receipt minus the server's publish
  ``timestamp`` (fan-out), and receipt minus the trainer's own event ``time`` (end to end: file tail + store + fan-out);
- HTTP latency of ``GET /api/sync/status`` and ``GET /api/training/jobs/{id}``;
- CPU of the server process and of the trainer (psutil), in percent of one core.

Writes benchmarks/out/api_ws.json. Usage: ``python benchmarks/api_ws.py [--clients 100] [--duration 40]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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
import psutil
import websockets

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
TINY_CONFIG = """\
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
  checkpoint_freq: 0
  eval_freq: 0
  ppo: {n_steps: 64, batch_size: 64, n_epochs: 1, net_arch: [32, 32]}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _quantiles_ms(values: list[float]) -> dict[str, float | int | None]:
    if len(values) < 2:
        return {"n": len(values), "p50_ms": None, "p99_ms": None, "max_ms": None}
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"n": len(values), "p50_ms": round(q[49] * 1000, 2), "p99_ms": round(q[98] * 1000, 2),
            "max_ms": round(max(values) * 1000, 2)}


async def _ws_client(url: str, fanout: list[float], end_to_end: list[float], stop: asyncio.Event) -> None:
    async with websockets.connect(url, max_queue=None) as ws:
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
            except TimeoutError:
                continue
            now = time.time()
            msg = json.loads(raw)
            if msg["type"] == "training.progress":
                fanout.append(now - msg["timestamp"])
                end_to_end.append(now - msg["data"]["time"])


async def _poller(base: str, job_id: str, interval_s: float, lat: dict[str, list[float]], stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        while not stop.is_set():
            for name, path in (("sync_status", "/api/sync/status"), ("job", f"/api/training/jobs/{job_id}")):
                t0 = time.perf_counter()
                response = await client.get(path)
                response.raise_for_status()
                lat[name].append(time.perf_counter() - t0)
            await asyncio.sleep(interval_s)


def _cpu_s(proc: psutil.Process, children: bool) -> float:
    procs = proc.children(recursive=True) if children else [proc]
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            continue
    return total


async def _measure(args: argparse.Namespace, base: str, server: psutil.Process) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        reply = await client.post("/api/training/jobs", headers=HEADERS,
                                  json={"config": "tiny", "timesteps": 10_000_000, "workers": 1})
        reply.raise_for_status()
        job_id = reply.json()["job_id"]
        t0 = time.monotonic()
        while (await client.get(f"/api/training/jobs/{job_id}")).json()["status"] != "running":
            if time.monotonic() - t0 > 180:
                raise RuntimeError("the training job did not start within 180 s")
            await asyncio.sleep(0.5)
    stop = asyncio.Event()
    fanout: list[float] = []
    end_to_end: list[float] = []
    http: dict[str, list[float]] = {"sync_status": [], "job": []}
    ws_url = base.replace("http://", "ws://") + f"/ws?token={TOKEN}"
    tasks = [asyncio.create_task(_ws_client(ws_url, fanout, end_to_end, stop)) for _ in range(args.clients)]
    await asyncio.sleep(2.0)  # let every client connect before measuring
    tasks += [asyncio.create_task(_poller(base, job_id, args.poll_interval, http, stop)) for _ in range(args.pollers)]
    server_cpu0, trainer_cpu0, wall0 = _cpu_s(server, False), _cpu_s(server, True), time.monotonic()
    await asyncio.sleep(args.duration)
    server_cpu1, trainer_cpu1, wall1 = _cpu_s(server, False), _cpu_s(server, True), time.monotonic()
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        clients_seen = (await client.get("/api/sync/status")).json()["websocket"]["clients"]
        await client.post(f"/api/training/jobs/{job_id}/cancel", headers=HEADERS)
    stop.set()
    await asyncio.gather(*tasks)
    wall = wall1 - wall0
    return {
        "clients": args.clients,
        "clients_connected_at_server": clients_seen,
        "pollers": args.pollers,
        "poll_interval_s": args.poll_interval,
        "duration_s": round(wall, 1),
        "progress_events_per_client": round(len(fanout) / max(1, args.clients), 1),
        "latency_fanout": _quantiles_ms(fanout),
        "latency_end_to_end": _quantiles_ms(end_to_end),
        "http_sync_status": _quantiles_ms(http["sync_status"]),
        "http_job": _quantiles_ms(http["job"]),
        "http_requests_per_s": round((len(http["sync_status"]) + len(http["job"])) / wall, 1),
        "server_cpu_percent_of_one_core": round(100 * (server_cpu1 - server_cpu0) / wall, 1),
        "trainer_cpu_percent_of_one_core": round(100 * (trainer_cpu1 - trainer_cpu0) / wall, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--pollers", type=int, default=4)
    parser.add_argument("--poll-interval", type=float, default=0.25, help="seconds between a poller's rounds")
    parser.add_argument("--duration", type=float, default=40.0, help="measured seconds")
    args = parser.parse_args()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="api_ws_bench_") as tmp:
        workdir = Path(tmp)
        (workdir / "config").mkdir()
        (workdir / "config" / "tiny.yaml").write_text(TINY_CONFIG)
        env = dict(os.environ, BOT_API_TOKEN=TOKEN)
        log = (workdir / "serve.log").open("wb")
        proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port), "--db", "api.sqlite"],
                                cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"server did not start:\n{(workdir / 'serve.log').read_text()}")
                time.sleep(0.2)
            result = asyncio.run(_measure(args, base, psutil.Process(proc.pid)))
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
    result["machine"] = f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    out = ROOT / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "api_ws.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
