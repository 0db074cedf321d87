"""The trainer's events contract: one pydantic model per event type of the ``--events-jsonl`` file.

``EventWriter`` validates every event against these models before it writes the line, and the control API's job
runner parses every line it tails with the same models, so a field renamed here changes both sides of the process
boundary at once (``tests/api/test_event_contract.py`` proves they share it). Numbers are strict (``1.0`` is no
step count, ``true`` no number); metric values are finite floats or ``None`` (JSON has no NaN).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, FiniteFloat, TypeAdapter


def finite_number(value: Any) -> float | None:
    """``value`` as a float when it is a finite int or float (not a bool), else ``None`` (JSON has no NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


#: A metric value: a finite float; NaN, infinities and anything that is not a number become ``None``.
Metric = Annotated[float | None, BeforeValidator(finite_number)]


class _Event(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    time: FiniteFloat = Field(description="when the writer wrote the event, unix seconds")


class StartedEvent(_Event):
    """The run really started: its job becomes ``running``."""

    type: Literal["started"] = "started"
    run_dir: str = Field(description="the run folder")
    total_timesteps: int = Field(description="the step budget of the run")
    timesteps: int = Field(0, description="steps already done (above 0 for a resumed run)")


class ProgressEvent(_Event):
    """Steps done so far and the last value of every metric, every ``training.progress_event_every_s``."""

    type: Literal["progress"] = "progress"
    timesteps: int
    total_timesteps: int
    fps: Metric = Field(None, description="environment steps per second")
    metrics: dict[str, Metric] = Field(default_factory=dict, description="last value of each TensorBoard tag")


class CheckpointEvent(_Event):
    """A numbered checkpoint was saved."""

    type: Literal["checkpoint"] = "checkpoint"
    path: str = Field(description="the numbered checkpoint folder (run_dir/step_N)")
    timesteps: int


class HeartbeatEvent(_Event):
    """The process is alive (every few seconds, from a thread), so a silent file means a stopped process."""

    type: Literal["heartbeat"] = "heartbeat"


class CompletedEvent(_Event):
    """The run finished; ``metrics`` are its final validation (or an evaluation's headline) metrics."""

    type: Literal["completed"] = "completed"
    timesteps: int
    path: str = Field(description="the run folder (an evaluation's report folder)")
    metrics: dict[str, Metric] = Field(default_factory=dict)


class FailedEvent(_Event):
    """The run failed with ``error`` (the exception's class and message)."""

    type: Literal["failed"] = "failed"
    error: str


class CancelledEvent(_Event):
    """The run stopped on a signal, after saving a checkpoint when training had started."""

    type: Literal["cancelled"] = "cancelled"
    reason: str | None = Field(description="the signal that stopped it")
    timesteps: int
    path: str = Field(description="the run folder")


class TrialEvent(_Event):
    """A trial of a ``bot tune`` experiment started, reported a validation, ended or failed."""

    type: Literal["trial"] = "trial"
    trial_id: str
    params: dict[str, Any] = Field(description="the trial's sampled config keys (JSON values)")
    status: Literal["running", "terminated", "stopped", "error"] = Field(
        description="terminated: ended (its budget spent or stopped by the scheduler); stopped: the experiment was"
                    " stopped before it ended (resumable)"
    )
    step: int = Field(description="env steps at its last report (0 before one)")
    metric: Metric = Field(None, description="the optimised metric at its last report")
    best: Metric = Field(None, description="its best value of the optimised metric so far")
    error: str | None = Field(None, description="the first line of a failed trial's error")


TrainerEvent = Annotated[
    StartedEvent | ProgressEvent | CheckpointEvent | HeartbeatEvent | CompletedEvent | FailedEvent | CancelledEvent
    | TrialEvent,
    Field(discriminator="type"),
]
#: The events that end a run.
TerminalEvent = CompletedEvent | FailedEvent | CancelledEvent
#: The ``type`` of each model of :data:`TrainerEvent` (the writer refuses any other).
EVENT_TYPES = frozenset(model.model_fields["type"].default for model in get_args(get_args(TrainerEvent)[0]))

_ADAPTER: TypeAdapter[TrainerEvent] = TypeAdapter(TrainerEvent)


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """A line whose ``type`` this version does not know (a newer writer): the reader ignores it, but it still shows
    that the writer is alive."""

    type: str


def validate_event(record: dict[str, Any]) -> TrainerEvent:
    """The event ``record`` describes.

    :raises pydantic.ValidationError: (a ``ValueError``) naming each field that is missing, extra or of a wrong type.
    """
    return _ADAPTER.validate_python(record)


def parse_event(record: dict[str, Any]) -> TrainerEvent | UnknownEvent:
    """Parse one decoded line of an events file: an event, or :class:`UnknownEvent` for a type not in the contract.

    :raises pydantic.ValidationError: for a known type whose fields break the contract.
    """
    kind = record.get("type")
    if kind not in EVENT_TYPES:
        return UnknownEvent(str(kind))
    return validate_event(record)
