"""The paper trader's state as the API reports it: running or not (with the reason), the account, and for the paper
view its equity curve, bar closes, fills, orders, position with stop-loss / take-profit, and kill-switch state."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bot.live import PaperState, PaperStateError, read_paper_state

logger = logging.getLogger(__name__)


def _not_running(message: str) -> dict[str, Any]:
    return {"running": False, "message": message, "account": None, "updated_at": None}


def _load(state_path: Path | None, limit: int) -> tuple[PaperState | None, dict[str, Any]]:
    """The state (or ``None``) and the status fields of ``read_paper_account``."""
    if state_path is None:
        return None, _not_running("no paper trader configured")
    try:
        state = read_paper_state(state_path, limit)
    except FileNotFoundError:
        return None, _not_running(f"no paper trader running: no state file at {state_path}"
                                  " (start one with `python -m bot paper --checkpoint RUN_DIR`)")
    except PaperStateError as e:
        logger.warning("Cannot read the paper trader state %s: %s", state_path, e)
        return None, _not_running(str(e))
    if state.latest is None:
        return state, _not_running(f"paper trader state {state_path} holds no account snapshot yet")
    return state, {}


def _status(state: PaperState, stale_after_s: float) -> dict[str, Any]:
    latest = state.latest
    assert latest is not None  # checked by _load
    running = time.time() - latest.updated_at < stale_after_s
    message = "paper trader running" if running else f"last account snapshot is older than {stale_after_s:.0f} s"
    return {"running": running, "message": message, "account": asdict(latest), "updated_at": latest.updated_at}


def read_paper_account(state_path: Path | None, stale_after_s: float = 900.0) -> dict[str, Any]:
    """The latest account snapshot of the paper trader, with a clear state when there is none.

    :param state_path: the paper trader's SQLite state file (``live.state_path``), or ``None``.
    :param stale_after_s: a snapshot older than this counts as "not running".
    :return: ``{"running": bool, "message": str, "account": {...} | None, "updated_at": float | None}``.
    """
    state, status = _load(state_path, limit=1)
    return status if state is None or state.latest is None else _status(state, stale_after_s)


def read_paper_view(state_path: Path | None, stale_after_s: float, limit: int) -> dict[str, Any]:
    """Everything the dashboard's paper view draws (``GET /api/paper``).

    :param state_path: the paper trader's SQLite state file, or ``None``.
    :param stale_after_s: a snapshot older than this counts as "not running".
    :param limit: newest rows per series (equity, bars, fills, orders).
    :return: the status fields of :func:`read_paper_account` plus ``equity, bars, fills, orders, position,
        kill_switch`` (of every symbol together) and ``symbols``: for a basket's file (``bot paper --symbols``) the
        same fields of each symbol, by symbol (empty for one symbol); the lists are empty when there is no state.
    """
    state, status = _load(state_path, limit)
    if state is None:
        return {**status, **_series(None), "symbols": {}}
    if state.latest is not None:
        status = _status(state, stale_after_s)
    basket = {}
    if len(state.symbols) > 1:
        assert state_path is not None  # a state was read
        basket = {s: _series(read_paper_state(state_path, limit, s)) for s in state.symbols}
    return {**status, **_series(state), "symbols": basket}


def _series(state: PaperState | None) -> dict[str, Any]:
    """The paper view's series of ``state`` (empty for None)."""
    if state is None:
        return {"equity": [], "bars": [], "fills": [], "orders": [], "position": None, "kill_switch": None}
    return {
        "equity": [{"time_ms": s.time_ms, "equity": s.equity} for s in state.snapshots],
        "bars": [asdict(b) for b in state.bars],
        "fills": [asdict(f) for f in state.fills],
        "orders": [asdict(o) for o in state.orders],
        "position": asdict(state.position) if state.position else None,
        "kill_switch": state.latest.kill_switch if state.latest else None,
    }
