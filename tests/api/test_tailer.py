"""Tailing files another process appends to: only complete lines, the rest on the final read."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from bot.api.tailer import EventTailer, LineTailer
from bot.training.event_schema import ProgressEvent, UnknownEvent


def test_lines_are_returned_once_complete(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    tail = LineTailer(path)
    assert tail.read() == []  # the file does not exist yet
    with path.open("ab") as f:
        f.write(b"one\ntw")
        f.flush()
        assert tail.read() == ["one"]
        f.write(b"o\nthr")
        f.flush()
        assert tail.read() == ["two"]
    assert tail.read(final=True) == ["thr"]
    assert tail.read(final=True) == []


def test_start_at_end_skips_existing_content(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    path.write_text("old\n")
    tail = LineTailer(path, start_at_end=True)
    with path.open("a") as f:
        f.write("new\n")
    assert tail.read() == ["new"]


def _progress(steps: int) -> dict[str, object]:
    return {"type": "progress", "time": 1.0, "timesteps": steps, "total_timesteps": 10}


def test_malformed_and_typeless_events_are_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "events.jsonl"
    contract_breaks = [{"type": "progress", "timesteps": 1}, {**_progress(1), "timesteps": "1"},
                       {**_progress(1), "extra": 1}]
    lines = ["{bad", json.dumps([1]), *map(json.dumps, contract_breaks), json.dumps(_progress(1)),
             json.dumps({"type": "mystery", "time": 1.0}), ""]
    path.write_text("\n".join(lines))
    tail = EventTailer(path)
    with caplog.at_level(logging.WARNING):
        assert tail.read() == [ProgressEvent(time=1.0, timesteps=1, total_timesteps=10), UnknownEvent("mystery")]
    assert tail.n_malformed == 5
    assert "malformed" in caplog.text and "total_timesteps" in caplog.text


def test_offsets_let_a_new_reader_resume_after_the_last_applied_event(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [json.dumps(_progress(i)) for i in range(3)]
    path.write_text("\n".join(lines) + "\n" + '{"type": "progr')
    first = EventTailer(path).read_positioned()
    assert [_steps(e) for e, _ in first] == [0, 1, 2]
    resumed_at = first[1][1]  # applied the first two events, then the server died
    with path.open("a") as f:
        f.write('ess", "time": 1.0, "timesteps": 3, "total_timesteps": 10}\n')
    again = EventTailer(path, offset=resumed_at).read_positioned()
    assert [_steps(e) for e, _ in again] == [2, 3]
    assert again[-1][1] == path.stat().st_size


def _steps(event: object) -> int:
    assert isinstance(event, ProgressEvent)
    return event.timesteps
