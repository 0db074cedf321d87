"""Reading the tails of log files: the server's own (``/status/log_tail``) and a training run's."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import yaml

logger = logging.getLogger(__name__)


def tail_lines(path: Path | None, n: int, block_size: int = 65536) -> list[str]:
    """The last ``n`` lines of a text file, read backwards in blocks (cheap on big files).

    :param path: the file; ``None`` or a missing file gives ``[]``.
    :param n: number of lines wanted (>= 1).
    """
    if path is None or not path.is_file():
        return []
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        pos = f.tell()
        data = b""
        while pos > 0 and data.count(b"\n") <= n:
            step = min(block_size, pos)
            pos -= step
            f.seek(pos)
            data = f.read(step) + data
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[-n:]


def run_log_path(run_dir: str | None, checkpoint_dir: Path) -> Path | None:
    """The SmartLogger file of a run folder (``logging.file`` of its ``config.yaml``), or ``None`` when absent.

    Only a run folder under ``checkpoint_dir`` is read, and only a log file inside it (symlinks resolved): this is
    served without a token, so it must never become a way to read other files.

    :param run_dir: the job's run folder, if known.
    :param checkpoint_dir: the server's checkpoint folder.
    """
    if not run_dir:
        return None
    folder = Path(run_dir)
    if not folder.resolve().is_relative_to(checkpoint_dir.resolve()):
        logger.warning("Not reading the log of run folder %s: it is outside %s", folder, checkpoint_dir)
        return None
    name = "bot.log"
    try:
        resolved = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
        configured = resolved.get("logging", {}).get("file") if isinstance(resolved, dict) else None
        name = configured if isinstance(configured, str) else name
    except (OSError, yaml.YAMLError) as e:
        logger.debug("No readable config.yaml in %s (%s); assuming %s", folder, e, name)
    path = (folder / name).resolve()
    return path if path.is_file() and path.is_relative_to(folder.resolve()) else None
