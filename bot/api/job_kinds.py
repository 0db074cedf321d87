"""Job kinds: what command a job runs and which config it reads. A new kind (a tuning sweep, say) is one entry in
:data:`JOB_KINDS`; the runner, the store, the events and the dashboard treat every kind alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.api.db import Job
from bot.api.job_request import resolve_config_path
from bot.api.settings import ApiSettings
from bot.api.tune_job_kind import tune_argv


@dataclass(frozen=True, slots=True)
class JobKind:
    """How the runner launches one kind of job.

    :param name: the ``kind`` stored with the job.
    :param config_path: the config file the job's process loads (its data file is redacted from the output).
    :param argv: the full command line, given the job, the settings and the events file.
    :param resumable: whether ``POST .../resume`` may queue it again from its run folder.
    """

    name: str
    config_path: Callable[[Job, ApiSettings], Path]
    argv: Callable[[Job, ApiSettings, Path], list[str]]
    resumable: bool


def _train_config(job: Job, settings: ApiSettings) -> Path:
    return resolve_config_path(settings.config_dir, job.config_name)


def _train_argv(job: Job, settings: ApiSettings, events: Path) -> list[str]:
    argv = [*settings.trainer_command, "--config", str(_train_config(job, settings))]
    for override in job.overrides:
        argv += ["--set", override]
    argv += [
        "--checkpoint-dir", str(settings.checkpoint_dir), "--algo", job.algo, "--workers", str(job.workers),
        "--timesteps", str(job.total_timesteps), "--seed", str(job.seed), "--no-progress",
        "--events-jsonl", str(events), "--events-heartbeat-s", str(settings.heartbeat_s),
    ]
    if job.resume_from:
        argv += ["--resume", job.resume_from]
    return argv


def _evaluation_config(job: Job, settings: ApiSettings) -> Path:
    return settings.checkpoint_dir / str(job.params["run_id"]) / "config.yaml"


def _evaluation_argv(job: Job, settings: ApiSettings, events: Path) -> list[str]:
    run_dir = settings.checkpoint_dir / str(job.params["run_id"])
    argv = [*settings.evaluator_command, "--events-jsonl", str(events), "--events-heartbeat-s",
            str(settings.heartbeat_s), "--checkpoint", str(run_dir),
            "--which", str(job.params["which"]), "--split", str(job.params["split"]),
            "--out", str(run_dir / str(job.params["report"]))]
    if job.params.get("fees_off"):
        argv.append("--fees-off")
    return argv


JOB_KINDS: dict[str, JobKind] = {
    "train": JobKind("train", _train_config, _train_argv, resumable=True),
    "evaluate": JobKind("evaluate", _evaluation_config, _evaluation_argv, resumable=False),
    "tune": JobKind("tune", _train_config, tune_argv, resumable=True),
}

def job_kind(job: Job) -> JobKind:
    """The kind of a job.

    :raises KeyError: for a kind this server does not know (a store written by a newer version).
    """
    return JOB_KINDS[job.kind]
