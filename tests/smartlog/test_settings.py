"""Tests of bot.smartlog.settings: the one declaration of the logging section, validated from YAML and by hand."""

from __future__ import annotations

import pydantic
import pytest

from bot.config import load_config
from bot.errors import ConfigError
from bot.smartlog import SmartLogSettings


def test_the_config_logging_section_is_the_settings_model() -> None:
    cfg = load_config(None, ["logging.level=debug", "logging.redact_keys=[token]"])
    assert isinstance(cfg.logging, SmartLogSettings)
    assert cfg.logging == SmartLogSettings(level="DEBUG", redact_keys=("token",))
    assert load_config(None).logging == SmartLogSettings()


def test_lists_become_tuples_and_levels_upper_case() -> None:
    lists: dict[str, object] = {"critical_keywords": ["a"], "redact_keys": ["k"], "redact_patterns": [r"\d+"]}
    settings = SmartLogSettings(**lists, level="debug")  # type: ignore[arg-type]
    assert settings.critical_keywords == ("a",)
    assert settings.redact_patterns == (r"\d+",)
    assert settings.level == "DEBUG"
    hash(settings)


def test_is_frozen_and_copies_are_validated_by_construction() -> None:
    settings = SmartLogSettings()
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        settings.level = "ERROR"  # type: ignore[misc]
    copy = settings.model_copy(update={"file": None})
    assert copy.file is None and settings.file == "bot.log"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"level": "LOUD"}, r"level\n.*'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
        ({"console_level": "x"}, r"console_level\n"),
        ({"max_bytes": 10}, r"max_bytes\n.*greater than or equal to 1000"),
        ({"backup_count": -1}, r"backup_count\n.*greater than or equal to 0"),
        ({"warning_dedup_window_s": -1.0}, r"warning_dedup_window_s\n.*greater than or equal to 0"),
        ({"info_rotation_interval_s": 0.0}, r"info_rotation_interval_s\n.*greater than 0"),
        ({"debug_sample_rate": 1.5}, r"debug_sample_rate\n.*less than or equal to 1"),
        ({"queue_size": 5}, r"queue_size\n.*greater than or equal to 10"),
        ({"redact_patterns": ["("]}, r"redact_patterns\n.*entry '\(' is not a valid regular expression"),
        ({"colour": True}, r"colour\n.*Extra inputs are not permitted"),
    ],
)
def test_bad_values_built_by_hand_are_rejected_naming_the_field(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SmartLogSettings(**kwargs)  # type: ignore[arg-type]


def test_bad_values_in_the_config_name_the_key_and_value() -> None:
    with pytest.raises(ConfigError, match=r"logging.max_bytes=10: Input should be greater than or equal to 1000"):
        load_config(None, ["logging.max_bytes=10"])
    with pytest.raises(ConfigError, match=r"logging.redact_patterns=\['\('\]: entry '\(' is not a valid regular"):
        load_config(None, ["logging.redact_patterns=['(']"])
