"""Tables of the paper trader's SQLite state file and their migrations.

Rows of ``bars``, ``orders``, ``fills`` and ``positions`` carry the ccxt ``symbol`` they belong to, so one file holds a
basket (``bot paper --symbols``); a bar is keyed by (symbol, open time). ``meta`` keys of a symbol are stored as
``<symbol>|<key>``; keys of the account as a whole (the basket's kill switch) as ``account|<key>``.

Files written before symbols were scoped are migrated on open: the ``symbol`` column is added (``bars`` is rebuilt
with the new key) and the file's rows and meta keys are given the file's symbol, read from its newest account
snapshot (the opening store's symbol when there is none). Tables are only ever extended, so older readers keep
working.
"""

from __future__ import annotations

import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bars (
    symbol TEXT NOT NULL DEFAULT '', open_ms INTEGER NOT NULL, status TEXT NOT NULL, action TEXT,
    target_exposure REAL, requested_exposure REAL, close REAL, reason TEXT, updated_at REAL NOT NULL,
    PRIMARY KEY (symbol, open_ms));
CREATE TABLE IF NOT EXISTS orders (
    client_id TEXT PRIMARY KEY, bar_open_ms INTEGER NOT NULL, order_id TEXT, side TEXT NOT NULL, qty REAL NOT NULL,
    filled REAL NOT NULL, average_price REAL NOT NULL, status TEXT NOT NULL, reduce_only INTEGER NOT NULL,
    fee REAL NOT NULL, error TEXT, updated_at REAL NOT NULL, symbol TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS fills (
    client_id TEXT PRIMARY KEY, order_id TEXT, side TEXT NOT NULL, qty REAL NOT NULL, price REAL NOT NULL,
    fee REAL NOT NULL, bar_open_ms INTEGER NOT NULL, symbol TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS positions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time_ms INTEGER NOT NULL, qty REAL NOT NULL, entry_price REAL NOT NULL,
    unrealized_pnl REAL NOT NULL, stop_loss REAL NOT NULL, take_profit REAL NOT NULL, updated_at REAL NOT NULL,
    symbol TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS account_snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT, updated_at REAL NOT NULL, time_ms INTEGER NOT NULL, mode TEXT NOT NULL,
    symbol TEXT NOT NULL, equity REAL NOT NULL, cash REAL NOT NULL, position_qty REAL NOT NULL,
    entry_price REAL NOT NULL, unrealized_pnl REAL NOT NULL, mark_price REAL NOT NULL, day_start_equity REAL NOT NULL,
    daily_pnl REAL NOT NULL, pnl_total REAL NOT NULL, bars_processed INTEGER NOT NULL, kill_switch TEXT);
"""

#: The processed bar's candle beside its ``close`` in ``bars`` (NULL for bars recorded without one, and in files
#: written before they were added, which the read-only reader cannot extend).
BAR_CANDLE_COLUMNS = ("open", "high", "low", "volume")
#: Columns added after the first release, by table: files written before get them on open.
_SYMBOL = ("symbol", "TEXT NOT NULL DEFAULT ''")
ADDED_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "orders": (("order_type", "TEXT NOT NULL DEFAULT 'market'"), ("price", "REAL NOT NULL DEFAULT 0"), _SYMBOL),
    "fills": (_SYMBOL,),
    "positions": (_SYMBOL,),
    "account_snapshots": (("limit_orders", "INTEGER"), ("limit_fills", "INTEGER"), ("limit_fill_rate", "REAL")),
    "bars": tuple((name, "REAL") for name in BAR_CANDLE_COLUMNS),
}
#: Tables whose rows belong to one symbol.
SCOPED_TABLES = ("bars", "orders", "fills", "positions")
#: Prefix of the meta keys of the account as a whole (never claimed by a symbol).
ACCOUNT_SCOPE = "account"
_BARS_V1 = "open_ms, status, action, target_exposure, requested_exposure, close, reason, updated_at"


def columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """The column names of ``table`` (empty when it does not exist)."""
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def meta_key(symbol: str, key: str) -> str:
    """The ``meta`` key of ``key`` in a symbol's scope (the bare key for the unscoped store)."""
    return f"{symbol}|{key}" if symbol else key


def open_schema(conn: sqlite3.Connection, symbol: str) -> None:
    """Create the tables, migrate an older file and give unscoped rows their symbol (one transaction each).

    :param symbol: the opening store's symbol ('' for an unscoped store).
    """
    if "open_ms" in columns(conn, "bars") and "symbol" not in columns(conn, "bars"):
        _rebuild_bars(conn)
    conn.executescript(SCHEMA)
    for table, added in ADDED_COLUMNS.items():
        present = columns(conn, table)
        for name, declaration in added:
            if name not in present:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")
    _claim_unscoped(conn, symbol)


def _rebuild_bars(conn: sqlite3.Connection) -> None:
    # SQLite cannot change a primary key in place: bars is copied into a table keyed by (symbol, open_ms)
    conn.execute("BEGIN IMMEDIATE")
    try:
        extra = [c for c in BAR_CANDLE_COLUMNS if c in columns(conn, "bars")]
        copied = ", ".join([_BARS_V1, *extra])
        conn.execute(
            "CREATE TABLE bars_scoped (symbol TEXT NOT NULL DEFAULT '', open_ms INTEGER NOT NULL, status TEXT NOT"
            " NULL, action TEXT, target_exposure REAL, requested_exposure REAL, close REAL, reason TEXT, updated_at"
            f" REAL NOT NULL, {''.join(f'{c} REAL, ' for c in extra)}PRIMARY KEY (symbol, open_ms))"
        )
        conn.execute(f"INSERT INTO bars_scoped ({copied}) SELECT {copied} FROM bars")
        conn.execute("DROP TABLE bars")
        conn.execute("ALTER TABLE bars_scoped RENAME TO bars")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _claim_unscoped(conn: sqlite3.Connection, symbol: str) -> None:
    """A file of one unscoped run (older, or written by an unscoped store) gets its symbol: the one of its newest
    account snapshot, else the opener's. A file already holding a symbol's rows is left as it is."""
    scoped = any(conn.execute(f"SELECT 1 FROM {t} WHERE symbol != '' LIMIT 1").fetchone() for t in SCOPED_TABLES)
    if scoped:
        return
    row = conn.execute("SELECT symbol FROM account_snapshots ORDER BY id DESC LIMIT 1").fetchone()
    owner = str(row[0]) if row is not None and row[0] else symbol
    if not owner:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for table in SCOPED_TABLES:
            conn.execute(f"UPDATE {table} SET symbol = ? WHERE symbol = ''", (owner,))
        conn.execute("UPDATE meta SET key = ? || '|' || key WHERE instr(key, '|') = 0", (owner,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def sole_symbol(conn: sqlite3.Connection) -> str:
    """The one symbol of a single-symbol file ('' for a new file or a basket's)."""
    rows = conn.execute("SELECT DISTINCT symbol FROM bars WHERE symbol != '' LIMIT 2").fetchall()
    return str(rows[0][0]) if len(rows) == 1 else ""
