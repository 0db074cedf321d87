"""``GET /api/models``: the model kinds the bot trains, with their config keys, and the trained runs of each."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from bot.api.deps import StateDep
from bot.api.models import MODEL_KINDS, algorithms, extractors
from bot.api.runs import list_runs

router = APIRouter(tags=["models"])


@router.get("/api/models")
def get_models(state: StateDep, runs: Annotated[int, Query(ge=0, le=500)] = 50) -> dict[str, Any]:
    """The algorithms (``training.algo``) and feature extractors with their config keys, and the newest ``runs``
    trained runs with their model kind, data, dates and headline validation metrics."""
    views, total = list_runs(state.settings.checkpoint_dir, 1, runs) if runs else ([], 0)
    return {
        "algorithms": algorithms(),
        "extractors": extractors(),
        "runs": [{"kind": MODEL_KINDS.get(v.algorithm or "", v.algorithm), **v.model_dump()} for v in views],
        "runs_total": total,
    }
