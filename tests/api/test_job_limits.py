"""Resource limits, strict types and request guards of the control API, against real uvicorn."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from bot.api.guards import host_of
from bot.api.job_limits import JobLimits
from tests.api.helpers import AUTH, TOKEN
from tests.api.live_server import ThreadedServer

Serve = Callable[..., ThreadedServer]

#: 331 characters that a YAML loader expands into about 10^9 list items.
ALIAS_BOMB = (
    "data.symbol=[&a [x,x,x,x,x,x,x,x,x], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a], &c [*b,*b,*b,*b,*b,*b,*b,*b,*b],"
    " &d [*c,*c,*c,*c,*c,*c,*c,*c,*c], &e [*d,*d,*d,*d,*d,*d,*d,*d,*d], &f [*e,*e,*e,*e,*e,*e,*e,*e,*e],"
    " &g [*f,*f,*f,*f,*f,*f,*f,*f,*f], &h [*g,*g,*g,*g,*g,*g,*g,*g,*g], &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]]"
)


def _post(server: ThreadedServer, content: str | bytes | Iterator[bytes] | None = None,
          **body: Any) -> httpx.Response:
    url = f"{server.base_url}/api/training/jobs"
    if content is not None:
        headers = {**AUTH, "Content-Type": "application/json"}
        return httpx.post(url, content=content, headers=headers, timeout=30)
    return httpx.post(url, json={"config": "demo.yaml", "timesteps": 500, "workers": 1, **body}, headers=AUTH,
                      timeout=30)


def _field_error(response: httpx.Response, field: str) -> str:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    matching = [d for d in detail if d["loc"][:2] == ["body", field]]
    assert matching, detail
    return str(matching[0]["msg"])


def test_workers_beyond_the_limit_are_refused(serve: Serve) -> None:
    server = serve(limits=JobLimits(max_workers=2))
    assert "api.max_workers=2" in _field_error(_post(server, workers=3), "workers")
    assert _post(server, workers=2).status_code == 202


def test_workers_default_to_the_cpu_count(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.api.job_limits.cpu_cores", lambda: 2)
    server = serve(limits=JobLimits(max_workers=0))
    assert "2 CPU cores" in _field_error(_post(server, workers=64), "workers")


def test_environments_beyond_the_limit_are_refused(serve: Serve) -> None:
    server = serve(limits=JobLimits(max_workers=64, max_envs=64, worker_memory_mb=0))
    msg = _field_error(_post(server, workers=64, overrides=["training.n_envs_per_worker=256"]), "overrides")
    assert "16384 environments" in msg and "api.max_envs=64" in msg


def test_a_job_that_cannot_fit_in_memory_is_refused(serve: Serve) -> None:
    server = serve(limits=JobLimits(worker_memory_mb=10**9))
    assert "MiB" in _field_error(_post(server), "workers")


def test_timesteps_beyond_the_limit_are_refused_also_on_resume(serve: Serve) -> None:
    server = serve(limits=JobLimits(max_timesteps=1000))
    assert "api.max_timesteps=1000" in _field_error(_post(server, timesteps=1001), "timesteps")
    job_id = _post(server, timesteps=1000).json()["job_id"]
    response = httpx.post(f"{server.base_url}/api/training/jobs/{job_id}/resume", json={"timesteps": 1001},
                          headers=AUTH)
    assert "api.max_timesteps=1000" in _field_error(response, "timesteps")


def test_override_count_and_length_are_limited(serve: Serve) -> None:
    server = serve(limits=JobLimits(max_overrides=2, max_override_chars=50))
    many = ["env.window=8"] * 3
    assert "api.max_overrides=2" in _field_error(_post(server, overrides=many), "overrides")
    long = f"data.symbol={'A' * 60}/USDT"
    assert "api.max_override_chars=50" in _field_error(_post(server, overrides=[long]), "overrides")


def test_yaml_alias_bomb_is_refused_at_once_with_a_short_reply(serve: Serve) -> None:
    server = serve()
    response = _post(server, overrides=[ALIAS_BOMB])
    assert "aliases are not allowed" in _field_error(response, "overrides")
    assert len(response.content) < 10_000
    assert _post(server, overrides=["data.symbol=&anchor ETH/USDT"]).status_code == 422


def test_bodies_above_the_limit_are_413_declared_or_chunked(serve: Serve) -> None:
    server = serve(max_body_bytes=4096)
    big = f'{{"config": "demo.yaml", "overrides": ["data.symbol={"A" * 10_000}"]}}'
    assert _post(server, content=big).status_code == 413
    chunked = _post(server, content=iter([big[:3000].encode(), big[3000:].encode()]))
    assert chunked.status_code == 413 and "api.max_body_bytes" in chunked.json()["detail"]
    small = iter([b'{"config": "demo.yaml", ', b'"timesteps": 500, "workers": 1}'])
    assert _post(server, content=small).status_code == 202


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"config": "demo.yaml", "timesteps": NaN}', "timesteps"),
        ('{"config": "demo.yaml", "timesteps": Infinity}', "timesteps"),
        ('{"config": "demo.yaml", "workers": -Infinity}', "workers"),
        ('{"config": "demo.yaml", "seed": NaN}', "seed"),
        ('{"config": "demo.yaml", "overrides": [NaN]}', "overrides"),
        ('{"config": NaN}', "config"),
        ('{"config": "demo.yaml", "unknown": Infinity}', "unknown"),
        ('{"config": "demo.yaml", "algo": NaN}', "algo"),
        ('{"config": "demo.yaml", "timesteps": "1000"}', "timesteps"),
        ('{"config": "demo.yaml", "workers": true}', "workers"),
        ('{"config": "demo.yaml", "seed": 1.0}', "seed"),
    ],
)
def test_non_finite_and_non_integer_numbers_are_422_naming_the_field(serve: Serve, body: str, field: str) -> None:
    _field_error(_post(serve(), content=body), field)


@pytest.mark.parametrize("body", ['{"timesteps": NaN}', '{"timesteps": "1000"}', '{"timesteps": true}'])
def test_resume_body_is_strict_too(serve: Serve, body: str) -> None:
    server = serve()
    job_id = _post(server).json()["job_id"]
    response = httpx.post(f"{server.base_url}/api/training/jobs/{job_id}/resume", content=body,
                          headers={**AUTH, "Content-Type": "application/json"})
    _field_error(response, "timesteps")


def test_foreign_host_headers_are_refused(serve: Serve) -> None:
    server = serve(trusted_hosts=("127.0.0.1", "localhost"))
    url = f"{server.base_url}/api/training/jobs"
    assert httpx.get(url).status_code == 200  # Host: 127.0.0.1:<port>
    assert httpx.get(url, headers={"Host": f"localhost:{server.port}"}).status_code == 200
    refused = httpx.get(url, headers={"Host": f"attacker.example:{server.port}"})
    assert refused.status_code == 400 and "api.trusted_hosts" in refused.json()["detail"]
    ws_url = server.base_url.replace("http://", "ws://") + f"/ws?token={TOKEN}"
    with pytest.raises(InvalidStatus) as refused_ws:
        connect(ws_url, additional_headers={"Host": "attacker.example"}, open_timeout=10).close()
    assert refused_ws.value.response.status_code == 403
    with connect(ws_url, open_timeout=10) as ws:
        assert '"hello"' in str(ws.recv(timeout=10))


def test_a_star_trusts_every_host(serve: Serve) -> None:
    server = serve(trusted_hosts=("*",))
    response = httpx.get(f"{server.base_url}/api/health", headers={"Host": "anything.example"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("header", "host"),
    [("127.0.0.1:8000", "127.0.0.1"), ("[::1]:8000", "::1"), ("[::1]", "::1"), ("LocalHost.", "localhost"),
     ("localhost", "localhost"), ("", "")],
)
def test_host_of_a_host_header(header: str, host: str) -> None:
    assert host_of(header) == host
