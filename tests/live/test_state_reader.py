"""The read-only reader of the paper trader's state: what ``StateStore`` writes, candles included, and older files
whose bars have no candle columns (read as None, never altered)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from bot.live.broker import Candle
from bot.live.state import BarRecord, StateStore
from bot.live.state_reader import read_paper_state
from tests.support.state_files import FIRST_RELEASE_BARS

SNAPSHOT = {"time_ms": 0, "mode": "dry_run", "symbol": "BTC/USDT:USDT", "equity": 1.0, "cash": 1.0,
            "position_qty": 0.0, "entry_price": 0.0, "unrealized_pnl": 0.0, "mark_price": 1.0,
            "day_start_equity": 1.0, "daily_pnl": 0.0, "pnl_total": 0.0, "bars_processed": 1, "kill_switch": None}


def test_bars_carry_their_candle(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite")
    candle = Candle(300_000, 19_950.0, 20_100.0, 19_800.0, 20_000.0, 12.5)
    store.record_bar(BarRecord(300_000, "held", "1", 0.0, 0.0, 20_000.0), [], None, SNAPSHOT, {}, candle=candle)
    store.record_bar(BarRecord(600_000, "skipped", "", 0.0, 0.0, 20_000.0, "outage"), [], None, None, {})
    store.close()
    bars = read_paper_state(tmp_path / "s.sqlite").bars
    assert [(b.open, b.high, b.low, b.close, b.volume) for b in bars] == [
        (19_950.0, 20_100.0, 19_800.0, 20_000.0, 12.5), (None, None, None, 20_000.0, None)]


def test_a_file_from_before_the_candle_columns_reads_them_as_none_and_is_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    StateStore(path).close()
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("DROP TABLE bars")  # as the first release created it: no candle, no symbol
        conn.execute(FIRST_RELEASE_BARS)
        conn.execute("INSERT INTO bars VALUES (0, 'held', '1', 0.0, 0.0, 19900.0, '', 0.0)")
    before = path.read_bytes()
    bars = read_paper_state(path).bars
    assert [(b.open_ms, b.open, b.high, b.low, b.close, b.volume) for b in bars] == [
        (0, None, None, None, 19_900.0, None)]
    assert path.read_bytes() == before
