"""The trial events `bot tune --events-jsonl` writes (a Tune callback), checked against the event contract."""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.training.event_schema import TrialEvent, parse_event
from bot.training.events import EventWriter
from bot.tune.events import TrialEvents


@dataclass
class _Trial:
    trial_id: str
    config: dict[str, Any] = field(default_factory=lambda: {"training.ppo.learning_rate": 3e-4})

    def get_error(self) -> str:
        return "Traceback (most recent call last):\nTrainingError: no CUDA device is available"


@dataclass
class _Result:
    path: str
    metrics: dict[str, Any]
    error: Exception | None = None
    config: dict[str, Any] = field(default_factory=dict)


def _events(path: Path) -> list[Any]:
    return [parse_event(json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines()]


def test_rows_track_each_trials_best_and_the_end_of_every_trial(tmp_path: Path) -> None:
    writer = EventWriter(tmp_path / "events.jsonl", heartbeat_s=0)
    callback = TrialEvents(writer, "max_drawdown", "min", total_timesteps=256)
    a, b = _Trial("a"), _Trial("b", {"params": {"seed": 3, "tune.rank": 1}})
    callback.on_trial_start(0, [], a)
    callback.on_trial_result(1, [], a, {"max_drawdown": 0.2, "timesteps": 64})
    callback.on_trial_result(2, [], a, {"max_drawdown": 0.3, "timesteps": 128})
    callback.on_trial_result(3, [], b, {"max_drawdown": float("nan"), "timesteps": 64})
    callback.on_trial_error(4, [], b)
    callback.settle([_Result(str(tmp_path / "a"), {"done": False}), _Result(str(tmp_path / "b"), {}, RuntimeError())])
    writer.close()
    events = _events(tmp_path / "events.jsonl")
    trials = [e for e in events if isinstance(e, TrialEvent)]
    assert [(t.trial_id, t.status, t.step, t.metric, t.best) for t in trials] == [
        ("a", "running", 0, None, None),
        ("a", "running", 64, 0.2, 0.2),
        ("a", "running", 128, 0.3, 0.2),  # min mode: the best stays the lower drawdown
        ("b", "running", 64, None, None),  # NaN is no metric
        ("b", "error", 64, None, None),
        ("a", "stopped", 128, 0.3, 0.2),  # stopped with the experiment, at its last value; b had ended already
    ]
    assert trials[3].params == {"seed": 3}  # a seed-retraining trial's rank label is no config key
    assert trials[4].error == "TrainingError: no CUDA device is available"
    progress = [e for e in events if e.type == "progress"]
    assert [(p.timesteps, p.total_timesteps, p.metrics) for p in progress][-1] == (192, 256, {"best_max_drawdown": 0.2})


def test_the_callback_pickles_without_its_open_file(tmp_path: Path) -> None:
    writer = EventWriter(tmp_path / "events.jsonl", heartbeat_s=0)
    copy = pickle.loads(pickle.dumps(TrialEvents(writer, "sharpe", "max", 1)))
    writer.close()
    assert copy.events.path is None and copy.metric == "sharpe"
