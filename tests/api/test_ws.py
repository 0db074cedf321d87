"""The /ws event stream: authentication, event order and sequence numbers, replay after reconnect."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.api.helpers import TOKEN, submit, wait_status

ClientFactory = Callable[..., TestClient]


def _collect_until(ws: Any, job_id: str, final: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while True:
        message = ws.receive_json()
        if message["job_id"] == job_id:
            messages.append(message)
            if message["type"] == final:
                return messages


@pytest.mark.parametrize("url", ["/ws", "/ws?token=wrong"])
def test_socket_without_valid_token_is_closed_with_4401(make_client: ClientFactory, url: str) -> None:
    client = make_client()
    with client.websocket_connect(url) as ws, pytest.raises(WebSocketDisconnect) as err:
        ws.receive_json()
    assert err.value.code == 4401
    assert "token" in err.value.reason


def test_socket_when_server_has_no_token_is_closed_with_4503(make_client: ClientFactory) -> None:
    client = make_client(token=None)
    with client.websocket_connect("/ws?token=x") as ws, pytest.raises(WebSocketDisconnect) as err:
        ws.receive_json()
    assert err.value.code == 4503
    assert "BOT_API_TOKEN" in err.value.reason


def test_bad_since_is_closed_with_4422(make_client: ClientFactory) -> None:
    client = make_client()
    with client.websocket_connect(f"/ws?token={TOKEN}&since=abc") as ws, pytest.raises(WebSocketDisconnect) as err:
        ws.receive_json()
    assert err.value.code == 4422
    assert "since='abc'" in err.value.reason


def test_token_as_subprotocol_or_header(make_client: ClientFactory) -> None:
    client = make_client()
    with client.websocket_connect("/ws", subprotocols=["bot-events", f"bearer.{TOKEN}"]) as ws:
        assert ws.accepted_subprotocol == "bot-events"
        assert ws.receive_json()["type"] == "hello"
    with client.websocket_connect("/ws", headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
        assert ws.receive_json()["type"] == "hello"


def test_live_events_arrive_in_order_with_increasing_seq(make_client: ClientFactory) -> None:
    client = make_client()
    with client.websocket_connect(f"/ws?token={TOKEN}") as ws:
        hello = ws.receive_json()
        assert hello["type"] == "hello" and hello["seq"] == 0
        job_id = submit(client)
        messages = _collect_until(ws, job_id, "training.completed")
    types = [m["type"] for m in messages]
    assert types[:2] == ["job.accepted", "training.started"]
    assert types.count("training.progress") == 5
    assert types[-2:] == ["training.checkpoint", "training.completed"]
    seqs = [m["seq"] for m in messages]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(m["timestamp"] > 0 for m in messages)
    progress = [m["data"]["progress"] for m in messages if m["type"] == "training.progress"]
    assert progress == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert messages[-1]["data"]["exit_code"] == 0


def test_reconnect_with_since_replays_missed_events(make_client: ClientFactory) -> None:
    client = make_client()
    first = submit(client)
    wait_status(client, first, "completed")
    with client.websocket_connect(f"/ws?token={TOKEN}&since=0") as ws:
        assert ws.receive_json()["type"] == "hello"
        replayed = _collect_until(ws, first, "training.completed")
    assert [m["seq"] for m in replayed] == list(range(1, len(replayed) + 1))
    cut = replayed[3]["seq"]
    second = submit(client)
    wait_status(client, second, "completed")
    with client.websocket_connect(f"/ws?token={TOKEN}&since={cut}") as ws:
        ws.receive_json()
        missed = _collect_until(ws, second, "training.completed")
        assert missed[0]["type"] == "job.accepted"
        # a replay request as a message re-sends everything after the given seq
        ws.send_json({"since": cut})
        again = [ws.receive_json() for _ in range(4)]
    assert [m["seq"] for m in again] == [cut + 1, cut + 2, cut + 3, cut + 4]
    assert again[0] == replayed[4]


@pytest.mark.timeout(30)  # a gap in the replay leaves receive_json() waiting for events that never come
def test_replay_longer_than_one_stored_page_has_no_gap(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client()
    hub = client.app.state.bot.hub  # type: ignore[attr-defined]
    page = hub.since
    monkeypatch.setattr(hub, "since", lambda seq, limit=3: page(seq, limit=min(limit, 3)))
    for i in range(8):
        hub.publish("test.event", None, {"i": i})
    with client.websocket_connect(f"/ws?token={TOKEN}&since=1") as ws:
        assert ws.receive_json()["type"] == "hello"
        replayed = [ws.receive_json() for _ in range(7)]
        ws.send_json({"since": 4})
        again = [ws.receive_json() for _ in range(4)]
    assert [m["seq"] for m in replayed] == list(range(2, 9))
    assert [m["seq"] for m in again] == [5, 6, 7, 8]


@pytest.mark.timeout(30)  # events held back leave receive_json() waiting
def test_since_from_another_store_does_not_hold_back_live_events(make_client: ClientFactory) -> None:
    client = make_client()
    with client.websocket_connect(f"/ws?token={TOKEN}&since=1000") as ws:  # a seq the store never reached
        hello = ws.receive_json()
        assert hello["type"] == "hello" and hello["data"]["replay_from"] == 0
        job_id = submit(client)
        messages = _collect_until(ws, job_id, "training.completed")
    assert messages[0]["type"] == "job.accepted" and messages[0]["seq"] == 1


@pytest.mark.parametrize("since", ["Infinity", "-Infinity", "NaN", '"x"'])
def test_a_non_finite_since_message_is_ignored_and_the_socket_stays_open(make_client: ClientFactory,
                                                                         since: str) -> None:
    client = make_client()
    with client.websocket_connect(f"/ws?token={TOKEN}") as ws:
        assert ws.receive_json()["type"] == "hello"
        ws.send_text(f'{{"since": {since}}}')
        ws.send_text('{"since": 0}')  # still served: the replay of everything stored comes
        job_id = submit(client)
        assert _collect_until(ws, job_id, "job.accepted")[0]["type"] == "job.accepted"
