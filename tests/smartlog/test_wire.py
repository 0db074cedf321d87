"""Tests of bot.smartlog.wire: records become plain tuples, even when formatting fails."""

from __future__ import annotations

import logging
import pickle
import sys


def _record(msg: object, args: tuple[object, ...] = (), exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("inner problem")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("bot.x", logging.ERROR, __file__, 1, msg, args, exc_info)


def test_record_becomes_a_picklable_tuple_with_template_and_message() -> None:
    from bot.smartlog.wire import to_wire

    wire = to_wire(_record("price %.2f for %s", (1.5, object())))
    _created, levelno, name, template, message, exc_text = wire
    assert (levelno, name, template, exc_text) == (logging.ERROR, "bot.x", "price %.2f for %s", None)
    assert message.startswith("price 1.50 for <object object")
    assert pickle.loads(pickle.dumps(wire)) == wire


def test_traceback_is_rendered_as_text() -> None:
    from bot.smartlog.wire import to_wire

    exc_text = to_wire(_record("failed", exc=True))[5]
    assert exc_text is not None
    assert exc_text.startswith("Traceback") and exc_text.endswith("ValueError: inner problem")


def test_bad_format_arguments_keep_the_template_and_arguments() -> None:
    from bot.smartlog.wire import to_wire

    message = to_wire(_record("needs %d and %d", (1,)))[4]
    assert message.startswith("needs %d and %d % (1,) (message formatting failed:")


def test_non_string_message_uses_its_str() -> None:
    from bot.smartlog.wire import to_wire

    assert to_wire(_record(42))[3:5] == ("42", "42")
