"""Health, server log, sync status and monitoring statistics."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from bot import __version__
from bot.api.db import JobStatus
from bot.api.deps import StateDep
from bot.api.log_files import tail_lines
from bot.api.models import models_block
from bot.api.paper import read_paper_account, read_paper_view
from bot.api.schemas import LinesView

router = APIRouter(tags=["system"])


@router.get("/api/health")
def health(state: StateDep) -> JSONResponse:
    """200 when the database answers, 503 otherwise."""
    body: dict[str, Any] = {
        "status": "ok",
        "version": __version__,
        "uptime_s": time.time() - state.started_at,
        "auth_configured": state.settings.token is not None,
        "db": "ok",
    }
    try:
        state.store.ping()
    except SQLAlchemyError as e:
        body.update(status="error", db=f"error: {e}")
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)


@router.get("/status/log_tail")
def log_tail(state: StateDep, n: Annotated[int, Query(ge=1, le=10_000)] = 200) -> LinesView:
    """The last ``n`` lines of the server's own log file."""
    path = state.settings.log_path
    return LinesView(source=str(path) if path else "no server log file", lines=tail_lines(path, n))


@router.get("/api/sync/status")
def sync_status(state: StateDep) -> dict[str, Any]:
    """One poll for the dashboard: backend health, jobs summary, the latest job of each model kind (``models``),
    WebSocket state and the paper account."""
    stats = state.store.stats()
    running = [j.id for j in state.store.list_jobs(limit=100, status=JobStatus.RUNNING)]
    return {
        "backend": {"status": "ok", "version": __version__, "uptime_s": time.time() - state.started_at,
                    "time": time.time()},
        "jobs": {"by_status": stats["jobs_by_status"], "running": running,
                 "max_concurrent_jobs": state.settings.max_concurrent_jobs},
        "models": models_block(state.store),
        "websocket": {"clients": state.hub.n_subscribers, "last_seq": stats["last_event_seq"]},
        "paper": read_paper_account(state.settings.paper_state_path, state.settings.paper_stale_after_s),
    }


@router.get("/api/monitoring/dashboard")
def monitoring_dashboard(state: StateDep) -> dict[str, Any]:
    """Statistics from the job store (counts, success rate, timesteps trained, throughput)."""
    return state.store.stats()


@router.get("/api/paper")
def paper_view(state: StateDep, limit: Annotated[int, Query(ge=1, le=20_000)] = 2000) -> dict[str, Any]:
    """The paper view: status, account, equity curve, bar closes, fills, orders, position with SL/TP, kill switch."""
    return read_paper_view(state.settings.paper_state_path, state.settings.paper_stale_after_s, limit)
