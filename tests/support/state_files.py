"""State files as older releases of the paper trader wrote them (for the migration and read-only reader tests)."""

from __future__ import annotations

#: The ``bars`` table of the first release: the close only (no candle columns), keyed by open time (no symbol).
FIRST_RELEASE_BARS = (
    "CREATE TABLE bars (open_ms INTEGER PRIMARY KEY, status TEXT NOT NULL, action TEXT, target_exposure REAL,"
    " requested_exposure REAL, close REAL, reason TEXT, updated_at REAL NOT NULL)"
)
