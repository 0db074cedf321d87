"""Parse the SmartLogger's text log for the tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z (?P<level>\w+)\s+\[worker=(?P<worker>\S+) pid=(?P<pid>\d+)\] "
    r"(?P<name>\S+): (?P<message>.*)$"
)


class Line(NamedTuple):
    level: str
    worker: str
    pid: int
    name: str
    message: str


def read_lines(path: Path) -> list[Line]:
    """Return the log lines of ``path`` (traceback continuation lines are skipped)."""
    lines = []
    for text in path.read_text(encoding="utf-8").splitlines():
        match = _LINE.match(text)
        if match:
            lines.append(Line(match["level"], match["worker"], int(match["pid"]), match["name"], match["message"]))
    return lines
