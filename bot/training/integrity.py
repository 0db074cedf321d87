"""Checkpoint integrity: which checkpoint of a run is complete, the newest one to resume from, recovery after a kill.

A checkpoint is a folder whose ``manifest.json`` names every file with its SHA-256; the folder is complete when each
file is there with that hash. ``step_<N>/`` and ``best/`` are written as temp folders and renamed, so they are
complete or absent. The latest checkpoint (the run folder's top level, which plain SB3 loads as ``model.zip``) is
written as the complete folder ``.latest.pending/`` first and then promoted file by file, manifest last; a kill during
the promotion leaves the pending folder, which :func:`recover_run` finishes (redo), and until then
:func:`newest_complete` finds it. A mixed top level (a new ``model.zip`` beside the old manifest) fails the hash check
and is never loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

from bot.data import SCALERS
from bot.training.manifest import MANIFEST

logger = logging.getLogger(__name__)

MODEL = "model.zip"
#: the model file of the supervised baselines (``training.algo: rf | gbm``) in place of ``model.zip``
SUPERVISED_MODEL = "model.joblib"
VECNORMALIZE = "vecnormalize.pkl"
REPLAY_BUFFER = "replay_buffer.pkl"
CONFIG = "config.yaml"
SCALER = "scaler.json"
BEST = "best"
STEP_PREFIX = "step_"
#: the complete next latest checkpoint, while its files are moved to the top level
PENDING = ".latest.pending"
#: files a latest checkpoint may hold at the top level besides its manifest
CHECKPOINT_FILES = (MODEL, SUPERVISED_MODEL, VECNORMALIZE, REPLAY_BUFFER, CONFIG, SCALER, SCALERS)
#: prefixes of the temp folders a checkpoint save creates in the run folder
TEMP_PREFIXES = (".latest.", ".best.", ".step.", f".{STEP_PREFIX}")


def fault_point(name: str) -> None:
    """A named point of the save path; does nothing.

    Tests replace it (``tests/support/failing_env/sitecustomize.py``) to SIGKILL a real trainer at exactly this
    point, which makes every window of the save path hittable without timing luck.
    """


def file_sha256(path: Path) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB blocks (replay buffers can be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def folder_digests(folder: Path) -> dict[str, str]:
    """``{file name: sha256}`` of the checkpoint files present in ``folder`` (what its manifest records)."""
    return {name: file_sha256(folder / name) for name in CHECKPOINT_FILES if (folder / name).is_file()}


def step_folders(run_dir: Path) -> list[Path]:
    """The ``step_<N>/`` folders of a run, oldest (smallest N) first."""
    found = [p for p in run_dir.glob(f"{STEP_PREFIX}*") if p.is_dir() and p.name[len(STEP_PREFIX) :].isdigit()]
    return sorted(found, key=lambda p: int(p.name[len(STEP_PREFIX) :]))


def manifest_timesteps(folder: Path) -> int | None:
    """The ``timesteps`` recorded in a folder's manifest, or None when it has no readable manifest."""
    try:
        return int(json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["timesteps"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def checkpoint_problem(folder: Path) -> str | None:
    """Why ``folder`` is not a complete checkpoint, or None when it is.

    A manifest without ``files`` (written before file hashes existed) only needs its files to be present.
    """
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"no {MANIFEST}"
    except (OSError, ValueError) as e:
        return f"{MANIFEST} is unreadable ({e})"
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        needed = [MODEL, CONFIG, SCALER] + ([VECNORMALIZE] if manifest.get("vecnormalize") else [])
        missing = [name for name in needed if not (folder / name).is_file()]
        return f"lacks {', '.join(missing)}" if missing else None
    for name, digest in files.items():
        path = folder / name
        if not path.is_file():
            return f"lacks {name}"
        try:
            actual = file_sha256(path)
        except OSError as e:
            return f"cannot read {name} ({e.strerror or e})"
        if actual != digest:
            return f"{name} does not match its manifest (truncated, or left by an interrupted save)"
    return None


def newest_complete(run_dir: Path) -> tuple[Path | None, list[str]]:
    """The complete checkpoint with the most timesteps: the top level, ``.latest.pending/`` or a ``step_<N>/``.

    At equal timesteps the top level wins (it carries the run's status), then the pending folder.

    :return: the folder (None when the run has no complete checkpoint) and, for each newer folder that was passed
        over, ``"<folder>: <why>"``.
    """
    candidates = [run_dir, run_dir / PENDING, *reversed(step_folders(run_dir))]
    ranked = []
    for order, folder in enumerate(candidates):
        steps = manifest_timesteps(folder)
        if steps is not None:
            ranked.append((steps, -order, folder))
    skipped: list[str] = []
    for _, _, folder in sorted(ranked, key=lambda item: (item[0], item[1]), reverse=True):
        problem = checkpoint_problem(folder)
        if problem is None:
            return folder, skipped
        skipped.append(f"{folder}: {problem}")
    return None, skipped


def _replace_with_copy(src: Path, dst: Path) -> None:
    """Make ``dst`` a copy of ``src`` in one rename (a hard link when the file system allows, else a copy)."""
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:  # no hard links here (some network or FUSE file systems): copy instead
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def promote(pending: Path, run_dir: Path, during: str = "latest") -> None:
    """Make the complete checkpoint in ``pending`` the run's top-level latest checkpoint, then remove ``pending``.

    Files go first, the manifest last; running it again after a kill redoes the same steps, so it is idempotent.

    :param during: ``latest`` (a save) or ``recovery``: names the fault points.
    """
    names = list(json.loads((pending / MANIFEST).read_text(encoding="utf-8"))["files"])
    for name in names:
        _replace_with_copy(pending / name, run_dir / name)
        fault_point(f"{during}.promoted:{name}")
    for name in CHECKPOINT_FILES:
        if name not in names:  # e.g. a replay buffer saved before --resume turned it off
            (run_dir / name).unlink(missing_ok=True)
    _replace_with_copy(pending / MANIFEST, run_dir / MANIFEST)
    fault_point(f"{during}.manifest")
    shutil.rmtree(pending)


def _remove(path: Path) -> int:
    """Delete a file or folder; return the bytes freed."""
    if path.is_dir() and not path.is_symlink():
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        shutil.rmtree(path)
        return size
    size = path.stat().st_size
    path.unlink()
    return size


def _restore_best(run_dir: Path) -> str | None:
    """A kill between the two renames that replace ``best/`` leaves it missing: put the newest complete copy back."""
    best = run_dir / BEST
    if best.exists():
        return None
    copies = [p for p in run_dir.glob(f".{BEST}.*") if p.is_dir() and checkpoint_problem(p) is None]
    if not copies:
        return None
    newest = max(copies, key=lambda p: manifest_timesteps(p) or 0)
    newest.rename(best)
    return f"restored {best} from {newest.name} (a save of the best model was interrupted)"


def recover_run(run_dir: Path) -> list[str]:
    """Repair what a killed save left in ``run_dir``; call it before resuming (nothing else may write the folder).

    Finishes an interrupted promotion of the latest checkpoint, restores ``best/``, deletes temp files and folders
    and ``step_<N>/`` folders that are incomplete.

    :return: one line per repair, for the log.
    """
    notes: list[str] = []
    pending = run_dir / PENDING
    if pending.is_dir():
        top_steps = manifest_timesteps(run_dir) if checkpoint_problem(run_dir) is None else None
        pending_steps = manifest_timesteps(pending)
        if checkpoint_problem(pending) is None and (top_steps is None or (pending_steps or 0) >= top_steps):
            promote(pending, run_dir, during="recovery")
            notes.append(f"finished the interrupted save of the latest checkpoint (step {pending_steps})")
    restored = _restore_best(run_dir)
    if restored:
        notes.append(restored)
    freed, removed = 0, 0
    for path in run_dir.iterdir():
        name = path.name
        if name.startswith(".") and (name.endswith(".tmp") or name.startswith(TEMP_PREFIXES)):
            freed += _remove(path)
            removed += 1
    if removed:
        notes.append(f"removed {removed} temp file(s) or folder(s) of interrupted saves ({freed / 1e6:.1f} MB)")
    for folder in step_folders(run_dir):
        problem = checkpoint_problem(folder)
        if problem is not None:
            shutil.rmtree(folder)
            notes.append(f"removed incomplete {folder.name}/ ({problem})")
    return notes
