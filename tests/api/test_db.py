"""The job store's SQLite schema: a store written by an older version gains the newer columns in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import select

from bot.api.db import Job, make_engine, make_session_factory


def test_an_older_store_gains_the_newer_columns(tmp_path: Path) -> None:
    db = tmp_path / "api.sqlite"
    make_engine(db).dispose()
    with sqlite3.connect(db) as conn:  # the jobs table as versions before events_offset wrote it
        conn.execute("ALTER TABLE jobs DROP COLUMN events_offset")
        conn.execute("DROP INDEX ix_jobs_kind")  # before job kinds: training jobs only
        conn.execute("ALTER TABLE jobs DROP COLUMN kind")
        conn.execute("ALTER TABLE jobs DROP COLUMN params")
        conn.execute(
            "INSERT INTO jobs (id, status, algo, workers, seed, symbol, timeframe, config_name, overrides, created_at,"
            " updated_at, queued_at, total_timesteps, timesteps, metrics, attempt, cancel_requested)"
            " VALUES ('old', 'running', 'ppo', 1, 1, 'X/Y', '5m', 'demo.yaml', '[]', 0, 0, 0, 10, 0, '{}', 1, 0)"
        )
    engine = make_engine(db)
    with make_session_factory(engine)() as session:
        job = session.scalars(select(Job)).one()
        assert job.events_offset == 0 and job.kind == "train" and job.params == {}
    engine.dispose()
