"""The experiment's events for the control API (``bot tune --events-jsonl PATH``): one ``trial`` event each time a
trial starts, reports a validation, ends or fails, and a ``progress`` event with the steps of all trials. The same
rows feed the live table of the terminal (:mod:`bot.tune.live_table`).

The events are written by the driver from a Ray Tune callback, so they follow Tune's own view of the trials
(a PBT exploit or a retry shows as the same trial going on). The event types are those of
:mod:`bot.training.event_schema`, which the API's job runner reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray.tune import Callback

from bot.training import EventWriter
from bot.tune.trial import RANK_KEY


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


class TrialEvents(Callback):
    """Writes ``trial`` and ``progress`` events as Tune runs the experiment.

    :param events: the experiment's event writer.
    :param metric: the optimised metric.
    :param mode: ``max`` or ``min``.
    :param total_timesteps: env steps of all trials together (the job's budget).
    :param on_row: also called with each trial event's fields (the terminal's live table), or None.
    """

    def __init__(self, events: EventWriter, metric: str, mode: str, total_timesteps: int,
                 on_row: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.events = events
        self.on_row = on_row
        self.metric = metric
        self.mode = mode
        self.total_timesteps = total_timesteps
        self.steps: dict[str, int] = {}
        self.best: dict[str, float] = {}
        self.status: dict[str, str] = {}
        self.last: dict[str, float | None] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its callbacks with the experiment's state (for --resume); the open events file and the
        # terminal stay here
        return {**self.__dict__, "events": None, "on_row": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, events=EventWriter(None))

    def adopt(self, saved: TrialEvents) -> None:
        """Go on from the counts of the experiment's saved callback (``--resume``): steps, best values and status of
        every trial so far."""
        self.steps, self.best, self.status, self.last = saved.steps, saved.best, saved.status, saved.last

    def _emit(self, trial: Any, status: str, result: dict[str, Any] | None = None, error: str | None = None) -> None:
        self._emit_row(trial.trial_id, trial.config or {}, status, result, error)

    def _emit_row(self, trial_id: str, config: dict[str, Any], status: str, result: dict[str, Any] | None,
                  error: str | None) -> None:
        self.status[trial_id] = status
        params = {k: v for k, v in config.get("params", config).items() if k != RANK_KEY}
        # an end without a result (complete, error, stop) keeps the last reported value
        value = _finite(result.get(self.metric)) if result is not None else self.last.get(trial_id)
        self.last[trial_id] = value
        if value is not None:
            old = self.best.get(trial_id)
            better = old is None or (value > old if self.mode == "max" else value < old)
            self.best[trial_id] = value if better else old  # type: ignore[assignment]
        row = {"trial_id": trial_id, "params": params, "status": status, "step": self.steps.get(trial_id, 0),
               "metric": value, "best": self.best.get(trial_id), "error": error}
        self.events.emit("trial", **row)
        if self.on_row is not None:
            self.on_row(row)

    def settle(self, results: Any) -> None:
        """After ``fit``: the end state of every trial whose last event did not give it (Tune calls no callback for
        the trials it stops on SIGINT: they are ``stopped``, and resumable).

        :param results: the ``ResultGrid`` of ``Tuner.fit()``.
        """
        for result in results:
            trial_id = Path(result.path).name
            done = (result.metrics or {}).get("done", False)
            status = "error" if result.error is not None else "terminated" if done else "stopped"
            if self.status.get(trial_id) != status:
                error = str(result.error).strip().splitlines()[-1] if result.error is not None else None
                self._emit_row(trial_id, result.config or {}, status, None, error)

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        """A trial started (or started again after a failure)."""
        self._emit(trial, "running")

    def on_trial_result(self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any],
                        **info: Any) -> None:
        """A trial reported a validation: its row, then the steps of all trials."""
        steps = _finite(result.get("timesteps"))
        if steps is not None:
            self.steps[trial.trial_id] = int(steps)
        self._emit(trial, "running", result)
        done = sum(self.steps.values())
        best = list(self.best.values())
        metrics = {f"best_{self.metric}": (max(best) if self.mode == "max" else min(best)) if best else None}
        self.events.emit("progress", timesteps=done, total_timesteps=max(self.total_timesteps, done), fps=None,
                         metrics=metrics)

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        """A trial ended: its budget spent, or stopped by the scheduler or by a stop of the experiment."""
        self._emit(trial, "terminated")

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        """A trial failed for good (its retries spent)."""
        lines = str(trial.get_error() or "the trial failed").strip().splitlines()
        self._emit(trial, "error", error=lines[-1] if lines else None)
