"""The SQLite state store: one transaction per bar, WAL, reads for reconciliation and the control API."""

from __future__ import annotations

import dataclasses
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from bot.api.paper import read_paper_account
from bot.errors import ConfigError
from bot.live.broker import AccountState, Candle, OrderState
from bot.live.state import BarRecord, StateStore, write_json_atomic

ORDER = OrderState("tag-1-0", "oid-1", "buy", 0.5, 0.5, 20_000.0, "closed", fee=5.5)
ACCOUNT = AccountState(10_000.0, 10_000.0, 0.5, 20_000.0, 0.0, 20_000.0)
SNAPSHOT = {
    "time_ms": 1,
    "mode": "bybit",
    "symbol": "BTC/USDT:USDT",
    "equity": 10_000.0,
    "cash": 10_000.0,
    "position_qty": 0.5,
    "entry_price": 20_000.0,
    "unrealized_pnl": 0.0,
    "mark_price": 20_000.0,
    "day_start_equity": 10_000.0,
    "daily_pnl": 0.0,
    "pnl_total": 0.0,
    "bars_processed": 1,
    "kill_switch": None,
}


def test_bar_round_trip_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "s.sqlite"
    store = StateStore(path)
    assert store.last_bar_ms == -1 and store.get("tracker") is None
    store.record_bar(
        BarRecord(300_000, "traded", "2", 1.0, 1.0, 20_000.0),
        [ORDER],
        ACCOUNT,
        SNAPSHOT,
        {"tracker": {"peak_equity": 1.0}},
    )
    store.close()
    again = StateStore(path)
    assert again.last_bar_ms == 300_000 and again.bars_processed() == 1
    assert again.get("tracker") == {"peak_equity": 1.0}
    assert [r["client_id"] for r in again.orders()] == ["tag-1-0"]
    assert [r["qty"] for r in again.fills()] == [0.5]
    assert again.latest_snapshot()["equity"] == 10_000.0  # type: ignore[index]
    open_order = OrderState("tag-2-0", "oid-2", "sell", 0.5, 0.0, 0.0, "open")
    again.record_orders([open_order], 600_000)
    assert again.unfinished_orders() == ["tag-2-0"]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite")
    with pytest.raises(sqlite3.Error):
        store.record_bar(BarRecord(1, "traded", "2", 1.0, 1.0, 1.0), [ORDER], ACCOUNT, {"no_such_column": 1}, {})
    assert store.last_bar_ms == -1 and store.orders() == []


def test_control_api_reads_the_snapshot(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite")
    store.record_bar(BarRecord(1, "held", "1", 0.0, 0.0, 1.0), [], ACCOUNT, SNAPSHOT, {})
    view = read_paper_account(tmp_path / "s.sqlite")
    assert view["running"] and view["account"]["symbol"] == "BTC/USDT:USDT"


def test_not_a_database_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "s.sqlite"
    bad.write_text("this is not sqlite " * 100)
    with pytest.raises(ConfigError, match="not a usable SQLite database.*--state"):
        StateStore(bad)


def test_json_written_atomically(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    write_json_atomic(target, {"equity": 1.0})
    assert target.read_text().startswith("{") and not list(tmp_path.glob(".*tmp"))


def test_a_state_file_from_before_limit_orders_gains_their_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE orders (
            client_id TEXT PRIMARY KEY, bar_open_ms INTEGER NOT NULL, order_id TEXT, side TEXT NOT NULL,
            qty REAL NOT NULL, filled REAL NOT NULL, average_price REAL NOT NULL, status TEXT NOT NULL,
            reduce_only INTEGER NOT NULL, fee REAL NOT NULL, error TEXT, updated_at REAL NOT NULL);
        INSERT INTO orders VALUES ('tag-1-0', 1, 'o', 'buy', 1.0, 1.0, 10.0, 'closed', 0, 0.1, '', 0.0);
        """
    )
    conn.commit()
    conn.close()
    store = StateStore(path)
    limit = OrderState("tag-2-0", "o2", "sell", 1.0, 0.0, 0.0, "open", order_type="limit", price=11.0)
    store.record_orders([limit], 2)
    rows = {r["client_id"]: (r["order_type"], r["price"]) for r in store.orders()}
    assert rows == {"tag-1-0": ("market", 0.0), "tag-2-0": ("limit", 11.0)}
    assert store.limit_counts("tag-") == (1, 0)
    assert store.limit_counts("tag-", [dataclasses.replace(limit, filled=0.4)]) == (1, 1)
    assert store.limit_counts("tag_") == (0, 0)  # the prefix is literal, not a LIKE pattern
    store.close()


def test_a_bar_keeps_its_candle_and_an_older_file_gains_the_candle_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(  # the bars table as the first release wrote it: the close only
            "CREATE TABLE bars (open_ms INTEGER PRIMARY KEY, status TEXT NOT NULL, action TEXT, target_exposure REAL,"
            " requested_exposure REAL, close REAL, reason TEXT, updated_at REAL NOT NULL)"
        )
        conn.execute("INSERT INTO bars VALUES (0, 'held', '1', 0.0, 0.0, 19900.0, '', 0.0)")
    store = StateStore(path)
    candle = Candle(300_000, 19_950.0, 20_100.0, 19_800.0, 20_000.0, 12.5)
    store.record_bar(BarRecord(300_000, "held", "1", 0.0, 0.0, 20_000.0), [], None, None, {}, candle=candle)
    store.record_bar(BarRecord(600_000, "skipped", "", 0.0, 0.0, 20_000.0, "outage"), [], None, None, {})
    candles = [(r["open"], r["high"], r["low"], r["close"], r["volume"]) for r in store.bars()]
    store.close()
    assert candles == [(None, None, None, 19_900.0, None), (19_950.0, 20_100.0, 19_800.0, 20_000.0, 12.5),
                       (None, None, None, 20_000.0, None)]
