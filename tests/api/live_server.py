"""Real servers for the API tests: `python -m bot serve` as a process, uvicorn in a thread, a WebSocket recorder."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.api.helpers import TOKEN, wait_for


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/api/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


class ServeProcess:
    """``python -m bot serve`` on a free loopback port, in ``workdir`` (which holds ``config/``).

    :param workdir: the server's working directory (job configs come from ``workdir/config``).
    :param extra_args: more ``serve`` arguments (``--set ...``).
    """

    def __init__(self, workdir: Path, extra_args: tuple[str, ...] = ()) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"serve-{self.port}.out"
        argv = [sys.executable, "-m", "bot", "serve", "--port", str(self.port), "--db", "store/api.sqlite",
                *extra_args]
        env = dict(os.environ, BOT_API_TOKEN=TOKEN, PYTHONUNBUFFERED="1")
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(argv, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: self.process.poll() is not None or healthy(self.base_url), timeout_s=60)
            if self.process.poll() is not None:
                raise AssertionError(f"bot serve exited early:\n{self.log_path.read_text()}")
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout_s: float = 90.0) -> int:
        """Ctrl+C the server (it stops its trainers with a checkpoint) and wait; kill it after ``timeout_s``."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


class ThreadedServer:
    """Uvicorn serving ``app`` in a background thread of the test process (on ``port``, or a free one)."""

    def __init__(self, app: FastAPI, port: int | None = None) -> None:
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)
        self.thread.start()
        wait_for(lambda: self.server.started, timeout_s=30)

    def stop(self) -> None:
        """Ask uvicorn to exit and join its thread."""
        self.server.should_exit = True
        self.thread.join(timeout=60)


class WsRecorder:
    """Collects every message of ``/ws`` in a background thread (the client side of the event stream)."""

    def __init__(self, base_url: str, since: int | None = None) -> None:
        url = base_url.replace("http://", "ws://") + f"/ws?token={TOKEN}"
        if since is not None:
            url += f"&since={since}"
        self.messages: list[dict[str, Any]] = []
        self.received_at: list[float] = []
        self._ws = connect(url, open_timeout=10)
        self.thread = threading.Thread(target=self._run, name="ws-recorder", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            with self._ws:
                for raw in self._ws:
                    self.received_at.append(time.time())
                    self.messages.append(json.loads(raw))
        except ConnectionClosed:
            return

    def of_job(self, job_id: str) -> list[dict[str, Any]]:
        """Messages about one job, in arrival order."""
        return [m for m in list(self.messages) if m.get("job_id") == job_id]

    def close(self) -> None:
        """Close the connection and join the thread."""
        self._ws.close()
        self.thread.join(timeout=10)
