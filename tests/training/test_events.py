"""JSON-lines events: one flushed line per event, JSON-safe values, unknown types rejected."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.training.events import EventWriter


def test_each_event_is_one_flushed_json_line(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "events.jsonl"
    writer = EventWriter(path)
    writer.emit("started", run_dir="r", total_timesteps=10)
    assert json.loads(path.read_text())["type"] == "started"  # readable before close: flushed per line
    writer.emit("progress", timesteps=np.int64(5), fps=np.float32(2.5), metrics={"reward": None, "loss": float("nan")})
    writer.close()
    writer.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["type"] for e in lines] == ["started", "progress"]
    assert lines[1]["timesteps"] == 5 and lines[1]["fps"] == 2.5
    assert lines[1]["metrics"] == {"reward": None, "loss": None}
    assert all(isinstance(e["time"], float) for e in lines)


def test_appends_to_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    for _ in range(2):
        writer = EventWriter(path)
        writer.emit("completed", timesteps=1)
        writer.close()
    assert len(path.read_text().splitlines()) == 2


def test_unknown_event_type(tmp_path: Path) -> None:
    writer = EventWriter(tmp_path / "e.jsonl")
    with pytest.raises(ValueError, match=r"unknown event type 'finished'; expected one of \['cancelled'"):
        writer.emit("finished")


def test_without_a_path_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    writer = EventWriter(None)
    writer.emit("started", run_dir="r")
    writer.close()
    assert list(tmp_path.iterdir()) == []
