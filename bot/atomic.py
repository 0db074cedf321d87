"""Atomic file writes: a temp file beside the target, then one rename, so no reader ever sees half a file.

A base module like ``bot/errors.py``: every layer (data, training, evaluation, live) writes through it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def ordinary_mode(is_dir: bool = False) -> int:
    """The permission bits a plain ``open``/``mkdir`` would give under the current umask."""
    return (0o777 if is_dir else 0o666) & ~_umask()


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temp path beside ``target``; on success it replaces ``target`` in one rename, else it is removed."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, ordinary_mode())  # mkstemp creates 0600; give the file ordinary permissions
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
