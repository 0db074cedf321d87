"""The command line of a tune job (:data:`bot.api.job_kinds.JOB_KINDS` ``"tune"``): ``bot tune`` on the job's config,
its overrides and the search space of its request, with the experiment under ``<checkpoint_dir>/tune/<job id>``
(``--resume`` when the job is resumed)."""

from __future__ import annotations

import json
from pathlib import Path

from bot.api.db import Job
from bot.api.job_request import resolve_config_path
from bot.api.settings import ApiSettings
from bot.atomic import atomic_write_bytes

#: Folder of the API's experiments under the checkpoint folder.
TUNE_DIR = "tune"
#: The search space of a tune job, in its job folder (JSON, which the space loader reads as YAML).
SPACE_FILE = "space.json"


def tune_storage(settings: ApiSettings) -> Path:
    """The parent folder of the API's experiments."""
    return settings.checkpoint_dir / TUNE_DIR


def tune_argv(job: Job, settings: ApiSettings, events: Path) -> list[str]:
    """``bot tune`` flags of the job, after writing its search space into the job folder."""
    params = job.params
    space = settings.jobs_dir / job.id / SPACE_FILE
    atomic_write_bytes(space, json.dumps(params["space"], indent=1).encode())
    argv = [*settings.tuner_command, "--config", str(resolve_config_path(settings.config_dir, job.config_name))]
    for override in job.overrides:
        argv += ["--set", override]
    argv += [
        "--space", str(space), "--trials", str(params["num_samples"]), "--scheduler", str(params["scheduler"]),
        "--search", str(params["search"]), "--metric", str(params["metric"]), "--mode", str(params["mode"]),
        "--storage", str(tune_storage(settings)), "--name", job.id,
        "--events-jsonl", str(events), "--events-heartbeat-s", str(settings.heartbeat_s),
    ]
    for key in ("max_concurrent", "walk_forward"):
        if params.get(key):
            argv += [f"--{key.replace('_', '-')}", str(params[key])]
    if job.resume_from:  # POST .../resume: Tune continues the experiment's unfinished trials from their checkpoints
        argv.append("--resume")
    return argv
