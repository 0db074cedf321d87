"""Ensemble voting: majority for discrete actions (ties to the level nearest the mean target), mean for continuous."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.cli import main
from bot.evaluation.ensemble import EnsemblePolicy
from bot.training.policy import Obs

TARGETS = (-1.0, 0.0, 1.0)


class _Fixed:
    """A member that always answers ``action``."""

    def __init__(self, action: Any) -> None:
        self.action = action

    def act(self, obs: Obs, row: int) -> Any:
        return self.action


def _vote(*actions: Any, targets: tuple[float, ...] | None = TARGETS) -> Any:
    return EnsemblePolicy([_Fixed(a) for a in actions], targets).act({}, 0)


def test_the_majority_wins() -> None:
    assert _vote(2, 2, 0) == 2
    assert _vote(np.int64(1), np.array(1), 0) == 1  # SB3 returns numpy scalars and 0-d arrays


def test_a_tie_goes_to_the_level_nearest_the_mean_target() -> None:
    # 0 (short) and 1 (flat) have two votes each; the mean target (-1 - 1 + 0 + 0 + 1) / 5 = -0.2 is nearest flat
    assert _vote(0, 0, 1, 1, 2) == 1
    # five levels: -1 and +0.5 tie; the mean target 0.0 is nearer +0.5
    assert _vote(0, 0, 3, 3, 4, targets=(-1.0, -0.5, 0.0, 0.5, 1.0)) == 3


def test_continuous_actions_are_averaged() -> None:
    action = _vote(np.array([0.5], np.float32), np.array([-0.1], np.float32), targets=None)
    assert action == pytest.approx(np.array([0.2]))


def test_an_empty_ensemble_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one member"):
        EnsemblePolicy([], TARGETS)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--ensemble", "runs/a"], "--ensemble needs at least two runs"),
        (["--ensemble", "runs/a", "runs/b", "--cv-folds", "2"], "--cv-folds retrains one run per fold"),
    ],
)
def test_bad_ensemble_flags_are_refused(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", *argv]) == 2
    assert message in capsys.readouterr().err


def test_a_missing_member_run_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--ensemble", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    assert f"{tmp_path / 'a'} is not a run folder" in capsys.readouterr().err
