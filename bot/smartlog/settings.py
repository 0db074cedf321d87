"""SmartLogger settings: a frozen mirror of ``bot.config.LoggingConfig`` (same field names and defaults).

The caller builds it with ``SmartLogSettings(**cfg.logging.model_dump())``; ``bot.smartlog`` never imports the config,
so it stays a base layer. Every value is checked again here, because the settings may also be built by hand.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, fields

#: Level names accepted for ``level`` and ``console_level``.
LEVEL_NAMES: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR")

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


@dataclass(frozen=True, slots=True)
class SmartLogSettings:
    """Log policy and outputs, applied once at the listener in the main process.

    :param level: lowest level written to the file (and the level of every process's root logger).
    :param console: also write to the console (stderr).
    :param console_level: lowest level written to the console.
    :param file: size-rotated log file name, relative to the log folder; ``None`` for no file.
    :param max_bytes: rotate the log file (and the JSON-lines file) when a write would pass this size (bytes).
    :param backup_count: rotated files kept (``bot.log.1`` ... ``bot.log.N``); 0 truncates instead.
    :param jsonl_file: optional JSON-lines log file name, relative to the log folder.
    :param warning_dedup_window_s: seconds in which repeats of a WARNING template are counted, not written; 0 = off.
    :param info_rotation_interval_s: seconds before INFO rotation moves on to the next worker.
    :param debug_sample_rate: share (0..1) of DEBUG templates that pass; the choice is a stable hash of the template.
    :param queue_size: records that may wait between the workers and the listener; beyond that they are dropped.
    :param critical_keywords: INFO records whose template or message holds one of these (any case) always pass.
    :param redact_keys: key names whose values are replaced by ``[REDACTED]`` (key=value, key: value, JSON).
    :param redact_patterns: extra regular expressions whose matches are replaced by ``[REDACTED]``.
    """

    level: str = "INFO"
    console: bool = True
    console_level: str = "WARNING"
    file: str | None = "bot.log"
    max_bytes: int = 10_000_000
    backup_count: int = 5
    jsonl_file: str | None = None
    warning_dedup_window_s: float = 5.0
    info_rotation_interval_s: float = 1.0
    debug_sample_rate: float = 0.1
    queue_size: int = 10_000
    critical_keywords: tuple[str, ...] = DEFAULT_CRITICAL_KEYWORDS
    redact_keys: tuple[str, ...] = DEFAULT_REDACT_KEYS
    redact_patterns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # model_dump() gives lists; store tuples so the settings stay hashable and immutable.
        for name in ("critical_keywords", "redact_keys", "redact_patterns"):
            object.__setattr__(self, name, tuple(str(item) for item in getattr(self, name)))
        for name in ("level", "console_level"):
            value = str(getattr(self, name)).upper()
            if value not in LEVEL_NAMES:
                raise ValueError(
                    f"logging.{name}={getattr(self, name)!r} is not a level; use one of {', '.join(LEVEL_NAMES)}"
                )
            object.__setattr__(self, name, value)
        self._check_numbers()
        for pattern in self.redact_patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"logging.redact_patterns entry {pattern!r} is not a valid regular expression ({exc});"
                    " fix or remove it"
                ) from exc

    def _check_numbers(self) -> None:
        checks = (
            ("max_bytes", self.max_bytes >= 1_000, "must be >= 1000 bytes"),
            ("backup_count", 0 <= self.backup_count <= 1000, "must be in [0, 1000]"),
            ("warning_dedup_window_s", self.warning_dedup_window_s >= 0, "must be >= 0 seconds (0 = no dedup)"),
            ("info_rotation_interval_s", self.info_rotation_interval_s > 0, "must be > 0 seconds"),
            ("debug_sample_rate", 0 <= self.debug_sample_rate <= 1, "must be a share in [0, 1]"),
            ("queue_size", self.queue_size >= 10, "must be >= 10 records"),
        )
        for name, is_valid, expectation in checks:
            if not is_valid:
                raise ValueError(f"logging.{name}={getattr(self, name)!r} {expectation}; fix it in the logging config")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Return the field names, which equal ``bot.config.LoggingConfig``'s.

        :return: the names in declaration order.
        """
        return tuple(f.name for f in fields(cls))
