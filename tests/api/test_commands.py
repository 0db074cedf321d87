"""The serve command's helpers."""

from __future__ import annotations

import pytest

from bot.api.commands import _is_loopback


@pytest.mark.parametrize(("host", "expected"), [("127.0.0.1", True), ("::1", True), ("localhost", True),
                                                 ("0.0.0.0", False), ("192.168.1.5", False), ("example", False)])
def test_is_loopback(host: str, expected: bool) -> None:
    assert _is_loopback(host) is expected
