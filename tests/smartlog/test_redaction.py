"""Tests of bot.smartlog.redaction: key=value, key: value, JSON, dict reprs and patterns."""

from __future__ import annotations

import pytest

from bot.smartlog import REDACTED, Redactor

KEYS = ("api_key", "apikey", "secret", "password", "token")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("connect api_key=ABC123 ok", f"connect api_key={REDACTED} ok"),
        ("password: pw123, user bob", f"password: {REDACTED}, user bob"),
        ('{"api_key": "abc", "n": 1}', f'{{"api_key": "{REDACTED}", "n": 1}}'),
        ("{'secret': 'hunter2', 'n': 3}", f"{{'secret': '{REDACTED}', 'n': 3}}"),
        ("Creds(api_key='zz', apikey=\"yy\")", f"Creds(api_key='{REDACTED}', apikey=\"{REDACTED}\")"),
        ("BINANCE_API_KEY=xyz&token=t1", f"BINANCE_API_KEY={REDACTED}&token={REDACTED}"),
        ('"secret_key": "a \\" b"', f'"secret_key": "{REDACTED}"'),
        ('{"token": 12345}', f'{{"token": {REDACTED}}}'),
        ("Trade opened long at 101.5", "Trade opened long at 101.5"),
    ],
)
def test_values_of_configured_keys_are_redacted(text: str, expected: str) -> None:
    assert Redactor(KEYS).redact(text) == expected


def test_patterns_are_redacted() -> None:
    redactor = Redactor(KEYS, [r"sk-[A-Za-z0-9]{8,}", r"\b\d{16}\b"])
    assert redactor.redact("key sk-abcdefghijk card 1234567812345678") == f"key {REDACTED} card {REDACTED}"


def test_no_keys_and_no_patterns_leave_text_alone() -> None:
    assert Redactor(()).redact("api_key=abc") == "api_key=abc"
