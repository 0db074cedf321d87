"""``/api/runs`` and ``/api/evaluations``: run folders with their checkpoints and reports, report files
(path-confined to the run folder), and evaluation jobs (the same job machinery and events as training)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import FileResponse

from bot.api.deps import StateDep, invalid_field, require_token
from bot.api.evaluation_request import resolve_evaluation
from bot.api.job_limits import JobRequestError
from bot.api.runs import RunFileError, list_runs, run_file, run_folder, summarize_run
from bot.api.schemas import EvaluationCreate, JobAccepted, JobView, RunList, RunView

router = APIRouter(tags=["runs"])


@router.get("/api/runs")
def get_runs(
    state: StateDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> RunList:
    """One page of run folders under the checkpoint folder, newest first."""
    runs, total = list_runs(state.settings.checkpoint_dir, page, page_size)
    return RunList(runs=runs, total=total, page=page, page_size=page_size)


@router.get("/api/runs/{run_id}")
def get_run(run_id: str, state: StateDep) -> RunView:
    """One run folder. **404** if it does not exist, **422** for an id that is not a plain folder name."""
    try:
        return summarize_run(run_folder(state.settings.checkpoint_dir, run_id))
    except RunFileError as e:
        raise HTTPException(e.status, detail=str(e)) from e


@router.get("/api/runs/{run_id}/files/{path:path}")
def get_run_file(run_id: str, path: str, state: StateDep) -> FileResponse:
    """A report file of a run (``eval_test/report.html``, its PNGs, ``metrics.json``); nothing outside the run."""
    try:
        file, media = run_file(state.settings.checkpoint_dir, run_id, path)
    except RunFileError as e:
        raise HTTPException(e.status, detail=str(e)) from e
    # a report is a document, never a program: no script runs in it even when opened on its own
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": "script-src 'none'"}
    return FileResponse(file, media_type=media, headers=headers)


@router.post("/api/evaluations", status_code=status.HTTP_202_ACCEPTED, dependencies=[Depends(require_token)])
def create_evaluation(body: EvaluationCreate, state: StateDep) -> JobAccepted:
    """Queue ``python -m bot evaluate`` on a run's checkpoint; the report goes to ``<run>/eval_<split>_<which>/``."""
    try:
        resolved = resolve_evaluation(state.settings.checkpoint_dir, body)
    except JobRequestError as e:
        raise invalid_field(e, body) from e
    job = state.runner.submit_evaluation(resolved)
    return JobAccepted(job_id=job.id, status=job.status, job=JobView.of(job))
