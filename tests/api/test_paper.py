"""The paper trader's state as the API reads it: a clear state without a trader, the account, and the paper view's
series, from a file written by the paper trader's own ``StateStore``."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from bot.api.paper import read_paper_account, read_paper_view
from bot.live.state_reader import read_paper_state
from tests.api.paper_state_file import N_BARS, write_dry_run_state


def test_no_state_file_means_no_paper_trader(tmp_path: Path) -> None:
    state = read_paper_account(tmp_path / "missing.sqlite")
    assert state["running"] is False and "no paper trader running" in state["message"]
    assert read_paper_account(None)["message"] == "no paper trader configured"
    view = read_paper_view(tmp_path / "missing.sqlite", 900, 100)
    assert view["fills"] == [] and view["position"] is None and "no state file" in view["message"]


def test_reader_reads_what_the_state_store_writes(tmp_path: Path) -> None:
    path = write_dry_run_state(tmp_path / "paper_state.sqlite")
    state = read_paper_state(path)
    assert len(state.snapshots) == N_BARS and len(state.bars) == N_BARS
    assert [f.side for f in state.fills] == ["buy", "sell", "buy"]
    assert [o.status for o in state.orders] == ["closed"] * 3 and state.orders[0].reduce_only is False
    assert state.bars[0].open_ms < state.bars[-1].open_ms  # oldest first
    for bar in state.bars:  # every bar was recorded with its candle
        assert bar.open is not None and bar.high is not None and bar.low is not None and bar.close is not None
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high and bar.volume
    assert state.position is not None and state.position.qty == 0.1
    assert state.position.stop_loss < state.position.entry_price < state.position.take_profit
    assert state.latest is not None and state.latest.bars_processed == N_BARS and state.latest.mode == "dry_run"


def test_paper_view_running_with_fills_position_and_kill_switch(tmp_path: Path) -> None:
    path = write_dry_run_state(tmp_path / "paper_state.sqlite", kill_on_last="daily loss 6% > 5%")
    view = read_paper_view(path, stale_after_s=900, limit=10)
    assert view["running"] is True and view["message"] == "paper trader running"
    assert len(view["equity"]) == 10 and len(view["bars"]) == 10  # the newest 10
    assert view["kill_switch"] == "daily loss 6% > 5%"
    assert view["position"]["take_profit"] > 0 and view["account"]["symbol"] == "BTC/USDT:USDT"
    assert read_paper_account(path)["account"]["equity"] == view["account"]["equity"]
    bar = view["bars"][-1]
    assert bar["low"] <= min(bar["open"], bar["close"]) <= max(bar["open"], bar["close"]) <= bar["high"]
    assert bar["volume"] > 0


def test_paper_view_of_a_file_without_candles_gives_closes_only(tmp_path: Path) -> None:
    path = write_dry_run_state(tmp_path / "paper_state.sqlite", with_candles=False)
    bars = read_paper_view(path, stale_after_s=900, limit=10)["bars"]
    assert [(b["open"], b["high"], b["low"], b["volume"]) for b in bars] == [(None, None, None, None)] * 10
    assert all(b["close"] > 0 for b in bars)


def test_stale_snapshot_is_not_running(tmp_path: Path) -> None:
    path = write_dry_run_state(tmp_path / "paper_state.sqlite", updated_at=time.time() - 3600)
    state = read_paper_account(path, stale_after_s=60)
    assert state["running"] is False and "older than 60 s" in state["message"]
    assert state["account"]["bars_processed"] == N_BARS


def test_state_without_snapshot_other_schema_and_unreadable_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite"
    write_dry_run_state(empty)
    with sqlite3.connect(empty) as conn:
        conn.execute("DELETE FROM account_snapshots")
    conn.close()
    assert "no account snapshot yet" in read_paper_account(empty)["message"]
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER)")
    conn.close()
    message = read_paper_account(other)["message"]
    assert "unreadable as the paper trader's state" in message and "account_snapshots" in message
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    assert "unreadable" in read_paper_view(junk, 900, 10)["message"]


def test_state_path_with_uri_characters_is_read(tmp_path: Path) -> None:
    folder = tmp_path / "runs #1 ?50%"
    folder.mkdir()
    path = write_dry_run_state(folder / "paper_state.sqlite")
    assert read_paper_account(path)["running"] is True
