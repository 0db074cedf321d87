"""Fixtures of the API tests: an app on a temporary job store, driven by the fake trainer by default."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.api import ApiSettings, create_app
from tests.api.helpers import REPO_ROOT, TOKEN, fake_command


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
