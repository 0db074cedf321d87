"""SQLite state of the paper trader (WAL): orders, fills, positions, account snapshots and processed bars.

One file per trading run (``live.state_path``). Each bar is written in one transaction after its orders went out, so a
crash leaves either the whole bar or none of it; the deterministic client order ids make the redo idempotent.
The control API reads the file through :mod:`bot.live.state_reader` (read-only, the tables declared here; the
newest ``account_snapshots`` row's ``updated_at`` is wall-clock seconds). API keys and secrets are never written here.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.atomic import atomic_write_bytes
from bot.errors import ConfigError
from bot.live.broker import AccountState, Candle, OrderState
from bot.live.state_schema import ACCOUNT_SCOPE, meta_key, open_schema, sole_symbol

logger = logging.getLogger(__name__)

_BAR_COLUMNS = (
    "symbol, open_ms, status, action, target_exposure, requested_exposure, close, reason, updated_at, open, high,"
    " low, volume"
)
_ORDER_COLUMNS = (
    "client_id, bar_open_ms, order_id, side, qty, filled, average_price, status, reduce_only, fee, error, updated_at,"
    " order_type, price, symbol"
)


@dataclass(frozen=True, slots=True)
class BarRecord:
    """What the trader decided at one bar close."""

    open_ms: int
    status: str
    action: str
    target_exposure: float
    requested_exposure: float
    close: float
    reason: str = ""


class StateStore:
    """The paper trader's SQLite file, seen from one symbol's scope (:mod:`bot.live.state_schema`).

    :param path: the state file (its folder is created).
    :param symbol: the ccxt symbol whose rows and meta keys this store reads and writes (several stores share one
        file in a basket); '' for the file's one symbol (unscoped when it has none yet).
    :raises ConfigError: when the file cannot be opened as SQLite.
    """

    def __init__(self, path: str | Path, symbol: str = "") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            open_schema(self._conn, symbol)
            self.symbol = symbol or sole_symbol(self._conn)
        except sqlite3.DatabaseError as e:
            raise ConfigError(
                f"state file {self.path} is not a usable SQLite database ({e}); pass another --state"
                " or move the file away"
            ) from e
        self._conn.row_factory = sqlite3.Row

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._conn.close()

    # ------------------------------------------------------------------------------------------------ meta
    def get(self, key: str, default: Any = None) -> Any:
        """A JSON value stored under ``key``."""
        return self._get(meta_key(self.symbol, key), default)

    def put(self, **values: Any) -> None:
        """Store JSON values by key (one transaction)."""
        with self._transaction():
            self._put(values)

    def get_account(self, key: str, default: Any = None) -> Any:
        """A JSON value of the account as a whole (shared by every symbol of the file, e.g. a basket's kill switch)."""
        return self._get(meta_key(ACCOUNT_SCOPE, key), default)

    def _get(self, stored_key: str, default: Any) -> Any:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (stored_key,)).fetchone()
        return default if row is None else json.loads(row["value"])

    def put_account(self, **values: Any) -> None:
        """Store JSON values of the account as a whole (one transaction)."""
        with self._transaction():
            self._put(values, ACCOUNT_SCOPE)

    def _put(self, values: dict[str, Any], scope: str | None = None) -> None:
        scope = self.symbol if scope is None else scope
        self._conn.executemany(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            [(meta_key(scope, k), json.dumps(v)) for k, v in values.items()],
        )

    def _scope(self) -> tuple[str, tuple[str, ...]]:
        """SQL condition and parameters selecting this store's symbol's rows (every row when unscoped)."""
        return ("symbol = ?", (self.symbol,)) if self.symbol else ("1 = 1", ())

    def _select(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        """Rows of ``sql`` whose ``WHERE {scope}`` placeholder is this store's symbol condition (it comes first)."""
        where, scoped = self._scope()
        return list(self._conn.execute(sql.replace("{scope}", where), (*scoped, *params)))

    def _transaction(self) -> sqlite3.Connection:
        return _Tx(self._conn)  # type: ignore[return-value]

    # ------------------------------------------------------------------------------------------------ bars
    @property
    def last_bar_ms(self) -> int:
        """OPEN time of the last bar handled (done or skipped); -1 before the first."""
        row = self._select("SELECT MAX(open_ms) AS m FROM bars WHERE {scope}")[0]
        return -1 if row["m"] is None else int(row["m"])

    @property
    def last_decided_bar_ms(self) -> int:
        """OPEN time of the last bar decided on (traded, held or killed; skipped ones do not count); -1 before."""
        row = self._select("SELECT MAX(open_ms) AS m FROM bars WHERE {scope} AND status != 'skipped'")[0]
        return -1 if row["m"] is None else int(row["m"])

    def bars_processed(self) -> int:
        """Number of bars handled so far (traded or skipped)."""
        return int(self._select("SELECT COUNT(*) FROM bars WHERE {scope}")[0][0])

    def bars(self) -> list[sqlite3.Row]:
        """Every bar record, oldest first."""
        return self._select("SELECT * FROM bars WHERE {scope} ORDER BY open_ms")

    def record_bar(
        self,
        bar: BarRecord,
        orders: Sequence[OrderState],
        account: AccountState | None,
        snapshot: dict[str, Any] | None,
        meta: dict[str, Any],
        earlier: Sequence[tuple[int, OrderState]] = (),
        candle: Candle | None = None,
    ) -> None:
        """Write one bar's decision, its orders and fills, position and account snapshot, in one transaction.

        :param earlier: (bar OPEN time, order) of orders of earlier bars updated at this one (a resting limit order
            ended at this bar's close), kept under their own bar.
        :param candle: the bar's candle, whose open, high, low and volume are stored beside the decision (the
            dashboard draws them); None when the bar has none (a bar skipped in an outage or on stale data).
        """
        now = time.time()
        ohlv = (candle.open, candle.high, candle.low, candle.volume) if candle is not None else (None,) * 4
        with self._transaction():
            self._conn.execute(
                f"INSERT OR REPLACE INTO bars ({_BAR_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self.symbol,
                    bar.open_ms,
                    bar.status,
                    bar.action,
                    bar.target_exposure,
                    bar.requested_exposure,
                    bar.close,
                    bar.reason,
                    now,
                    *ohlv,
                ),
            )
            for order in orders:
                self._upsert_order(order, bar.open_ms, now)
            for bar_open_ms, order in earlier:
                self._upsert_order(order, bar_open_ms, now)
            if account is not None:
                self._insert_position(account, bar.open_ms, now)
            if snapshot is not None:
                self._insert_snapshot(snapshot, now)
            self._put(meta)

    def _upsert_order(self, order: OrderState, bar_open_ms: int, now: float) -> None:
        self._conn.execute(
            f"INSERT OR REPLACE INTO orders ({_ORDER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                order.client_id,
                bar_open_ms,
                order.order_id,
                order.side,
                order.qty,
                order.filled,
                order.average_price,
                order.status,
                int(order.reduce_only),
                order.fee,
                order.error,
                now,
                order.order_type,
                order.price,
                self.symbol,
            ),
        )
        if order.filled > 0:
            self._conn.execute(
                "INSERT OR REPLACE INTO fills (client_id, order_id, side, qty, price, fee, bar_open_ms, symbol)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    order.client_id,
                    order.order_id,
                    order.side,
                    order.filled,
                    order.average_price,
                    order.fee,
                    bar_open_ms,
                    self.symbol,
                ),
            )

    def _insert_position(self, account: AccountState, time_ms: int, now: float) -> None:
        self._conn.execute(
            "INSERT INTO positions (time_ms, qty, entry_price, unrealized_pnl, stop_loss, take_profit, updated_at,"
            " symbol) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                time_ms,
                account.position_qty,
                account.entry_price,
                account.unrealized_pnl,
                account.stop_loss,
                account.take_profit,
                now,
                self.symbol,
            ),
        )

    def _insert_snapshot(self, snapshot: dict[str, Any], now: float) -> None:
        columns = ["updated_at", *snapshot]
        marks = ", ".join("?" for _ in columns)
        self._conn.execute(
            f"INSERT INTO account_snapshots ({', '.join(columns)}) VALUES ({marks})", (now, *snapshot.values())
        )

    def record_orders(
        self, orders: Sequence[OrderState], bar_open_ms: int, account: AccountState | None = None
    ) -> None:
        """Insert or update orders found during reconciliation (or ended as a run stops), with the position they
        left when ``account`` is given."""
        now = time.time()
        with self._transaction():
            for order in orders:
                self._upsert_order(order, bar_open_ms, now)
            if account is not None:
                self._insert_position(account, bar_open_ms, now)

    # ------------------------------------------------------------------------------------------------ reads
    def orders(self) -> list[sqlite3.Row]:
        """Every order, in bar order."""
        return self._select("SELECT * FROM orders WHERE {scope} ORDER BY bar_open_ms, client_id")

    def fills(self) -> list[sqlite3.Row]:
        """Every fill, in bar order."""
        return self._select("SELECT * FROM fills WHERE {scope} ORDER BY bar_open_ms, client_id")

    def filled_by_client_id(self) -> dict[str, float]:
        """Filled quantity of every recorded order, by client id."""
        return {r[0]: float(r[1]) for r in self._select("SELECT client_id, filled FROM orders WHERE {scope}")}

    def order_fills(self, prefix: str) -> dict[str, tuple[float, float]]:
        """(filled, quantity) of every order whose client id starts with ``prefix``, by client id."""
        rows = self._conn.execute(
            "SELECT client_id, filled, qty FROM orders WHERE client_id LIKE ? ESCAPE '!'", (_like(prefix),)
        )
        return {r[0]: (float(r[1]), float(r[2])) for r in rows}

    def limit_counts(self, prefix: str, newer: Sequence[OrderState] = ()) -> tuple[int, int]:
        """(placed, filled) limit orders whose client id starts with ``prefix``, ``newer`` states overriding the
        recorded ones; an order counts as filled when any of it filled."""
        rows = self._conn.execute(
            "SELECT client_id, filled FROM orders WHERE order_type = 'limit' AND client_id LIKE ? ESCAPE '!'",
            (_like(prefix),),
        )
        filled = {r[0]: float(r[1]) for r in rows}
        filled |= {o.client_id: o.filled for o in newer if o.order_type == "limit" and o.client_id.startswith(prefix)}
        return len(filled), sum(1 for f in filled.values() if f > 0)

    def unfinished_orders(self) -> list[str]:
        """Client ids of orders last seen open."""
        return [r[0] for r in self._select("SELECT client_id FROM orders WHERE {scope} AND status = 'open'")]

    def last_position(self) -> tuple[float, float] | None:
        """(signed quantity, mark price) of the newest recorded position, None before the first."""
        rows = self._select("SELECT qty, entry_price FROM positions WHERE {scope} ORDER BY id DESC LIMIT 1")
        row = rows[0] if rows else None
        snap = self.latest_snapshot()
        if row is None:
            return None
        return float(row["qty"]), float(snap["mark_price"] if snap else row["entry_price"])

    def latest_snapshot(self) -> dict[str, Any] | None:
        """The newest account snapshot as a dict."""
        rows = self._select("SELECT * FROM account_snapshots WHERE {scope} ORDER BY id DESC LIMIT 1")
        return dict(rows[0]) if rows else None


class _Tx:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error) on an autocommit connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def _like(prefix: str) -> str:
    """A LIKE pattern matching strings that start with ``prefix`` (``!`` escapes its wildcards)."""
    return prefix.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as JSON to ``path`` atomically (temp file in the same folder, then rename)."""
    atomic_write_bytes(path, json.dumps(payload, indent=1, sort_keys=True).encode("utf-8"))
