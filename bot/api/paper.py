"""Read-only view of the paper trader's account snapshot (its SQLite state file), for ``/api/sync/status``."""

from __future__ import annotations

import logging
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: Columns that may hold the snapshot time (seconds or milliseconds since the epoch).
_TIME_COLUMNS = ("updated_at", "time", "timestamp", "ts", "ts_ms", "time_ms")


def _snapshot_table(conn: sqlite3.Connection) -> str | None:
    names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    preferred = ("account_snapshots", "account_snapshot", "account", "accounts")
    for name in preferred:
        if name in names:
            return name
    return next((n for n in sorted(names) if "account" in n.lower()), None)


def _snapshot_time(row: dict[str, Any]) -> float | None:
    for column in _TIME_COLUMNS:
        value = row.get(column)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value) / 1000.0 if value > 1e11 else float(value)
    return None


def read_paper_account(state_path: Path | None, stale_after_s: float = 900.0) -> dict[str, Any]:
    """The latest account snapshot of the paper trader, with a clear state when there is none.

    :param state_path: the paper trader's SQLite state file (``live.state_path``), or ``None``.
    :param stale_after_s: a snapshot older than this counts as "not running".
    :return: ``{"running": bool, "message": str, "account": {...} | None, "updated_at": float | None}``.
    """
    if state_path is None:
        return {"running": False, "message": "no paper trader configured", "account": None, "updated_at": None}
    if not state_path.is_file():
        return {
            "running": False,
            "message": f"no paper trader running: no state file at {state_path}"
            " (start one with `python -m bot paper --checkpoint RUN_DIR`)",
            "account": None,
            "updated_at": None,
        }
    try:
        # closing(): a sqlite3 connection's own context manager only commits, it never closes the file.
        # as_uri() percent-encodes the path, so a '?' or '#' in a folder name cannot break the URI.
        with closing(sqlite3.connect(f"{state_path.resolve().as_uri()}?mode=ro", uri=True, timeout=2)) as conn:
            conn.row_factory = sqlite3.Row
            table = _snapshot_table(conn)
            row = conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid DESC LIMIT 1').fetchone() if table else None
    except sqlite3.Error as e:
        logger.warning("Cannot read the paper trader state %s: %s", state_path, e)
        return {"running": False, "message": f"paper trader state {state_path} is unreadable: {e}", "account": None,
                "updated_at": None}
    if row is None:
        return {"running": False, "message": f"paper trader state {state_path} holds no account snapshot yet",
                "account": None, "updated_at": None}
    account = dict(row)
    updated = _snapshot_time(account)
    running = updated is not None and time.time() - updated < stale_after_s
    message = "paper trader running" if running else f"last account snapshot is older than {stale_after_s:.0f} s"
    return {"running": running, "message": message, "account": account, "updated_at": updated}
