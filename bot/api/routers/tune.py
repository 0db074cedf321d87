"""``/api/tune``: submit a hyperparameter search as a job. The job is then read, streamed and cancelled like any
other (``/api/training/jobs/{id}``, ``/ws``); its ``params.trials`` is the live trials table."""

from __future__ import annotations

from fastapi import APIRouter, Depends, status

from bot.api.deps import StateDep, invalid_field, require_token
from bot.api.job_limits import JobRequestError
from bot.api.schemas import JobAccepted, JobView
from bot.api.tune_request import TuneCreate, resolve_tune

router = APIRouter(prefix="/api/tune", tags=["tune"])


@router.post("/jobs", status_code=status.HTTP_202_ACCEPTED, dependencies=[Depends(require_token)])
def create_tune_job(body: TuneCreate, state: StateDep) -> JobAccepted:
    """Queue ``bot tune`` on a config and a search space; **422** names the body field that cannot be used."""
    try:
        resolved = resolve_tune(state.settings, body)
    except JobRequestError as e:
        raise invalid_field(e, body) from e
    job = state.runner.submit_tune(resolved)
    return JobAccepted(job_id=job.id, status=job.status, job=JobView.of(job))
