"""Keeping a job's data file out of what the API shows: its first lines are cut from the trainer's errors and output.

A malformed data file makes the trainer quote what it found (its header, a bad row), and the API shows the job's
error and output without a token. The data file is confined to the data roots, but its content is still not the API
client's to read, so every line the runner stores is passed through :class:`ContentRedactor` first.
"""

from __future__ import annotations

import gzip
import logging
import re
from pathlib import Path

logger = logging.getLogger(__name__)

#: What replaces a piece of the data file in errors and output lines.
REDACTED = "<data file content>"

#: Column names the trainer names in its own messages ("missing columns ['open', ...]"); never redacted.
_COLUMN_WORDS = frozenset({
    "open_time", "timestamp", "time", "datetime", "date", "open", "high", "low", "close", "volume",
    "quote_volume", "trades", "close_time",
})
_CELL_SPLIT = re.compile(r"[,;\t|]")
_MIN_FRAGMENT = 4  # shorter pieces (a digit, "0.5") would cut ordinary words and numbers out of messages


class ContentRedactor:
    """Replace any of a set of text fragments (the first lines of a file and their cells) by :data:`REDACTED`.

    :param fragments: the strings to cut out; the longest are replaced first.
    """

    def __init__(self, fragments: frozenset[str] = frozenset()) -> None:
        ordered = sorted(fragments, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(f) for f in ordered)) if ordered else None

    @classmethod
    def for_file(cls, path: Path | None, max_bytes: int = 8192, max_lines: int = 5) -> ContentRedactor:
        """A redactor of the first ``max_lines`` lines (at most ``max_bytes``) of ``path``, and of their cells.

        :param path: the data file; ``None`` or an unreadable file gives a redactor that changes nothing.
        """
        if path is None:
            return cls()
        try:
            # the trainer quotes the decompressed text of a .csv.gz, so that is what must be recognised
            with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as f:
                head = f.read(max_bytes)
        except (OSError, EOFError) as e:
            logger.debug("No content to redact from %s: %s", path, e)
            return cls()
        fragments: set[str] = set()
        for line in head.decode("utf-8", errors="replace").splitlines()[:max_lines]:
            fragments.add(line.strip())
            fragments.update(cell.strip().strip("\"'") for cell in _CELL_SPLIT.split(line))
        return cls(frozenset(f for f in fragments if len(f) >= _MIN_FRAGMENT and f.lower() not in _COLUMN_WORDS))

    def __call__(self, text: str) -> str:
        """``text`` with every fragment replaced."""
        return self._pattern.sub(REDACTED, text) if self._pattern is not None else text
