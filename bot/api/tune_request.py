"""``POST /api/tune/jobs``: a hyperparameter search as a job, validated like ``bot tune`` before anything starts.

The body carries the search space itself (dotted config keys -> one distribution, as in ``config/tune/*.yaml``);
it is checked against the config schema here, so an unknown key or a bad range is a 422 naming ``space``, not a
failed job. The job runs ``bot tune`` (through :mod:`bot.api.tune_job`) with the space written into the job's
folder, and its experiment goes to ``<checkpoint_dir>/tune/<job id>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.api.job_request import JobRequestError, ResolvedJob, resolve_job
from bot.api.schemas import JobCreate
from bot.api.settings import ApiSettings
from bot.errors import ConfigError
from bot.tune import WALK_FORWARD_PBT, check_against_schema, check_scheduler, parse_space

#: The metrics a trial reports (``bot.tune.commands.metric_names``, which imports torch; a test keeps them equal).
Metric = Literal["sharpe", "total_return", "max_drawdown", "trades", "fees", "steps", "turnover_per_day", "cost_drag",
                 "cost_share_equity", "trades_per_day", "avg_holding_bars", "timesteps"]


class TuneCreate(BaseModel):
    """Body of ``POST /api/tune/jobs`` (strict, like the training job's body)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    config: str = Field("demo.yaml", min_length=1, max_length=200, description="config file name inside config/")
    overrides: list[str] = Field(default_factory=list, max_length=1000, description="dotted.key=value, as --set")
    space: dict[str, dict[str, list[Any]]] = Field(
        min_length=1, max_length=64,
        description="dotted config key -> {distribution: args}, e.g. {'training.ppo.learning_rate':"
                    " {'loguniform': [1e-4, 1e-3]}}",
    )
    num_samples: int = Field(4, gt=0, le=1000, description="configurations sampled (x the grid keys)")
    scheduler: Literal["fifo", "asha", "pbt"] = "asha"
    search: Literal["random", "optuna"] = "random"
    metric: Metric = Field("sharpe", description="validation metric to optimise (net of costs)")
    mode: Literal["max", "min"] = "max"
    timesteps: int | None = Field(None, ge=1, le=10_000_000_000, description="env steps of each trial")
    max_concurrent: int | None = Field(None, ge=1, le=256, description="trials run at once")
    walk_forward: int | None = Field(None, ge=2, le=50, description="score each trial by its mean over K folds")


@dataclass(frozen=True, slots=True)
class ResolvedTune:
    """A tune request after validation: the training job it is built on and the search's own parameters."""

    job: ResolvedJob
    params: dict[str, Any]
    total_timesteps: int


def resolve_tune(settings: ApiSettings, request: TuneCreate) -> ResolvedTune:
    """Validate the config and overrides as a training job, and the space against the config schema.

    :raises JobRequestError: naming the body field (``config``, ``overrides``, ``space`` or ``walk_forward``).
    """
    if request.walk_forward is not None and request.scheduler == "pbt":
        raise JobRequestError("walk_forward", WALK_FORWARD_PBT.format(flag="walk_forward", scheduler="scheduler"))
    overrides = [*request.overrides]
    if request.timesteps is not None:
        overrides.append(f"training.total_timesteps={request.timesteps}")
    job = resolve_job(settings, JobCreate(config=request.config, overrides=overrides))
    config_path = settings.config_dir.resolve() / job.config_name
    try:
        space = parse_space(request.space, Path("space"))
        check_against_schema(space, config_path, list(job.overrides))
        check_scheduler(space, request.scheduler, request.search)
    except ConfigError as e:
        raise JobRequestError("space", str(e)) from e
    params = {"space": request.space, "num_samples": request.num_samples, "scheduler": request.scheduler,
              "search": request.search, "metric": request.metric, "mode": request.mode,
              "max_concurrent": request.max_concurrent, "walk_forward": request.walk_forward}
    folds = request.walk_forward or 1
    return ResolvedTune(job, params, request.num_samples * space.n_grid * job.timesteps * folds)
