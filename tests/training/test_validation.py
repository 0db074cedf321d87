"""Validation scores a model bar by bar, net of costs, also when the agent decides every N bars."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bot.config import load_config
from bot.training.policy import Obs
from bot.training.validation import make_validation_env, validate_policy
from tests.support.market_builder import simple_dataset


class _AlwaysLong:
    """A stand-in policy: always the long level."""

    def act(self, obs: Obs, row: int) -> Any:
        return 2

    def reset(self) -> None:
        pass


@pytest.mark.parametrize("every", [1, 4])
def test_validation_counts_every_bar_and_reports_costs(every: int) -> None:
    cfg = load_config(None, ["env.window=8", "env.episode_length=32", f"env.decision_every={every}"])
    dataset = simple_dataset(600, seed=3, gap_at=300, warmup=10)
    env = make_validation_env(cfg, dataset)
    result = validate_policy(_AlwaysLong(), env, "5m")
    bars = sum(e.n_steps for e in env.get_wrapper_attr("evaluation_episodes"))
    assert result.steps == bars  # per-bar returns, whatever the decision cadence
    assert result.fees > 0.0 and result.cost_share_equity > 0.0
    assert result.turnover_per_day > 0.0 and np.isfinite(result.sharpe)
    assert set(result.as_dict()) >= {"sharpe", "turnover_per_day", "cost_drag", "trades_per_day", "avg_holding_bars"}


def test_cadence_does_not_change_a_buy_and_hold_score() -> None:
    results = []
    for every in (1, 5):
        cfg = load_config(
            None,
            [
                "env.window=8",
                "env.episode_length=32",
                f"env.decision_every={every}",
                "dbe.enabled=false",
                "dbe.base_stop_loss=0.9",
                "dbe.base_take_profit=50",
            ],
        )
        dataset = simple_dataset(600, seed=3, gap_at=300, warmup=10)
        results.append(validate_policy(_AlwaysLong(), make_validation_env(cfg, dataset), "5m"))
    assert results[0].total_return == pytest.approx(results[1].total_return, rel=1e-9)
    assert results[0].sharpe == pytest.approx(results[1].sharpe, rel=1e-9)
