"""Tests of bot.smartlog.settings: same fields and defaults as the config section, clear errors."""

from __future__ import annotations

import dataclasses

import pytest

from bot.config import LoggingConfig
from bot.smartlog import SmartLogSettings


def test_fields_and_defaults_equal_the_logging_config_section() -> None:
    assert SmartLogSettings.field_names() == tuple(LoggingConfig.model_fields)
    assert SmartLogSettings(**LoggingConfig().model_dump()) == SmartLogSettings()


def test_lists_from_model_dump_become_tuples_and_levels_upper_case() -> None:
    lists: dict[str, object] = {"critical_keywords": ["a"], "redact_keys": ["k"], "redact_patterns": [r"\d+"]}
    settings = SmartLogSettings(**lists, level="debug")  # type: ignore[arg-type]
    assert settings.critical_keywords == ("a",)
    assert settings.redact_patterns == (r"\d+",)
    assert settings.level == "DEBUG"
    hash(settings)


def test_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        SmartLogSettings().level = "ERROR"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"level": "LOUD"}, r"logging.level='LOUD' is not a level; use one of DEBUG, INFO, WARNING, ERROR"),
        ({"console_level": "x"}, r"logging.console_level='x' is not a level"),
        ({"max_bytes": 10}, r"logging.max_bytes=10 must be >= 1000 bytes"),
        ({"backup_count": -1}, r"logging.backup_count=-1 must be in \[0, 1000\]"),
        ({"warning_dedup_window_s": -1.0}, r"logging.warning_dedup_window_s=-1.0 must be >= 0 seconds"),
        ({"info_rotation_interval_s": 0.0}, r"logging.info_rotation_interval_s=0.0 must be > 0 seconds"),
        ({"debug_sample_rate": 1.5}, r"logging.debug_sample_rate=1.5 must be a share in \[0, 1\]"),
        ({"queue_size": 5}, r"logging.queue_size=5 must be >= 10 records"),
        ({"redact_patterns": ["("]}, r"logging.redact_patterns entry '\(' is not a valid regular expression"),
    ],
)
def test_bad_values_are_rejected_with_the_key_and_the_fix(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SmartLogSettings(**kwargs)  # type: ignore[arg-type]
