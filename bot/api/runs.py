"""The run folders under the checkpoint folder as the dashboard lists them: checkpoints, data, dates, headline
validation metrics and evaluation reports; and the one way to open a file inside a run folder (path-confined)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from bot.api.schemas import RunView
from bot.training import finite_number

logger = logging.getLogger(__name__)

#: A run id is one plain folder name, as ``run_name`` must be (docs/API.md).
RUN_ID = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
#: A numbered checkpoint folder.
STEP_FOLDER = re.compile(r"^step_[0-9]+$")
#: Validation metrics shown in the runs list, in this order.
HEADLINE_METRICS = ("sharpe", "total_return", "max_drawdown", "trades", "cost_drag")
#: Files of a run folder the API serves, by suffix, with their media type.
SERVED_TYPES = {".html": "text/html", ".png": "image/png", ".json": "application/json", ".md": "text/markdown",
                ".csv": "text/csv", ".svg": "image/svg+xml"}


class RunFileError(ValueError):
    """A requested run or file is not there or not allowed; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        logger.debug("Unreadable %s: %s", path, e)
        return {}
    return value if isinstance(value, dict) else {}


def _data_of(run_dir: Path) -> dict[str, Any]:
    try:
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        logger.debug("Unreadable config of run %s: %s", run_dir.name, e)
        return {}
    data = cfg.get("data") if isinstance(cfg, dict) else None
    if not isinstance(data, dict):
        return {}
    # the file's name only: the server's folder layout is nobody's business
    path = data.get("path")
    return {"source": data.get("source"), "symbol": data.get("symbol"), "timeframe": data.get("base_timeframe"),
            "file": Path(str(path)).name if path else None, "start": data.get("start"), "end": data.get("end")}


def _has_model(folder: Path) -> bool:
    """A checkpoint's model file: ``model.zip`` (RL) or ``model.joblib`` (the supervised baselines)."""
    return (folder / "model.zip").is_file() or (folder / "model.joblib").is_file()


def summarize_run(run_dir: Path) -> RunView:
    """Read a run folder's manifest, config and sub-folders (never its model)."""
    manifest = _read_json(run_dir / "manifest.json")
    raw = manifest.get("validation")
    validation: dict[str, Any] = raw if isinstance(raw, dict) else {}
    children = sorted((p for p in run_dir.iterdir() if p.is_dir()), key=lambda p: p.name)
    steps = sorted((p.name for p in children if STEP_FOLDER.match(p.name)), key=lambda name: int(name[5:]))
    top = (["latest"] if _has_model(run_dir) else []) + (["best"] if _has_model(run_dir / "best") else [])
    checkpoints = top + steps
    return RunView(
        run_id=run_dir.name, algorithm=manifest.get("algorithm"), status=manifest.get("status"),
        timesteps=manifest.get("timesteps"), total_timesteps=manifest.get("total_timesteps"),
        created=manifest.get("created"), modified_at=run_dir.stat().st_mtime, data=_data_of(run_dir),
        validation={k: finite_number(validation.get(k)) for k in HEADLINE_METRICS}, checkpoints=checkpoints,
        reports=[p.name for p in children if (p / "report.html").is_file()],
    )


def list_runs(checkpoint_dir: Path, page: int, page_size: int) -> tuple[list[RunView], int]:
    """Run folders (those holding a ``manifest.json``), newest first, one page of them.

    :param checkpoint_dir: the trainer's checkpoint folder.
    :param page: 1-based page number.
    :param page_size: runs per page.
    :return: the page's summaries and the number of runs in all.
    """
    if not checkpoint_dir.is_dir():
        return [], 0
    folders = [p for p in checkpoint_dir.iterdir()
               if p.is_dir() and RUN_ID.match(p.name) and (p / "manifest.json").is_file()]
    folders.sort(key=lambda p: (p.stat().st_mtime, p.name), reverse=True)
    start = (page - 1) * page_size
    return [summarize_run(p) for p in folders[start:start + page_size]], len(folders)


def run_folder(checkpoint_dir: Path, run_id: str) -> Path:
    """The folder of a run.

    :raises RunFileError: 422 for an id that is not a plain folder name, 404 for a run that does not exist.
    """
    if not RUN_ID.match(run_id) or run_id in (".", ".."):
        raise RunFileError(422, f"run id {run_id!r} must be one plain folder name (letters, digits, '.', '_', '-')")
    folder = checkpoint_dir / run_id
    if not (folder / "manifest.json").is_file():
        raise RunFileError(404, f"run {run_id!r} does not exist under the checkpoint folder; list runs with"
                                " GET /api/runs")
    return folder


def run_file(checkpoint_dir: Path, run_id: str, relative: str) -> tuple[Path, str]:
    """A report file inside a run folder, and its media type.

    :param relative: the path inside the run folder (``eval_test/report.html``).
    :raises RunFileError: 422 for a path that leaves the folder (``..``, absolute, a symlink out) or a file type
        that is not served, 404 for a missing file.
    """
    folder = run_folder(checkpoint_dir, run_id).resolve()
    parts = PurePosixPath(relative).parts
    if not parts or relative.startswith("/") or "\\" in relative or "\x00" in relative or ".." in parts:
        raise RunFileError(422, f"file {relative!r} must be a relative path inside run {run_id} without '..'")
    path = (folder / relative).resolve()
    if not path.is_relative_to(folder):
        raise RunFileError(422, f"file {relative!r} resolves outside run {run_id} (a symlink?)")
    media = SERVED_TYPES.get(path.suffix.lower())
    if media is None:
        raise RunFileError(422, f"file {relative!r}: only report files are served ({', '.join(SERVED_TYPES)})")
    if not path.is_file():
        raise RunFileError(404, f"file {relative!r} does not exist in run {run_id}")
    return path, media
