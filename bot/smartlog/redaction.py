"""Secret redaction: values of configured keys and matches of configured patterns become ``[REDACTED]``.

Key forms covered: ``key=value``, ``key: value``, ``"key": "value"`` (JSON) and ``'key': 'value'`` (a Python dict's
repr, which is how a dict passed as a log argument is rendered). Key names match inside longer names
(``binance_api_key``, ``secret_key``) and ignore case: redacting too much is the safe side.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[REDACTED]"


def _key_value_regex(keys: Iterable[str]) -> re.Pattern[str] | None:
    names = sorted({k for k in keys if k}, key=len, reverse=True)
    if not names:
        return None
    alternation = "|".join(re.escape(name) for name in names)
    return re.compile(
        rf"(?P<key>(?:{alternation})[\w-]*[\"']?\s*[:=]\s*)"
        r"(?P<value>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[^\s,;&}\])]+)",
        re.IGNORECASE,
    )


def _replace_value(match: re.Match[str]) -> str:
    value = match.group("value")
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match.group('key')}{quote}{REDACTED}{quote}"


class Redactor:
    """Replaces secrets in log text before anything is written.

    :param keys: key names whose values are redacted (case-insensitive).
    :param patterns: regular expressions whose whole matches are redacted.
    :raises re.error: when a pattern does not compile (``SmartLogSettings`` checks this first).
    """

    __slots__ = ("_key_regex", "_keys", "_patterns")

    def __init__(self, keys: Iterable[str], patterns: Iterable[str] = ()) -> None:
        self._keys = tuple(sorted({k.lower() for k in keys if k}))
        self._key_regex = _key_value_regex(self._keys)
        self._patterns = tuple(re.compile(p) for p in patterns)

    def redact(self, text: str) -> str:
        """Return ``text`` with every secret replaced by ``[REDACTED]``.

        :param text: a formatted log message, traceback or template.
        :return: the redacted text (the same object when nothing matched).
        """
        if self._key_regex is not None:
            # A case-insensitive alternation costs microseconds per line; plain substring tests rule most lines out.
            lowered = text.lower()
            for key in self._keys:
                if key in lowered:
                    text = self._key_regex.sub(_replace_value, text)
                    break
        for pattern in self._patterns:
            text = pattern.sub(REDACTED, text)
        return text
