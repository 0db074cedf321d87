"""Validation callback: best/ by validation Sharpe, early stop after `patience` stale validations; step schedule."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from stable_baselines3.common.logger import Logger

from bot.training.callbacks import ValidationCallback
from bot.training.validation import ValidationResult


class _FakeWriter:
    def __init__(self) -> None:
        self.best: list[float] = []

    def save_best(self, model: Any, vecnormalize: Any, metrics: dict[str, float]) -> None:
        self.best.append(metrics["sharpe"])


def _result(sharpe: float) -> ValidationResult:
    return ValidationResult(sharpe, 0.0, 0.0, 0, 0.0, 10)


def _validator(sharpes: list[float], patience: int, best: float | None = None) -> tuple[ValidationCallback, Any]:
    values = iter(sharpes)
    writer = _FakeWriter()
    cb = ValidationCallback(100, lambda: _result(next(values)), writer, None, patience, best)  # type: ignore[arg-type]
    cb.model = SimpleNamespace(logger=Logger(None, []), num_timesteps=0)  # type: ignore[assignment]
    return cb, writer


def _advance(cb: ValidationCallback, steps: int) -> bool:
    cb.model.num_timesteps = cb.num_timesteps = steps
    return cb._on_step()


def test_fires_every_n_steps_and_keeps_the_best() -> None:
    cb, writer = _validator([1.0, 3.0, 2.0], patience=0)
    cb._on_training_start()
    assert _advance(cb, 40) and writer.best == []
    assert _advance(cb, 104) and writer.best == [1.0]
    assert _advance(cb, 160) and writer.best == [1.0]  # next validation at 200, not 204
    assert _advance(cb, 200) and writer.best == [1.0, 3.0]
    assert _advance(cb, 320) and writer.best == [1.0, 3.0]  # 2.0 is no improvement
    assert cb.best_sharpe == 3.0 and cb.last is not None and cb.last.sharpe == 2.0


def test_early_stop_after_patience_validations_without_improvement() -> None:
    cb, writer = _validator([5.0, 4.0, 4.5], patience=2, best=6.0)  # resumed run: best so far 6.0
    cb._on_training_start()
    assert _advance(cb, 100)
    assert not _advance(cb, 200)
    assert cb.early_stopped and writer.best == []


def test_zero_frequency_never_fires() -> None:
    cb, writer = _validator([], patience=1)
    cb.every = 0
    cb._on_training_start()
    assert _advance(cb, 10_000) and writer.best == []
