"""ASGI guards in front of every route: the ``Host`` header check (DNS rebinding) and the request body size limit."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)


def host_of(header: str) -> str:
    """The host part of a ``Host`` header, lower case, without port or trailing dot (``[::1]:80`` -> ``::1``)."""
    value = header.strip().lower()
    if value.startswith("["):  # IPv6 literal, maybe with a port after the bracket
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    return value.rstrip(".")


async def _reply(send: Send, status: int, detail: str, extra_headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               *extra_headers]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class TrustedHostGuard:
    """Answer only requests whose ``Host`` header names this server.

    A web page on another site can make a browser resolve its own name to 127.0.0.1 (DNS rebinding) and then read
    the token-free GET endpoints; such requests still carry that site's name in ``Host``, so they are refused (400,
    and WebSocket handshakes 403).

    :param app: the wrapped ASGI app.
    :param allowed: host names or addresses (no port); ``"*"`` allows any.
    """

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(host_of(h) if h != "*" else "*" for h in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or "*" in self.allowed:
            await self.app(scope, receive, send)
            return
        raw = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
        if host_of(raw) in self.allowed:
            await self.app(scope, receive, send)
            return
        logger.warning("Refused a request for Host %r (not in api.trusted_hosts)", raw[:100])
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "untrusted Host header"})
            return
        await _reply(send, 400, f"Host header {raw[:100]!r} is not one of this server's names"
                     f" {sorted(self.allowed)}; add it to api.trusted_hosts if you reach the server by that name")


class BodySizeLimit:
    """Refuse request bodies above ``max_bytes`` with 413, before the app reads (or parses) any of it.

    A declared ``Content-Length`` is checked at once; a chunked body is buffered up to the limit, then replayed.

    :param app: the wrapped ASGI app.
    :param max_bytes: the largest body accepted.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> str:
        return f"request body larger than {self.max_bytes} bytes (api.max_body_bytes)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_bytes:
                await _reply(send, 413, self._too_large())
                return
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await _reply(send, 413, self._too_large())
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)
