"""One state file for several symbols: rows and meta keys scoped by symbol, and the migration of a single-symbol
file written before rows carried their symbol."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from bot.api.paper import read_paper_view
from bot.live.broker import AccountState, OrderState
from bot.live.state import BarRecord, StateStore
from bot.live.state_reader import read_paper_state
from tests.support.state_files import FIRST_RELEASE_BARS

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
ACCOUNT = AccountState(10_000.0, 10_000.0, 0.5, 20_000.0, 0.0, 20_000.0)


def snapshot(symbol: str) -> dict[str, object]:
    return {"time_ms": 0, "mode": "bybit", "symbol": symbol, "equity": 1.0, "cash": 1.0, "position_qty": 0.0,
            "entry_price": 0.0, "unrealized_pnl": 0.0, "mark_price": 1.0, "day_start_equity": 1.0, "daily_pnl": 0.0,
            "pnl_total": 0.0, "bars_processed": 1, "kill_switch": None}


def test_two_symbols_share_one_file_without_seeing_each_other(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    btc, eth = StateStore(path, BTC), StateStore(path, ETH)
    order = OrderState("btc-1-0", "o1", "buy", 0.5, 0.5, 20_000.0, "closed")
    # the same bar for both symbols: bars are keyed by (symbol, open time)
    btc.record_bar(BarRecord(300_000, "traded", "2", 1.0, 1.0, 20_000.0), [order], ACCOUNT, snapshot(BTC),
                   {"tracker": "b"})
    eth.record_bar(BarRecord(300_000, "held", "1", 0.0, 0.0, 1_500.0), [], None, snapshot(ETH), {"tracker": "e"})
    eth.record_orders([OrderState("eth-2-0", "o2", "sell", 1.0, 0.0, 0.0, "open")], 600_000)
    btc.put_account(kill_switch="account trip")
    assert (btc.get("tracker"), eth.get("tracker")) == ("b", "e")
    assert btc.get_account("kill_switch") == eth.get_account("kill_switch") == "account trip"
    assert btc.bars_processed() == eth.bars_processed() == 1
    assert [r["close"] for r in eth.bars()] == [1_500.0]
    assert [r["client_id"] for r in btc.orders()] == ["btc-1-0"] and btc.unfinished_orders() == []
    assert eth.unfinished_orders() == ["eth-2-0"] and eth.fills() == [] and eth.last_position() is None
    assert btc.last_position() == (0.5, 1.0) and eth.latest_snapshot()["symbol"] == ETH  # type: ignore[index]
    btc.close()
    eth.close()
    state = read_paper_state(path)
    assert state.symbols == (BTC, ETH) and len(state.bars) == 2
    assert [b.close for b in read_paper_state(path, symbol=ETH).bars] == [1_500.0]
    view = read_paper_view(path, 1e9, 10)
    assert view["symbols"][BTC]["fills"][0]["client_id"] == "btc-1-0" and view["symbols"][ETH]["fills"] == []
    # a single-symbol file has no per-symbol views
    single = tmp_path / "one.sqlite"
    StateStore(single, BTC).record_bar(BarRecord(0, "held", "1", 0.0, 0.0, 1.0), [], None, snapshot(BTC), {})
    assert read_paper_view(single, 1e9, 10)["symbols"] == {}


def _old_single_symbol_file(path: Path) -> None:
    """A state file as the single-symbol trader wrote it before rows carried their symbol."""
    store = StateStore(path)
    store.record_bar(BarRecord(300_000, "traded", "2", 1.0, 1.0, 20_000.0),
                     [OrderState("old-1-0", "o1", "buy", 0.5, 0.5, 20_000.0, "closed")], ACCOUNT, snapshot(BTC),
                     {"tracker": {"peak_equity": 7.0}})
    store.put(kill_switch="tripped before")
    store.close()
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("DROP TABLE bars")
        conn.execute(FIRST_RELEASE_BARS)
        conn.execute("INSERT INTO bars VALUES (300000, 'traded', '2', 1.0, 1.0, 20000.0, '', 0.0)")
        for table in ("orders", "fills", "positions"):
            conn.execute(f"ALTER TABLE {table} DROP COLUMN symbol")
        conn.execute("UPDATE meta SET key = substr(key, instr(key, '|') + 1)")  # bare keys, as before


def test_an_older_single_symbol_file_is_migrated_to_its_symbol(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    _old_single_symbol_file(path)
    old = read_paper_state(path)  # the read-only reader reads it as it is
    assert old.symbols == () and [b.close for b in old.bars] == [20_000.0]
    # a basket resuming from it: the file's symbol (its snapshots') keeps its bars, orders and meta
    eth, btc = StateStore(path, ETH), StateStore(path, BTC)
    assert btc.last_bar_ms == 300_000 and [r["client_id"] for r in btc.orders()] == ["old-1-0"]
    assert btc.get("tracker") == {"peak_equity": 7.0} and btc.get("kill_switch") == "tripped before"
    assert eth.last_bar_ms == -1 and eth.orders() == [] and eth.get("kill_switch") is None
    eth.close()
    btc.close()
    # the single-symbol trader opening it without a symbol sees the file's own one
    again = StateStore(path)
    assert again.symbol == BTC and again.get("kill_switch") == "tripped before" and again.bars_processed() == 1
    again.close()
    assert read_paper_state(path).symbols == (BTC,)
