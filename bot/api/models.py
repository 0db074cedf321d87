"""The model kinds the bot trains (``GET /api/models``) and the ``models`` block of ``/api/sync/status``.

The catalogue is read from the config models (``training.algo`` and ``training.extractor.kind`` with the keys of
their sections), so a new algorithm or hyperparameter shows up here without an edit; nothing of torch or SB3 is
imported. Model kinds are the names the dashboard shows: ``recurrent_ppo`` is the LSTM, ``rf`` the Random Forest.
"""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel

from bot.api.db import Job
from bot.api.job_store import JobStore
from bot.config import ALGO_SECTIONS, SUPERVISED_ALGOS, ExtractorConfig, TrainingConfig

#: ``training.algo`` -> the model kind the dashboard names
MODEL_KINDS: dict[str, str] = {
    "ppo": "PPO",
    "maskable_ppo": "MaskablePPO",
    "ddqn": "DDQN",
    "recurrent_ppo": "LSTM",
    "rf": "RF",
    "gbm": "GBM",
}
#: metrics of a job's last values shown as its headline, the first present wins
_HEADLINE = ("validation/sharpe", "sharpe", "reward", "rollout/ep_rew_mean", "trees")
#: jobs scanned for the latest job of each kind
_SCAN = 500


def _keys(section: str) -> dict[str, dict[str, Any]]:
    """``training.<section>.<key>`` -> its default and description."""
    model: type[BaseModel] = TrainingConfig.model_fields[section].annotation  # type: ignore[assignment]
    defaults = model().model_dump()
    return {
        f"training.{section}.{name}": {"default": defaults[name], "description": field.description}
        for name, field in model.model_fields.items()
    }


def algorithms() -> list[dict[str, Any]]:
    """Every ``training.algo`` with its kind, family and config keys."""
    return [
        {
            "algo": algo,
            "kind": MODEL_KINDS.get(algo, algo),
            "family": "supervised" if algo in SUPERVISED_ALGOS else "rl",
            "keys": {key: value for section in ALGO_SECTIONS.get(algo, ()) for key, value in _keys(section).items()},
        }
        for algo in get_args(TrainingConfig.model_fields["algo"].annotation)
    ]


def extractors() -> list[dict[str, Any]]:
    """Every ``training.extractor.kind`` (the RL algorithms' market-window encoders), with the section's keys."""
    kinds = get_args(ExtractorConfig.model_fields["kind"].annotation)
    keys = _keys("extractor")
    return [{"kind": kind, "keys": keys} for kind in kinds]


def _headline(metrics: dict[str, Any]) -> dict[str, Any] | None:
    for name in _HEADLINE:
        value = metrics.get(name)
        if isinstance(value, int | float):
            return {"name": name, "value": value}
    return None


def _job_block(job: Job) -> dict[str, Any]:
    total = job.total_timesteps or 0
    return {
        "status": job.status.value,
        "progress": min(1.0, job.timesteps / total) if total else 0.0,
        "job_id": job.id,
        "timesteps": job.timesteps,
        "total_timesteps": total,
        "last_metric": _headline(job.metrics or {}),
        "updated_at": job.updated_at,
    }


def models_block(store: JobStore) -> dict[str, dict[str, Any]]:
    """Model kind -> status, progress, job id and headline metric of its latest training job (``status: none`` when
    no job of that kind is among the newest ones)."""
    latest: dict[str, Job] = {}
    for job in store.list_jobs(limit=_SCAN):  # newest first
        if job.kind == "train" and job.algo not in latest:
            latest[job.algo] = job
    return {
        kind: _job_block(latest[algo]) if algo in latest else {"status": "none", "job_id": None}
        for algo, kind in MODEL_KINDS.items()
    }
