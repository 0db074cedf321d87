"""The trainer's event writer sends heartbeats from a thread until it is closed (the API's stall detection)."""

from __future__ import annotations

import json
from pathlib import Path

from bot.api.db import Job
from bot.api.job_kinds import JOB_KINDS
from bot.api.settings import ApiSettings
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


def test_a_short_stall_timeout_gets_faster_heartbeats_and_the_trainer_is_told(tmp_path: Path) -> None:
    default = ApiSettings(db_path=tmp_path / "db.sqlite", token=None)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "demo.yaml").write_text("seed: 0\n")
    short = ApiSettings(db_path=tmp_path / "db.sqlite", token=None, stall_timeout_s=6.0, config_dir=tmp_path / "config")
    assert default.heartbeat_s == 10.0 and short.heartbeat_s == 0.5
    job = Job(id="j", kind="train", config_name="demo", overrides=[], algo="ppo", workers=1, total_timesteps=10, seed=0,
              resume_from=None)
    argv = JOB_KINDS["train"].argv(job, short, tmp_path / "events.jsonl")
    assert argv[argv.index("--events-heartbeat-s") + 1] == "0.5"
