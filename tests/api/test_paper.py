"""The paper-account reader: a clear state without a paper trader, the latest snapshot with one."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from bot.api.paper import read_paper_account


def test_no_state_file_means_no_paper_trader(tmp_path: Path) -> None:
    state = read_paper_account(tmp_path / "missing.sqlite")
    assert state["running"] is False and "no paper trader running" in state["message"]
    assert read_paper_account(None)["message"] == "no paper trader configured"


def test_stale_snapshot_in_milliseconds_is_not_running(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE account (ts_ms INTEGER, equity REAL)")
        conn.execute("INSERT INTO account VALUES (?, 5)", (int((time.time() - 3600) * 1000),))
    state = read_paper_account(path, stale_after_s=60)
    assert state["running"] is False and state["account"]["equity"] == 5
    assert "older than 60 s" in state["message"]


def test_state_without_snapshot_and_unreadable_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite"
    with sqlite3.connect(empty) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER)")
    assert "no account snapshot yet" in read_paper_account(empty)["message"]
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    assert "unreadable" in read_paper_account(junk)["message"]


#: The ``account_snapshots`` table as bot/live/state.py creates it (importing bot.live would load torch: ~9 s).
_PAPER_SNAPSHOT_DDL = """CREATE TABLE account_snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT, updated_at REAL NOT NULL, time_ms INTEGER NOT NULL, mode TEXT NOT NULL,
    symbol TEXT NOT NULL, equity REAL NOT NULL, cash REAL NOT NULL, position_qty REAL NOT NULL,
    entry_price REAL NOT NULL, unrealized_pnl REAL NOT NULL, mark_price REAL NOT NULL, day_start_equity REAL NOT NULL,
    daily_pnl REAL NOT NULL, pnl_total REAL NOT NULL, bars_processed INTEGER NOT NULL, kill_switch TEXT)"""


def test_reads_the_snapshot_table_the_paper_trader_writes(tmp_path: Path) -> None:
    path = tmp_path / "paper_state.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(_PAPER_SNAPSHOT_DDL)
        conn.execute(
            "INSERT INTO account_snapshots (updated_at, time_ms, mode, symbol, equity, cash, position_qty, entry_price,"
            " unrealized_pnl, mark_price, day_start_equity, daily_pnl, pnl_total, bars_processed, kill_switch)"
            " VALUES (?, 0, 'dry_run', 'BTC/USDT:USDT', 10250.0, 5000.0, 0.1, 50000.0, 12.5, 50125.0, 10000.0, 250.0,"
            " 250.0, 12, NULL)",
            (time.time(),),
        )
    state = read_paper_account(path)
    assert state["running"] is True and state["message"] == "paper trader running"
    assert state["account"]["equity"] == 10250.0 and state["account"]["mode"] == "dry_run"


def test_state_path_with_uri_characters_is_read(tmp_path: Path) -> None:
    folder = tmp_path / "runs #1 ?50%"
    folder.mkdir()
    path = folder / "paper_state.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(_PAPER_SNAPSHOT_DDL)
        conn.execute(
            "INSERT INTO account_snapshots (updated_at, time_ms, mode, symbol, equity, cash, position_qty, entry_price,"
            " unrealized_pnl, mark_price, day_start_equity, daily_pnl, pnl_total, bars_processed, kill_switch)"
            " VALUES (?, 0, 'bybit', 'BTC/USDT:USDT', 9000.0, 9000.0, 0.0, 0.0, 0.0, 50000.0, 9000.0, 0.0, 0.0, 1,"
            " NULL)",
            (time.time(),),
        )
    conn.close()
    state = read_paper_account(path)
    assert state["running"] is True and state["account"]["equity"] == 9000.0
