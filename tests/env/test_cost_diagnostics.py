"""Cost diagnostics at the end of an episode (turnover, cost drag, trades per day) and their TensorBoard aggregates."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from stable_baselines3.common.logger import Logger

from bot.config import BotConfig
from bot.env import make_env
from bot.env.stats import MAX_COST_DRAG
from bot.portfolio.metrics import cost_drag
from bot.training.metrics import EnvMetricsCallback
from tests.support.market_builder import flat_ohlcv, make_dataset, make_market

ConfigFactory = Callable[..., BotConfig]
COSTS = (
    "portfolio.taker_fee=0.001",
    "portfolio.slippage_bps=0",
    "portfolio.slippage_range_frac=0",
    "portfolio.funding_rate_8h=0",
    "dbe.enabled=false",
    "portfolio.min_notional=0",
)


def _run_to_end(make_cfg: ConfigFactory, actions: list[int]) -> dict[str, Any]:
    dataset = make_dataset(make_market(flat_ohlcv(200)))
    env = make_env(make_cfg(*COSTS), split="train", dataset=dataset, seed=0)
    run = env.evaluation_episodes[0]
    env.reset(options={"start_index": run.start, "end_index": run.start + len(actions) + 1})
    info: dict[str, Any] = {}
    for a in actions:
        info = env.step(a)[-1]
    return info


def test_flat_market_round_trips_are_pure_cost(make_cfg: ConfigFactory) -> None:
    # long, flat, long, flat on constant prices: 4 fills of 10,000-ish notional, no gross PnL
    info = _run_to_end(make_cfg, [2, 1, 2, 1, 1, 1, 1, 1])
    assert info["episode_steps"] == 8
    days = 8 * 300_000 / 86_400_000
    fees = info["fees_paid"]
    assert fees == pytest.approx(0.001 * info["traded_notional"])
    assert info["cost_share_equity"] == pytest.approx(fees / 10_000.0)
    assert info["cost_drag"] == MAX_COST_DRAG  # costs with no gross profit to eat
    assert info["trades_per_day"] == pytest.approx(2 / days)
    mean_equity = 10_000.0 - fees  # roughly: the equity only moves by the fees
    assert info["turnover_per_day"] == pytest.approx(info["traded_notional"] / mean_equity / days, rel=1e-3)
    assert info["avg_holding_bars"] == pytest.approx(1.0)


def test_cost_drag_is_the_share_of_gross_pnl() -> None:
    assert cost_drag(25.0, 100.0) == 0.25
    assert cost_drag(10.0, -5.0) == float("inf")
    assert cost_drag(0.0, 0.0) == 0.0


def test_cost_metrics_reach_tensorboard_from_every_env(make_cfg: ConfigFactory) -> None:
    info = _run_to_end(make_cfg, [2, 1, 1, 1])
    other = {**info, "turnover_per_day": info["turnover_per_day"] + 2.0}
    cb = EnvMetricsCallback()
    recorder = Logger(folder=None, output_formats=[])
    cb.model = SimpleNamespace(logger=recorder)  # type: ignore[assignment]
    cb.locals = {"infos": [info, other], "dones": np.array([True, True])}
    cb._on_step()
    cb._on_rollout_end()
    values = recorder.name_to_value
    assert values["costs/turnover_per_day"] == pytest.approx(info["turnover_per_day"] + 1.0)
    assert values["costs/cost_drag"] == MAX_COST_DRAG
    for tag in ("costs/cost_share_equity", "costs/trades_per_day", "costs/avg_holding_bars"):
        assert tag in values
