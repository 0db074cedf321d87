"""Declarative base and the SQLite engine of the job store (WAL mode, one engine per app)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.orm import DeclarativeBase, sessionmaker


class Base(DeclarativeBase):
    """Base class of every table of the job store."""


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the dashboard read while the runner writes; NORMAL sync is safe under WAL and much faster.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(db_path: Path) -> Engine:
    """Create the SQLite engine (and its folder) and every table.

    :param db_path: the database file; its parent folder is created.
    :return: the engine, usable from several threads.
    """
    db_path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{db_path}", connect_args={"check_same_thread": False, "timeout": 30})
    event.listen(engine, "connect", _set_sqlite_pragmas)
    Base.metadata.create_all(engine)
    _add_missing_columns(engine)
    return engine


def _add_missing_columns(engine: Engine) -> None:
    # create_all makes missing tables only; a store written by an older version lacks the newer columns, each of
    # which has a server default, so adding it in place is the whole migration
    existing = {t: {c["name"] for c in inspect(engine).get_columns(t)} for t in Base.metadata.tables}
    with engine.begin() as conn:
        for name, table in Base.metadata.tables.items():
            for column in table.columns:
                if column.name in existing[name] or column.server_default is None:
                    continue
                default = column.server_default.arg  # type: ignore[attr-defined]
                kind = column.type.compile(engine.dialect)
                conn.execute(text(f'ALTER TABLE {name} ADD COLUMN "{column.name}" {kind} NOT NULL DEFAULT {default}'))


def make_session_factory(engine: Engine) -> sessionmaker[Any]:
    """Sessions whose objects stay readable after commit (they are handed to other threads and to pydantic)."""
    return sessionmaker(engine, expire_on_commit=False)
