"""Paths a job can set stay in the server's folders (real uvicorn): run folder, log files, data file, checkpoints.

Every refusal is a 422 on the ``overrides`` field that names the key; none quotes the content of any file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from bot.api.job_paths import FORBIDDEN_SECTIONS, PATH_KEYS
from bot.config import BotConfig
from tests.api.helpers import AUTH
from tests.api.live_server import ThreadedServer

Serve = Callable[..., ThreadedServer]
SECRET = "TOPSECRET-line-of-a-private-file"


def _post(server: ThreadedServer, overrides: list[str], **body: Any) -> httpx.Response:
    payload = {"config": "demo.yaml", "timesteps": 500, "workers": 1, "overrides": overrides, **body}
    return httpx.post(f"{server.base_url}/api/training/jobs", json=payload, headers=AUTH, timeout=30)


def _refused(response: httpx.Response, key: str) -> str:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", "overrides"], detail
    assert key in detail["msg"], detail["msg"]
    assert SECRET not in response.text
    return str(detail["msg"])


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside every root, holding a private file with a .csv and a .log name."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "private.csv").write_text(f"{SECRET}\n")
    (folder / "private.log").write_text(f"{SECRET}\n")
    return folder


@pytest.mark.parametrize("name", ["/tmp/escape", "../escape", "a/b", "..", ".hidden", "x\\y", "a b"])
def test_run_name_must_be_a_plain_folder_name(serve: Serve, name: str) -> None:
    _refused(_post(serve(), [f"run_name={name}"]), "run_name")


def test_run_name_symlinked_out_of_the_checkpoint_folder_is_refused(serve: Serve, tmp_path: Path,
                                                                   outside: Path) -> None:
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "evil").symlink_to(outside)
    assert "outside the checkpoint folder" in _refused(_post(serve(), ["run_name=evil"]), "run_name")


@pytest.mark.parametrize("key", ["logging.file", "logging.jsonl_file"])
@pytest.mark.parametrize("value", ["/tmp/x.log", "../x.log", "../../outside/private.log", "sub/x.log"])
def test_log_files_must_stay_in_the_run_folder(serve: Serve, key: str, value: str) -> None:
    _refused(_post(serve(), [f"{key}={value}"]), key)


def test_log_file_symlinked_out_of_an_existing_run_folder_is_refused(serve: Serve, tmp_path: Path,
                                                                    outside: Path) -> None:
    run = tmp_path / "checkpoints" / "myrun"
    run.mkdir(parents=True)
    (run / "bot.log").symlink_to(outside / "private.log")
    response = _post(serve(), ["run_name=myrun", "logging.file=bot.log"])
    assert "outside the run folder" in _refused(response, "logging.file")


def test_data_file_outside_the_data_roots_is_refused_without_echoing_it(serve: Serve, tmp_path: Path,
                                                                       outside: Path) -> None:
    server = serve()
    for path in (outside / "private.csv", "../../../../etc/hostname.csv", tmp_path / "data" / ".." / "outside"
                 / "private.csv"):
        msg = _refused(_post(server, ["data.source=file", f"data.path={path}"]), "data.path")
        assert "data roots" in msg and str(tmp_path / "data") in msg


def test_symbol_files_outside_the_data_roots_are_refused(serve: Serve, tmp_path: Path, outside: Path) -> None:
    server = serve()
    several = ["data.source=file", "data.path=null", "env.mode=universe"]
    by_dir = [*several, "data.symbols=[BTC/USDT, ETH/USDT]", f"data.dir={outside}"]
    assert "data roots" in _refused(_post(server, by_dir), "data.symbols (BTC/USDT)")
    (tmp_path / "data").mkdir()
    listed = [*several, f"data.symbols=[{{symbol: BTC/USDT, path: {tmp_path / 'data' / 'btc.csv'}}},"
              f" {{symbol: ETH/USDT, path: {outside / 'eth.csv'}}}]"]
    assert "data roots" in _refused(_post(server, listed), "data.symbols (ETH/USDT)")


def test_data_file_symlinked_out_of_a_data_root_is_refused(serve: Serve, tmp_path: Path, outside: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "innocent.csv").symlink_to(outside / "private.csv")
    response = _post(serve(), ["data.source=file", f"data.path={tmp_path / 'data' / 'innocent.csv'}"])
    _refused(response, "data.path")


def test_data_file_inside_a_data_root_is_accepted(serve: Serve, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "candles.csv").write_text("open_time,open,high,low,close,volume\n")
    response = _post(serve(), ["data.source=file", f"data.path={tmp_path / 'data' / 'candles.csv'}"])
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("override", ["training.checkpoint_dir=/tmp/elsewhere", "api.db_path=/tmp/x.sqlite",
                                      "live.state_path=/tmp/state.sqlite", "api.max_concurrent_jobs=16"])
def test_server_owned_keys_are_refused(serve: Serve, override: str) -> None:
    _refused(_post(serve(), [override]), override.partition("=")[0])


def test_every_path_key_of_the_schema_is_confined() -> None:
    """A new path-like config key must be added to PATH_KEYS (and checked) before jobs can set it."""
    found: list[str] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
                walk(info.annotation, f"{prefix}{name}.")
            elif "str" in str(info.annotation) and re.search(r"path|file|dir|run_name|url", name):
                found.append(prefix + name)

    walk(BotConfig, "")
    unconfined = [k for k in found if k not in PATH_KEYS and k.split(".")[0] not in FORBIDDEN_SECTIONS]
    assert unconfined == []
