"""``/ws``: the live event stream, with replay of missed events (``?since=<seq>`` or ``{"since": seq}``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from bot.api.deps import AppState
from bot.api.deps import token_problem as _token_problem
from bot.api.events import OVERFLOW, Subscription

logger = logging.getLogger(__name__)

router = APIRouter(tags=["events"])

#: Subprotocol the server answers with; a browser passes the token as a second one, ``bearer.<token>``.
SUBPROTOCOL = "bot-events"
_BEARER_PREFIX = "bearer."


def _presented_token(ws: WebSocket) -> str | None:
    if token := ws.query_params.get("token"):
        return token
    auth = ws.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    for proto in ws.headers.get("sec-websocket-protocol", "").split(","):
        if proto.strip().startswith(_BEARER_PREFIX):
            return proto.strip()[len(_BEARER_PREFIX):]
    return None


def _parse_since(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit():
        raise ValueError(f"since={raw!r} must be a non-negative integer event sequence number")
    return int(raw)


async def _receive(ws: WebSocket, sub: Subscription) -> None:
    # Client messages: {"since": N} asks for a replay of events after N; anything else is ignored.
    while True:
        text = await ws.receive_text()
        # NaN or Infinity (accepted by the JSON parser) are not a seq: ignored like any other bad message
        with contextlib.suppress(json.JSONDecodeError, TypeError, ValueError, OverflowError):
            msg = json.loads(text)
            if isinstance(msg, dict) and "since" in msg:
                sub.offer(max(0, int(msg["since"])))


async def _replay(ws: WebSocket, state: AppState, after: int) -> int | None:
    """Send every stored event after ``after``, page by page (one page is capped); the last seq sent, or None."""
    last = None
    # the store is SQLite: read each page in a thread so a long replay never blocks the other clients' event loop
    while page := await asyncio.to_thread(state.hub.since, after if last is None else last):
        for message in page:
            await ws.send_json(message)
        last = page[-1]["seq"]
    return last


async def _send(ws: WebSocket, state: AppState, sub: Subscription, since: int | None, live_from: int) -> None:
    last = live_from if since is None else since
    await ws.send_json({"type": "hello", "seq": live_from, "timestamp": None, "job_id": None,
                        "data": {"replay_from": since}})
    if since is not None and (sent := await _replay(ws, state, since)) is not None:
        last = sent
    while True:
        item: dict[str, Any] | int | None = await sub.queue.get()
        if item is OVERFLOW:
            await ws.close(code=1013, reason=f"client too slow; reconnect with ?since={last}")
            return
        if isinstance(item, int):
            if (sent := await _replay(ws, state, item)) is not None:
                last = max(last, sent)
        elif isinstance(item, dict) and item["seq"] > last:
            await ws.send_json(item)
            last = item["seq"]


@router.websocket("/ws")
async def events_socket(ws: WebSocket) -> None:
    """Stream events; the token comes as ``?token=``, an ``Authorization`` header or subprotocol ``bearer.<tok>``."""
    state: AppState = ws.app.state.bot
    offered = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    await ws.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    problem = _token_problem(state.settings, _presented_token(ws))
    if problem is not None:
        env = state.settings.token_env
        if problem[0] == 401:
            await ws.close(code=4401, reason=f"missing or invalid token: connect with ?token=<value of {env}>")
        else:
            await ws.close(code=4503, reason=f"the server has no API token: set {env} and restart it")
        return
    try:
        since = _parse_since(ws.query_params.get("since"))
    except ValueError as e:
        await ws.close(code=4422, reason=str(e)[:120])
        return
    # No await between these two lines: every event after live_from is fanned out to sub (fan-out runs on this
    # loop), and the replay query runs after subscribing, so nothing published in between is lost.
    live_from = state.hub.last_seq()
    sub = state.hub.subscribe()
    if since is not None:
        # a since beyond the store's newest event comes from another store (its file was replaced): replay nothing,
        # but do not hold back the live events numbered up to it
        since = min(since, live_from)
    tasks = [asyncio.create_task(_send(ws, state, sub, since, live_from)), asyncio.create_task(_receive(ws, sub))]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for task in done:
            if (exc := task.exception()) is not None and not isinstance(exc, WebSocketDisconnect):
                logger.warning("WebSocket client dropped: %s", exc)
    finally:
        for task in tasks:
            task.cancel()
        state.hub.unsubscribe(sub)
