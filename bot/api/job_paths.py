"""Confinement of every path a job can set: run folder name, log files, data file and checkpoint folder.

A job comes from a token holder over HTTP, so none of its paths may lead outside the folders the server owns: the
run folder stays under the checkpoint folder, log files stay in the run folder, and the data file lies in one of
the data roots (symlinks are resolved before the check). Errors name the key and the allowed place, never the
content of any file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.api.job_limits import JobRequestError
from bot.config import BotConfig

#: A single folder or file name: no separators, no leading dot (so no ``..``), nothing a shell or URL would mangle.
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

#: Config sections a training job has no use for; their paths (``live.state_path``, ``api.db_path``) and the
#: server's own settings must not be changed through a job.
FORBIDDEN_SECTIONS = frozenset({"api", "live"})

#: Every string key of the schema that names a file or folder, and how it is confined (a test keeps this complete).
PATH_KEYS = {
    "run_name": "a folder name under the checkpoint folder",
    "logging.file": "a file name in the run folder",
    "logging.jsonl_file": "a file name in the run folder",
    "data.path": "a file inside one of api.data_roots",
    "data.dir": "a folder whose symbol files (data.symbols + data.pattern) lie inside api.data_roots, each checked",
    "training.checkpoint_dir": "set by the server (--checkpoint-dir)",
    "live.state_path": "not settable by a job (live section)",
    "api.db_path": "not settable by a job (api section)",
}


@dataclass(frozen=True, slots=True)
class PathRoots:
    """The folders a job's paths must stay in (absolute, resolved).

    :param workdir: the trainer's working directory (relative paths in the config are resolved against it).
    :param checkpoint_dir: parent of the run folders.
    :param data_roots: folders a data file may come from.
    """

    workdir: Path
    checkpoint_dir: Path
    data_roots: tuple[Path, ...]


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def _check_name(key: str, value: str, where: str) -> None:
    if not _PLAIN_NAME.match(value):
        raise JobRequestError("overrides", f"{key}={value!r} must be {where}: letters, digits, '.', '_' or '-',"
                              " starting with a letter or digit (no '/', no '..', no absolute path)")


def _override_keys(overrides: Sequence[str]) -> list[str]:
    return [item.partition("=")[0].strip() for item in overrides]


def check_job_paths(cfg: BotConfig, overrides: Sequence[str], roots: PathRoots) -> None:
    """Refuse a job whose resolved config (its file plus overrides) points anywhere the server does not allow.

    :param cfg: the config exactly as the trainer will load it.
    :param overrides: the job's overrides (to refuse the keys the server sets itself).
    :param roots: the allowed folders.
    :raises JobRequestError: on the ``overrides`` field, naming the key and where it must point.
    """
    for key in _override_keys(overrides):
        if key.split(".")[0] in FORBIDDEN_SECTIONS:
            raise JobRequestError("overrides", f"override {key}: the {key.split('.')[0]} section belongs to the"
                                  " server; a training job cannot change it")
        if key == "training.checkpoint_dir":
            raise JobRequestError("overrides", f"override {key}: the server sets the checkpoint folder"
                                  f" ({roots.checkpoint_dir}); drop this override (use run_name to name the run)")
    run_dir: Path | None = None
    if cfg.run_name is not None:
        _check_name("run_name", cfg.run_name, PATH_KEYS["run_name"])
        run_dir = roots.checkpoint_dir / cfg.run_name
        if not _inside(run_dir, roots.checkpoint_dir):
            raise JobRequestError("overrides", f"run_name={cfg.run_name!r} leads outside the checkpoint folder"
                                  f" {roots.checkpoint_dir} (a symlink?); choose another name")
    for key, value in (("logging.file", cfg.logging.file), ("logging.jsonl_file", cfg.logging.jsonl_file)):
        if value is None:
            continue
        _check_name(key, value, PATH_KEYS[key])
        if run_dir is not None and not _inside(run_dir / value, run_dir):
            raise JobRequestError("overrides", f"{key}={value!r} leads outside the run folder {run_dir} (a"
                                  " symlink?); choose another name")
    # every file the trainer will read: data.path, or each symbol's file (data.symbols, or data.dir + data.pattern)
    for file in cfg.data.symbol_files():
        check_data_path(file.path, roots, "data.path" if cfg.data.path else f"data.symbols ({file.symbol})")


def check_data_path(value: str, roots: PathRoots, key: str = "data.path") -> Path:
    """The data file a job names, resolved (symlinks followed) and guaranteed inside a data root.

    :param value: the file as written (relative to the working directory, or absolute).
    :param key: the config key that named it, for the message.
    :raises JobRequestError: when it resolves outside every data root; the message names the roots, not the file's
        content.
    """
    if "\x00" in value:
        raise JobRequestError("overrides", f"{key} must not contain a NUL character")
    resolved = (roots.workdir / value).resolve()
    if not any(resolved.is_relative_to(root.resolve()) for root in roots.data_roots):
        allowed = ", ".join(str(r) for r in roots.data_roots) or "(none configured)"
        raise JobRequestError("overrides", f"{key}={value!r} resolves outside the data roots ({allowed});"
                              " put the file in one of them or add its folder to api.data_roots")
    return resolved
