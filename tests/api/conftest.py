"""Fixtures of the API tests: an app on a temporary job store, driven by the fake trainer by default."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.api import ApiSettings, create_app
from bot.api.job_limits import JobLimits
from tests.api.helpers import REPO_ROOT, TOKEN, fake_command
from tests.api.live_server import ThreadedServer


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A config/ folder holding a copy of demo.yaml."""
    folder = tmp_path / "config"
    folder.mkdir()
    shutil.copy(REPO_ROOT / "config" / "demo.yaml", folder / "demo.yaml")
    return folder


@pytest.fixture
def make_settings(tmp_path: Path, config_dir: Path) -> Callable[..., ApiSettings]:
    """Build settings on the temporary folders; keyword arguments override fields."""

    def build(**overrides: Any) -> ApiSettings:
        fields: dict[str, Any] = {
            "db_path": tmp_path / "store" / "api.sqlite",
            "token": TOKEN,
            "config_dir": config_dir,
            "checkpoint_dir": tmp_path / "checkpoints",
            "jobs_dir": tmp_path / "store" / "jobs",
            "log_path": tmp_path / "store" / "server.log",
            "paper_state_path": tmp_path / "paper_state.sqlite",
            "trainer_command": fake_command("complete"),
            "trusted_hosts": ("testserver", "127.0.0.1", "localhost"),
            "data_roots": (tmp_path / "data",),
            # not the machine's core count: the tests ask for up to 2 workers wherever they run
            "limits": JobLimits(max_workers=8),
            "workdir": REPO_ROOT,
            "poll_interval_s": 0.05,
            "cancel_grace_s": 5.0,
        }
        fields.update(overrides)
        return ApiSettings(**fields)

    return build


@pytest.fixture
def make_client(make_settings: Callable[..., ApiSettings]) -> Iterator[Callable[..., TestClient]]:
    """Start an app (lifespan included) with settings overrides; every app started is shut down after the test."""
    started: list[TestClient] = []

    def start(**overrides: Any) -> TestClient:
        client = TestClient(create_app(make_settings(**overrides)))
        client.__enter__()
        started.append(client)
        return client

    yield start
    for client in reversed(started):
        client.__exit__(None, None, None)


@pytest.fixture
def serve(make_settings: Callable[..., ApiSettings]) -> Iterator[Callable[..., ThreadedServer]]:
    """Serve an app with real uvicorn on a free loopback port (settings overrides as keywords); stopped after."""
    started: list[ThreadedServer] = []

    def start(**overrides: Any) -> ThreadedServer:
        server = ThreadedServer(create_app(make_settings(**overrides)))
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()
