"""Progress reporting during ``learn``: a rich progress bar (TTY) or periodic log lines, ``progress`` events, and the
stop flag that SIGINT/SIGTERM set (the callback then ends ``learn`` cleanly so the trainer can save a checkpoint).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import KVWriter
from stable_baselines3.common.utils import safe_mean

from bot.training.events import EventWriter

logger = logging.getLogger(__name__)


class StopFlag:
    """Set by a signal handler; read by :class:`ProgressCallback` at every step."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def set(self, reason: str) -> None:
        """Ask training to stop at the next step, remembering why (e.g. ``"SIGTERM"``)."""
        self.reason = self.reason or reason

    @property
    def is_set(self) -> bool:
        """Whether a stop was requested."""
        return self.reason is not None


class LastLoggedValues(KVWriter):
    """An SB3 logger output that keeps the last value of every numeric tag TensorBoard was given.

    ``progress`` events carry them, so the dashboard's metric tabs mirror the TensorBoard tags (losses, ``env/*``,
    ``costs/*``, ``dbe/*``, ``validation/*``, ``logging/*``) without a second list of names. ``time/*`` is left out.
    """

    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0) -> None:
        for key, value in key_values.items():
            excluded = key_excluded.get(key) or ()
            if key.startswith("time/") or "tensorboard" in excluded or isinstance(value, bool):
                continue
            if isinstance(value, int | float | np.integer | np.floating):
                self.values[key] = float(value)

    def close(self) -> None:
        """Nothing to release."""


class ProgressCallback(BaseCallback):
    """Reports steps/s and ETA, emits ``progress`` events, and stops ``learn`` when the stop flag is set.

    :param total_timesteps: the run's total (including steps done before a resume).
    :param events: where ``progress`` events go.
    :param stop: the stop flag.
    :param show_bar: a rich progress bar; else a log line every ``log_every_s``.
    :param event_every_s: seconds between ``progress`` events.
    :param log_every_s: seconds between log lines without a bar.
    """

    def __init__(
        self,
        total_timesteps: int,
        events: EventWriter,
        stop: StopFlag,
        show_bar: bool,
        event_every_s: float = 2.0,
        log_every_s: float = 15.0,
    ) -> None:
        super().__init__()
        self.total_timesteps = total_timesteps
        self.events = events
        self.stop = stop
        self.show_bar = show_bar
        self.event_every_s = event_every_s
        self.log_every_s = log_every_s
        self.last_loss: float | None = None
        self.last_equity: float | None = None
        self._bar: Progress | None = None
        self._task: Any = None
        self._t0 = self._last_event = self._last_log = 0.0
        self._steps0 = 0
        self.logged = LastLoggedValues()

    def _on_training_start(self) -> None:
        if self.logged not in self.model.logger.output_formats:
            self.model.logger.output_formats.append(self.logged)
        self._t0 = self._last_event = self._last_log = time.monotonic()
        self._steps0 = self.num_timesteps
        if self.show_bar:
            self._bar = Progress(
                TextColumn("[bold]training"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[fps]:>7.0f} steps/s"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
            )
            self._bar.start()
            self._task = self._bar.add_task("train", total=self.total_timesteps, completed=self.num_timesteps, fps=0.0)

    def fps(self) -> float:
        """Env steps per second since this ``learn`` started."""
        elapsed = time.monotonic() - self._t0
        return (self.num_timesteps - self._steps0) / elapsed if elapsed > 0 else 0.0

    def metrics(self) -> dict[str, float | None]:
        """Latest mean episode reward (VecMonitor), training loss, mean equity over all envs, and the last value of
        every TensorBoard tag (:class:`LastLoggedValues`)."""
        buffer = self.model.ep_info_buffer
        reward = float(safe_mean([ep["r"] for ep in buffer])) if buffer else None
        return {"reward": reward, "loss": self.last_loss, "equity": self.last_equity, **self.logged.values}

    def _on_step(self) -> bool:
        loss = self.logger.name_to_value.get("train/loss")
        if loss is not None:
            self.last_loss = float(loss)
        now = time.monotonic()
        if now - self._last_event >= self.event_every_s:
            equities = [info["equity"] for info in self.locals.get("infos", ()) if "equity" in info]
            self.last_equity = float(sum(equities) / len(equities)) if equities else None
        if self._bar is not None:
            self._bar.update(self._task, completed=self.num_timesteps, fps=self.fps())
        elif now - self._last_log >= self.log_every_s:
            self._last_log = now
            logger.info("Training: %d/%d steps, %.0f steps/s", self.num_timesteps, self.total_timesteps, self.fps())
        if now - self._last_event >= self.event_every_s:
            self._last_event = now
            self.emit_progress()
        if self.stop.is_set:
            logger.warning("Stopping training on %s at step %d", self.stop.reason, self.num_timesteps)
            return False
        return True

    def emit_progress(self) -> None:
        """Emit one ``progress`` event now."""
        self.events.emit(
            "progress",
            timesteps=self.num_timesteps,
            total_timesteps=self.total_timesteps,
            fps=self.fps(),
            metrics=self.metrics(),
        )

    def _on_training_end(self) -> None:
        self.close()

    def close(self) -> None:
        """Stop the progress bar (also after a failed ``learn``, which skips ``_on_training_end``)."""
        model = getattr(self, "model", None)  # set by learn(); a resume past its target never calls it
        if model is not None and self.logged in model.logger.output_formats:
            model.logger.output_formats.remove(self.logged)
        if self._bar is not None:
            self._bar.update(self._task, completed=self.num_timesteps, fps=self.fps())
            self._bar.stop()
            self._bar = None
