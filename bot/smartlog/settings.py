"""SmartLogger settings: the one declaration of the ``logging:`` config section.

``bot.config`` uses :class:`SmartLogSettings` as its ``logging`` section (``cfg.logging`` IS the settings), so the
fields, defaults, bounds and descriptions live here and nowhere else; ``bot.smartlog`` still imports nothing of ``bot``.
Settings built by hand are validated the same way (a :class:`pydantic.ValidationError`, a ``ValueError``).
"""

from __future__ import annotations

import logging
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Level names accepted for ``level`` and ``console_level``.
LEVEL_NAMES: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR")
LevelName = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

DEFAULT_CRITICAL_KEYWORDS: tuple[str, ...] = (
    "trade opened",
    "trade closed",
    "stop loss",
    "take profit",
    "liquidation",
    "drawdown limit",
    "dbe mode change",
)
DEFAULT_REDACT_KEYS: tuple[str, ...] = ("api_key", "apikey", "secret", "password", "token")


def level_number(name: str | int) -> int:
    """Return the numeric logging level of a level name (``"INFO"``) or pass a number through.

    :param name: a name from :data:`LEVEL_NAMES` (any case) or a numeric level.
    :return: the numeric level, e.g. ``logging.INFO``.
    :raises ValueError: for an unknown level name.
    """
    if isinstance(name, int):
        return name
    number = logging.getLevelName(str(name).upper())
    if not isinstance(number, int):
        raise ValueError(f"log level {name!r} is unknown; use one of {', '.join(LEVEL_NAMES)}")
    return number


class SmartLogSettings(BaseModel):
    """Log policy and outputs, applied once at the listener in the main process (frozen, hashable)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    level: LevelName = Field("INFO", description="lowest level written to the file and of every process's root logger")
    console: bool = Field(True, description="also write to the console (stderr)")
    console_level: LevelName = Field("WARNING", description="lowest level written to the console")
    file: str | None = Field("bot.log", description="rotating log file, relative to the run folder (null = none)")
    max_bytes: int = Field(
        10_000_000, ge=1_000, description="rotate the log file (and the JSON-lines file) at this size (bytes)"
    )
    backup_count: int = Field(5, ge=0, le=1000, description="rotated files kept (bot.log.1 ...); 0 truncates instead")
    jsonl_file: str | None = Field(None, description="optional JSON-lines log file, relative to the run folder")
    warning_dedup_window_s: float = Field(
        5.0, ge=0, description="seconds in which repeats of a WARNING template are counted, not written (0 = off)"
    )
    info_rotation_interval_s: float = Field(
        1.0, gt=0, description="seconds before INFO rotation moves to the next worker"
    )
    debug_sample_rate: float = Field(
        0.1, ge=0, le=1, description="share of DEBUG templates that pass (a stable hash of the template decides)"
    )
    queue_size: int = Field(10_000, ge=10, description="bounded worker->listener queue; full = drop and count")
    critical_keywords: tuple[str, ...] = Field(
        DEFAULT_CRITICAL_KEYWORDS, description="INFO messages containing any of these (case-insensitive) always pass"
    )
    redact_keys: tuple[str, ...] = Field(
        DEFAULT_REDACT_KEYS, description="key names whose values are redacted (key=value, key: value, JSON)"
    )
    redact_patterns: tuple[str, ...] = Field((), description="extra regexes whose matches are redacted")

    @field_validator("level", "console_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("redact_patterns")
    @classmethod
    def _patterns_compile(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"entry {pattern!r} is not a valid regular expression ({exc}); fix or remove it"
                ) from exc
        return patterns
