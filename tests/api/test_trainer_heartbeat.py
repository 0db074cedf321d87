"""The trainer's event writer sends heartbeats from a thread until it is closed (the API's stall detection)."""

from __future__ import annotations

import json
from pathlib import Path

from bot.training.events import EventWriter
from tests.api.helpers import wait_for


def _types(path: Path) -> list[str]:
    return [json.loads(line)["type"] for line in path.read_text().splitlines()]


def test_heartbeats_begin_with_the_first_event_and_stop_at_close(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    writer = EventWriter(path, heartbeat_s=0.05, first_heartbeat_s=600)
    writer.emit("started", run_dir="r", total_timesteps=10)
    wait_for(lambda: _types(path).count("heartbeat") >= 3)
    assert _types(path)[0] == "started"
    writer.close()
    after_close = path.read_text()
    assert all(line.endswith("}") for line in after_close.splitlines())  # whole lines: never interleaved
    assert not writer._beats or not writer._beats.is_alive()  # joined: nothing more can be written
    assert path.read_text() == after_close


def test_a_silent_start_up_gets_heartbeats_after_the_allowance(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    writer = EventWriter(path, heartbeat_s=0.05, first_heartbeat_s=0.1)
    wait_for(lambda: path.read_text().count('"heartbeat"') >= 3)  # nothing else was written
    writer.close()


def test_no_heartbeats_without_a_file_or_when_turned_off(tmp_path: Path) -> None:
    assert EventWriter(None)._beats is None
    writer = EventWriter(tmp_path / "e.jsonl", heartbeat_s=0)
    assert writer._beats is None
    writer.close()
