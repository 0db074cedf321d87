"""Periodic checkpoints and validation during ``learn`` (SB3 callbacks), counted in env steps over all envs."""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecNormalize

from bot.training.checkpoints import CheckpointWriter
from bot.training.events import EventWriter
from bot.training.validation import ValidationResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """One validation during ``train``, as an ``on_validation`` hook receives it.

    :param result: the validation metrics (net of costs).
    :param timesteps: env steps done when the model was validated.
    :param final: whether this is the validation after training (the run folder's checkpoint has its end status).
    """

    result: ValidationResult
    timesteps: int
    final: bool


#: A caller's hook run after every validation, once the run folder's latest checkpoint holds the validated model
#: (e.g. a Ray Tune trial reporting its metric with that checkpoint). What it raises ends training.
OnValidation = Callable[[ValidationReport], None]


class _EveryNSteps(BaseCallback):
    """Calls ``_fire`` each time ``num_timesteps`` passes a multiple of ``every`` (0 = never)."""

    def __init__(self, every: int) -> None:
        super().__init__()
        self.every = every
        self._next = 0

    def _on_training_start(self) -> None:
        if self.every > 0:
            self._next = (self.num_timesteps // self.every + 1) * self.every

    def _on_step(self) -> bool:
        if self.every > 0 and self.num_timesteps >= self._next:
            self._next = (self.num_timesteps // self.every + 1) * self.every
            return self._fire()
        return True

    @abstractmethod
    def _fire(self) -> bool:
        """Do the periodic work; False stops ``learn``."""


class PeriodicCheckpointCallback(_EveryNSteps):
    """Every ``every`` steps: a numbered ``step_<N>/`` checkpoint and the top-level latest one.

    :param writer: the run's checkpoint writer.
    :param vecnormalize: the VecNormalize wrapper to save with the model, or None.
    :param events: where ``checkpoint`` events go.
    """

    def __init__(
        self, every: int, writer: CheckpointWriter, vecnormalize: VecNormalize | None, events: EventWriter
    ) -> None:
        super().__init__(every)
        self.writer = writer
        self.vecnormalize = vecnormalize
        self.events = events

    def _fire(self) -> bool:
        path = self.writer.save_step(self.model, self.vecnormalize)
        self.writer.save_latest(self.model, self.vecnormalize, status="running")
        logger.info("Saved checkpoint %s", path)
        self.events.emit("checkpoint", path=str(path), timesteps=self.num_timesteps)
        return True


class ValidationCallback(_EveryNSteps):
    """Every ``every`` steps: validate, log ``validation/*``, keep ``best/`` by validation Sharpe, maybe stop early.

    :param validate: runs the current model on the validation split.
    :param writer: the run's checkpoint writer (for ``best/``).
    :param vecnormalize: the VecNormalize wrapper to save with ``best/``, or None.
    :param patience: stop after this many validations without a new best (0 = never).
    :param best_sharpe: the best validation Sharpe so far (from a resumed run), or None.
    :param on_validation: called after each periodic validation, once the latest checkpoint (status ``running``)
        holds the validated model; None writes no extra checkpoint. The trainer calls :meth:`report_final`.
    """

    def __init__(
        self,
        every: int,
        validate: Callable[[], ValidationResult],
        writer: CheckpointWriter,
        vecnormalize: VecNormalize | None,
        patience: int,
        best_sharpe: float | None = None,
        on_validation: OnValidation | None = None,
    ) -> None:
        super().__init__(every)
        self.validate = validate
        self.writer = writer
        self.vecnormalize = vecnormalize
        self.patience = patience
        self.best_sharpe = best_sharpe
        self.last: ValidationResult | None = None
        self.stale = 0
        self.early_stopped = False
        self.on_validation = on_validation

    def run_now(self) -> ValidationResult:
        """Validate now, record the metrics and update ``best/``; also used once after training."""
        result = self.validate()
        self.last = result
        for key, value in result.as_dict().items():
            self.logger.record(f"validation/{key}", value)
        if self.best_sharpe is None or result.sharpe > self.best_sharpe:
            self.best_sharpe = result.sharpe
            self.stale = 0
            self.writer.save_best(self.model, self.vecnormalize, result.as_dict())
            logger.info("New best validation Sharpe %.3f at step %d", result.sharpe, self.model.num_timesteps)
        else:
            self.stale += 1
        self.logger.record("validation/best_sharpe", self.best_sharpe)
        return result

    def report_final(self, result: ValidationResult) -> None:
        """Pass the validation after training to the hook (the caller has saved the final checkpoint)."""
        if self.on_validation is not None:
            self.on_validation(ValidationReport(result, self.model.num_timesteps, final=True))

    def _fire(self) -> bool:
        result = self.run_now()
        if self.on_validation is not None:
            self.writer.save_latest(self.model, self.vecnormalize, "running", {"validation": result.as_dict()})
            self.on_validation(ValidationReport(result, self.num_timesteps, final=False))
        if self.patience and self.stale >= self.patience:
            logger.warning(
                "Early stop: validation Sharpe has not improved for %d validations (best %.3f)",
                self.stale,
                self.best_sharpe,
            )
            self.early_stopped = True
            return False
        return True
