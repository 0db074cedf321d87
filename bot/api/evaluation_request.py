"""Turn ``POST /api/evaluations`` into a validated evaluation job: the run folder and the checkpoint must exist
under the checkpoint folder before anything starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.api.job_limits import JobRequestError
from bot.api.runs import RunFileError, run_folder, summarize_run
from bot.api.schemas import EvaluationCreate


@dataclass(frozen=True, slots=True)
class ResolvedEvaluation:
    """An evaluation request after validation: what the runner passes to ``python -m bot evaluate``."""

    run_id: str
    which: str
    split: str
    fees_off: bool
    algo: str
    seed: int
    symbol: str
    timeframe: str

    @property
    def report(self) -> str:
        """The report folder's name inside the run folder."""
        return f"eval_{self.split}_{self.which}"

    def params(self) -> dict[str, Any]:
        """The job's ``params`` column."""
        return {"run_id": self.run_id, "which": self.which, "split": self.split, "fees_off": self.fees_off,
                "report": self.report}


def resolve_evaluation(checkpoint_dir: Path, request: EvaluationCreate) -> ResolvedEvaluation:
    """Check that the run and its checkpoint exist.

    :raises JobRequestError: naming ``run_id`` or ``which``.
    """
    try:
        folder = run_folder(checkpoint_dir, request.run_id)
    except RunFileError as e:
        raise JobRequestError("run_id", str(e)) from e
    summary = summarize_run(folder)
    which = request.which
    name = which if which in ("best", "latest") else f"step_{which}"
    if name not in summary.checkpoints:
        raise JobRequestError("which", f"run {request.run_id} has no checkpoint {which!r}; it has"
                                       f" {summary.checkpoints or 'none'} (use best, latest or a step number)")
    return ResolvedEvaluation(
        run_id=request.run_id, which=which, split=request.split, fees_off=request.fees_off,
        algo=summary.algorithm or "unknown", seed=0, symbol=str(summary.data.get("symbol") or "?"),
        timeframe=str(summary.data.get("timeframe") or "?"),
    )
