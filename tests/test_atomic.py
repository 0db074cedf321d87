"""Tests of bot/atomic.py: a failed write leaves the old file, a good one gets ordinary permissions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.atomic import atomic_path, atomic_write_bytes, ordinary_mode


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_written_files_get_ordinary_permissions(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    atomic_write_bytes(target, b"{}")
    assert target.stat().st_mode & 0o777 == ordinary_mode()  # not mkstemp's 0600
