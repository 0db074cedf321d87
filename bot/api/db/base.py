"""Declarative base and the SQLite engine of the job store (WAL mode, one engine per app)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
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
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Any]:
    """Sessions whose objects stay readable after commit (they are handed to other threads and to pydantic)."""
    return sessionmaker(engine, expire_on_commit=False)
