"""The ``--address`` of an existing Ray cluster, checked without importing Ray (a bad one fails in seconds)."""

from __future__ import annotations

import socket

from bot.errors import ConfigError

#: Seconds to wait for a TCP connection to ``--address`` before calling it unreachable.
CONNECT_TIMEOUT_S = 5.0


def check_address(address: str) -> None:
    """Fail fast when ``HOST:PORT`` does not accept a TCP connection (``ray.init`` would retry for minutes).

    :raises ConfigError: naming the address, the reason and the fix.
    """
    if address == "auto":
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--address {address!r} must be auto or HOST:PORT, e.g. 10.0.0.5:6379")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as e:
        raise ConfigError(
            f"--address {address}: no Ray cluster answers there ({e.strerror or e}); start one with"
            f" `ray start --head --port {port}` on {host}, or leave out --address to run on this machine"
        ) from e
