"""EnvMetricsCallback: episode summaries from every env, DBE mode shares over all steps, suppression counters."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from stable_baselines3.common.logger import Logger

from bot.training.metrics import EnvMetricsCallback


class _Recorder(Logger):
    def __init__(self) -> None:
        super().__init__(folder=None, output_formats=[])


def _callback(log_stats: Any = None) -> tuple[EnvMetricsCallback, _Recorder]:
    cb = EnvMetricsCallback(log_stats)
    recorder = _Recorder()
    cb.model = SimpleNamespace(logger=recorder)  # type: ignore[assignment]  # BaseCallback.logger reads model.logger
    return cb, recorder


def _step(cb: EnvMetricsCallback, infos: list[dict[str, Any]], dones: list[bool]) -> None:
    cb.locals = {"infos": infos, "dones": np.array(dones)}
    assert cb._on_step()


def test_episode_metrics_average_over_all_envs() -> None:
    cb, rec = _callback()
    end = {
        "episode_return": 0.1,
        "final_equity": 110.0,
        "sharpe": 1.0,
        "max_drawdown": 0.1,
        "trades": 4,
        "win_rate": 0.5,
        "fees_paid": 2.0,
        "exposure_mean": 0.5,
        "dbe_mode": 1,
    }
    other_end = {**end, "episode_return": 0.3, "sharpe": 3.0, "dbe_mode": 2}
    _step(cb, [{"dbe_mode": 0}, {"dbe_mode": 0}], [False, False])
    _step(cb, [end, other_end], [True, True])  # env 0 and env 1 end together: both count
    cb._on_rollout_end()
    values = rec.name_to_value
    assert values["env/episode_return"] == 0.2 and values["env/sharpe"] == 2.0
    assert values["env/fees"] == 2.0 and values["env/trades"] == 4
    assert values["dbe/mode_share_defensive"] == 0.5
    assert values["dbe/mode_share_neutral"] == 0.25 and values["dbe/mode_share_aggressive"] == 0.25
    assert values["env/episodes_total"] == 2


def test_mode_names_and_unknown_modes() -> None:
    cb, rec = _callback()
    _step(cb, [{"dbe_mode": "aggressive"}, {"dbe_mode": "sideways"}, {"dbe_mode": None}], [False] * 3)
    cb._on_rollout_end()
    assert rec.name_to_value["dbe/mode_share_aggressive"] == 1.0


def test_a_portfolio_counts_every_symbols_dbe_mode_and_its_account_mode() -> None:
    cb, rec = _callback()
    basket = {"account_mode": 1, "dbe_mode_0": 0, "dbe_mode_1": 2, "dbe_mode_2": 2}
    _step(cb, [basket, {**basket, "account_mode": 0}], [False, False])
    cb._on_rollout_end()
    values = rec.name_to_value
    assert values["dbe/account_mode_share_normal"] == 0.5 and values["dbe/account_mode_share_defensive"] == 0.5
    assert values["dbe/account_mode_share_critical"] == 0.0
    assert values["dbe/mode_share_defensive"] == pytest.approx(1 / 3)
    assert values["dbe/mode_share_aggressive"] == pytest.approx(2 / 3)


def test_info_without_summary_is_not_an_episode() -> None:
    cb, rec = _callback()
    _step(cb, [{"equity": 1.0}], [True])
    cb._on_rollout_end()
    assert "env/episode_return" not in rec.name_to_value and rec.name_to_value["env/episodes_total"] == 0


def test_suppression_counters_are_logged() -> None:
    cb, rec = _callback(lambda: {"dedup": 3, "rotation": 7})
    cb._on_rollout_end()
    assert rec.name_to_value["logging/suppressed_dedup"] == 3.0
    assert rec.name_to_value["logging/suppressed_rotation"] == 7.0
