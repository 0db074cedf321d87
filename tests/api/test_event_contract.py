"""The trainer's events contract is one schema on both sides of the process boundary: what ``EventWriter`` writes,
the API's ``EventTailer`` reads back as the same typed events, and a field renamed in the schema changes both."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import Field, TypeAdapter

from bot.api.tailer import EventTailer
from bot.training import event_schema
from bot.training.event_schema import (
    EVENT_TYPES,
    CancelledEvent,
    CheckpointEvent,
    CompletedEvent,
    FailedEvent,
    HeartbeatEvent,
    ProgressEvent,
    StartedEvent,
    TrialEvent,
)
from bot.training.events import EventWriter

#: One event of every type, with the fields the trainer and the evaluation job send.
SAMPLES: dict[str, dict[str, Any]] = {
    "started": {"run_dir": "/ck/run", "timesteps": 0, "total_timesteps": 1000},
    "progress": {"timesteps": 500, "total_timesteps": 1000, "fps": 812.5,
                 "metrics": {"train/loss": 0.25, "env/equity": float("nan"), "reward": None}},
    "checkpoint": {"path": "/ck/run/step_500", "timesteps": 500},
    "heartbeat": {},
    "completed": {"timesteps": 1000, "path": "/ck/run", "metrics": {"sharpe": 1.5, "trades": 12}},
    "failed": {"error": "ConfigError: data.path=/nope.csv does not exist"},
    "cancelled": {"reason": "SIGTERM", "timesteps": 500, "path": "/ck/run"},
    "trial": {"trial_id": "a1b2", "params": {"training.ppo.learning_rate": 3e-4, "training.device": "cpu"},
              "status": "running", "step": 64, "metric": float("nan"), "best": 0.5, "error": None},
}


def test_every_event_the_writer_writes_is_read_back_as_the_same_typed_event(tmp_path: Path) -> None:
    assert set(SAMPLES) == EVENT_TYPES
    path = tmp_path / "events.jsonl"
    writer = EventWriter(path, heartbeat_s=0)
    for event_type, fields in SAMPLES.items():
        writer.emit(event_type, **fields)
    writer.close()
    tail = EventTailer(path)
    events = tail.read()
    assert tail.n_malformed == 0
    assert [type(e) for e in events] == [StartedEvent, ProgressEvent, CheckpointEvent, HeartbeatEvent,
                                         CompletedEvent, FailedEvent, CancelledEvent, TrialEvent]
    progress, completed = events[1], events[4]
    assert isinstance(progress, ProgressEvent) and progress.metrics == {"train/loss": 0.25, "env/equity": None,
                                                                        "reward": None}
    assert isinstance(completed, CompletedEvent) and completed.metrics == {"sharpe": 1.5, "trades": 12.0}
    trial = events[7]
    assert isinstance(trial, TrialEvent) and (trial.metric, trial.best, trial.step) == (None, 0.5, 64)


class _RenamedProgressEvent(event_schema._Event):
    """``ProgressEvent`` as it would be with ``timesteps`` renamed ``steps`` in bot/training/event_schema.py."""

    type: Literal["progress"] = "progress"
    steps: int
    total_timesteps: int


_RENAMED = TypeAdapter(
    Annotated[
        StartedEvent | _RenamedProgressEvent | CheckpointEvent | HeartbeatEvent | CompletedEvent | FailedEvent
        | CancelledEvent,
        Field(discriminator="type"),
    ]
)


def test_a_field_renamed_in_the_schema_changes_the_writer_and_the_reader(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    old_file = tmp_path / "old.jsonl"
    writer = EventWriter(old_file, heartbeat_s=0)
    writer.emit("progress", timesteps=5, total_timesteps=10)
    writer.close()

    monkeypatch.setattr(event_schema, "_ADAPTER", _RENAMED)

    writer = EventWriter(tmp_path / "new.jsonl", heartbeat_s=0)
    with pytest.raises(ValueError, match=r"steps\n +Field required"):
        writer.emit("progress", timesteps=5, total_timesteps=10)  # the writer follows the renamed schema ...
    writer.emit("progress", steps=5, total_timesteps=10)
    writer.close()
    reader = EventTailer(old_file)
    assert reader.read() == [] and reader.n_malformed == 1  # ... and so does the API's reader
    assert [e.type for e in EventTailer(tmp_path / "new.jsonl").read()] == ["progress"]
