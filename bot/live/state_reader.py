"""Typed read-only reader of the paper trader's SQLite state file, for the control API's paper view.

It lives beside :mod:`bot.live.state`, whose ``StateStore`` declares the tables it reads, so the table and column
names stay in one package; ``tests/live/test_state.py`` and ``tests/api/test_paper.py`` read files that
``StateStore`` itself wrote. It never writes: a file written before a column was added (which ``StateStore`` adds
on open) reads that column as NULL.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.live.state_schema import BAR_CANDLE_COLUMNS


class PaperStateError(RuntimeError):
    """The state file exists but cannot be read as the paper trader's state (corrupt, or another schema)."""


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """One ``account_snapshots`` row: the account after a bar (``updated_at`` in unix s, ``time_ms`` bar open)."""

    updated_at: float
    time_ms: int
    mode: str
    symbol: str
    equity: float
    cash: float
    position_qty: float
    entry_price: float
    unrealized_pnl: float
    mark_price: float
    day_start_equity: float
    daily_pnl: float
    pnl_total: float
    bars_processed: int
    kill_switch: str | None


@dataclass(frozen=True, slots=True)
class BarDecision:
    """One ``bars`` row: what the trader decided at the close of the bar opening at ``open_ms``, and that bar's
    candle (``open``, ``high``, ``low``, ``volume`` are None for a bar recorded without one and in older files)."""

    open_ms: int
    status: str
    action: str | None
    target_exposure: float | None
    close: float | None
    reason: str | None
    open: float | None
    high: float | None
    low: float | None
    volume: float | None


@dataclass(frozen=True, slots=True)
class Fill:
    """One ``fills`` row: an order's filled quantity at its average price, during the bar opening at ``bar_open_ms``."""

    client_id: str
    side: str
    qty: float
    price: float
    fee: float
    bar_open_ms: int


@dataclass(frozen=True, slots=True)
class Order:
    """One ``orders`` row, as last seen."""

    client_id: str
    bar_open_ms: int
    side: str
    qty: float
    filled: float
    average_price: float
    status: str
    reduce_only: bool
    fee: float
    error: str | None


@dataclass(frozen=True, slots=True)
class Position:
    """The newest ``positions`` row: signed quantity, entry, and the stop-loss / take-profit prices (0 = none)."""

    time_ms: int
    qty: float
    entry_price: float
    unrealized_pnl: float
    stop_loss: float
    take_profit: float


@dataclass(frozen=True, slots=True)
class PaperState:
    """Everything the paper view shows, read in one transaction (a consistent snapshot of the WAL file)."""

    snapshots: list[AccountSnapshot]
    bars: list[BarDecision]
    fills: list[Fill]
    orders: list[Order]
    position: Position | None
    #: the symbols whose bars the file holds, in name order (several for a basket; empty in files from before
    #: rows carried their symbol)
    symbols: tuple[str, ...] = ()

    @property
    def latest(self) -> AccountSnapshot | None:
        """The newest account snapshot."""
        return self.snapshots[-1] if self.snapshots else None


def _rows(conn: sqlite3.Connection, sql: str, limit: int, symbol: str | None = None) -> list[dict[str, Any]]:
    # newest `limit` rows, returned oldest first; `{scope}` selects one symbol's rows, or every row for None
    where, params = ("symbol = ?", (symbol,)) if symbol is not None else ("1 = 1", ())
    return [dict(r) for r in reversed(conn.execute(sql.replace("{scope}", where), (*params, limit)).fetchall())]


def _bar_columns(conn: sqlite3.Connection) -> str:
    # a read-only connection cannot add the candle columns to an older file: select them as NULL there
    present = {row[1] for row in conn.execute("PRAGMA table_info(bars)")}
    candle = [name if name in present else f"NULL AS {name}" for name in BAR_CANDLE_COLUMNS]
    return ", ".join(["open_ms", "status", "action", "target_exposure", "close", "reason", *candle])


def read_paper_state(path: Path, limit: int = 2000, symbol: str | None = None) -> PaperState:
    """Read the newest ``limit`` snapshots, bars, fills and orders and the newest position.

    :param path: the state file (``live.state_path``); opened read-only.
    :param limit: rows per table at most.
    :param symbol: only this symbol's rows (one of a basket's :attr:`PaperState.symbols`); None for every row.
    :raises FileNotFoundError: when there is no file.
    :raises PaperStateError: when it is no SQLite file or lacks the paper trader's tables or columns.
    """
    if not path.is_file():
        raise FileNotFoundError(path)
    try:
        # closing(): a sqlite3 connection's own context manager only commits, it never closes the file.
        # as_uri() percent-encodes the path, so a '?' or '#' in a folder name cannot break the URI.
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=2)) as conn:
            conn.row_factory = sqlite3.Row
            conn.execute("BEGIN")
            scoped = "symbol" in {row[1] for row in conn.execute("PRAGMA table_info(bars)")}
            if symbol is not None and not scoped:
                raise PaperStateError(f"paper trader state {path} holds one unnamed symbol; read it without one")
            snapshots = _rows(conn, "SELECT updated_at, time_ms, mode, symbol, equity, cash, position_qty,"
                                    " entry_price, unrealized_pnl, mark_price, day_start_equity, daily_pnl, pnl_total,"
                                    " bars_processed, kill_switch FROM account_snapshots WHERE {scope}"
                                    " ORDER BY id DESC LIMIT ?", limit, symbol)
            bars = _rows(conn, f"SELECT {_bar_columns(conn)} FROM bars WHERE {{scope}} ORDER BY open_ms DESC LIMIT ?",
                         limit, symbol)
            fills = _rows(conn, "SELECT client_id, side, qty, price, fee, bar_open_ms FROM fills WHERE {scope}"
                                " ORDER BY bar_open_ms DESC, client_id DESC LIMIT ?", limit, symbol)
            orders = _rows(conn, "SELECT client_id, bar_open_ms, side, qty, filled, average_price, status,"
                                 " reduce_only, fee, error FROM orders WHERE {scope}"
                                 " ORDER BY bar_open_ms DESC, client_id DESC LIMIT ?", limit, symbol)
            position = _rows(conn, "SELECT time_ms, qty, entry_price, unrealized_pnl, stop_loss, take_profit"
                                   " FROM positions WHERE {scope} ORDER BY id DESC LIMIT ?", 1, symbol)
            named = "SELECT DISTINCT symbol FROM bars WHERE symbol != '' ORDER BY symbol"
            symbols = tuple(str(r[0]) for r in conn.execute(named)) if scoped else ()
    except sqlite3.Error as e:
        raise PaperStateError(f"paper trader state {path} is unreadable as the paper trader's state: {e}") from e
    return PaperState(
        snapshots=[AccountSnapshot(**r) for r in snapshots],
        bars=[BarDecision(**r) for r in bars],
        fills=[Fill(**r) for r in fills],
        orders=[Order(**{**r, "reduce_only": bool(r["reduce_only"])}) for r in orders],
        position=Position(**position[0]) if position else None,
        symbols=symbols,
    )
