"""Shared set-up of the Ray Tune tests: a tiny synthetic training per trial, and `bot tune` argument lists."""

from __future__ import annotations

from pathlib import Path

from tests.support.training import set_args, tiny_synthetic

#: Env steps of one validation interval (one Tune report) and of a whole trial, in the tests.
INTERVAL = 64
BUDGET = 256


def trial_overrides(tmp_path: Path, budget: int = BUDGET, *extra: str) -> list[str]:
    """A trial of ``budget`` steps validated (and reported) every ``INTERVAL`` steps, one process per trial."""
    return tiny_synthetic(
        tmp_path / "unused_checkpoints",  # trials write their run folders under the experiment, not here
        f"training.total_timesteps={budget}",
        f"training.eval_freq={INTERVAL}",
        *extra,
    )


def write_space(tmp_path: Path, text: str) -> Path:
    """A search-space file in ``tmp_path``."""
    path = tmp_path / "space.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def tune_argv(space: Path, storage: Path, name: str, overrides: list[str], *flags: str) -> list[str]:
    """``bot tune`` arguments for an experiment ``name`` under ``storage``."""
    return ["tune", "--space", str(space), "--storage", str(storage), "--name", name, *flags, *set_args(overrides)]
