"""JSON-lines events: one flushed line per event, JSON-safe values, unknown types and contract breaks rejected."""

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
    writer.emit("progress", timesteps=np.int64(5), total_timesteps=10, fps=np.float32(2.5),
                metrics={"reward": None, "loss": float("nan")})
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
        writer.emit("completed", timesteps=1, path="r")
        writer.close()
    assert len(path.read_text().splitlines()) == 2


def test_unknown_event_type(tmp_path: Path) -> None:
    writer = EventWriter(tmp_path / "e.jsonl")
    with pytest.raises(ValueError, match=r"unknown event type 'finished'; expected one of \['cancelled'"):
        writer.emit("finished")


@pytest.mark.parametrize(
    ("event_type", "fields", "problem"),
    [
        ("started", {"run_dir": "r"}, r"total_timesteps\n +Field required"),
        ("progress", {"timesteps": 1.0, "total_timesteps": 2}, r"timesteps\n +Input should be a valid integer"),
        ("checkpoint", {"path": "r/step_1", "timesteps": 1, "step": 1}, r"step\n +Extra inputs are not permitted"),
        ("failed", {"error": None}, r"error\n +Input should be a valid string"),
    ],
)
def test_fields_that_break_the_contract_are_refused(tmp_path: Path, event_type: str, fields: dict[str, object],
                                                    problem: str) -> None:
    path = tmp_path / "e.jsonl"
    writer = EventWriter(path, heartbeat_s=0)
    with pytest.raises(ValueError, match=rf"'{event_type}' event breaks the contract(.|\n)*{problem}"):
        writer.emit(event_type, **fields)
    writer.close()
    assert path.read_text() == ""  # nothing half-valid reaches the reader


def test_without_a_path_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    writer = EventWriter(None)
    writer.emit("started", run_dir="r", total_timesteps=10)
    writer.close()
    assert list(tmp_path.iterdir()) == []
