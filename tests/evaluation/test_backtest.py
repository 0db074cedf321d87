"""The agent backtest: deterministic, chained across gaps, the same with and without the fast path, schema checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv

from bot.config import load_config
from bot.data import FeatureScaler, build_dataset
from bot.env import make_env
from bot.errors import SchemaMismatchError
from bot.evaluation.backtest import chain_segments, evaluation_config, run_agent
from bot.evaluation.runner import check_spaces, evaluate_model
from bot.training.algorithms import build_model
from bot.training.checkpoints import SCALER, load_checkpoint
from bot.training.policy import PredictPolicy
from bot.training.rollout import Costs, Segment, TradeRecord, run_episode
from tests.support.market_builder import simple_dataset


def test_chain_segments_by_hand() -> None:
    trade = TradeRecord(0, 1, "long", 1.0, 1.0, -10.0, "signal")
    first_costs = Costs(fees=0.5, slippage=0.5, funding=1.0, traded_notional=50, limit_orders=2, limit_fills=1)
    first = Segment(np.array([0, 1]), np.array([100.0, 110.0]), np.zeros(2), np.ones(2), costs=first_costs)
    second_costs = Costs(fees=1.5, slippage=0.5, funding=-1.0, traded_notional=100.0, limit_orders=2, limit_fills=2)
    second = Segment(
        np.array([5, 6, 7]), np.array([100.0, 90.0, 99.0]), np.zeros(3), np.ones(3), [trade], [2], second_costs
    )
    result = chain_segments([first, second], "x", "1d")
    np.testing.assert_allclose(result.equity, [100.0, 110.0, 99.0, 108.9])
    np.testing.assert_array_equal(result.time_ms, [0, 1, 6, 7])
    assert result.trades[0].pnl == pytest.approx(-11.0)  # the second account is 1.1x the first
    m = result.metrics
    assert m.fees_paid == pytest.approx(1.0 + 2.2)
    assert (m.fees, m.slippage, m.funding) == pytest.approx((0.5 + 1.65, 0.5 + 0.55, 1.0 - 1.1))
    assert m.gross_pnl == pytest.approx(8.9 + 2.15 + 1.05 - 0.1)
    assert m.gross_pnl - m.fees - m.slippage - m.funding == pytest.approx(m.final_equity - 100.0)
    assert m.turnover == pytest.approx((50 + 110) / np.mean([100.0, 110.0, 99.0, 108.9]))
    assert m.fill_rate == 0.75  # counts are not scaled
    assert result.metrics.total_return == pytest.approx(0.089)
    with pytest.raises(ValueError, match="no gap-free run"):
        chain_segments([], "x", "1d")


def test_chain_stops_at_bankruptcy() -> None:
    broke = Segment(np.array([0, 1]), np.array([100.0, 0.0]), np.zeros(2), np.ones(2), bankrupt=True)
    later = Segment(np.array([5, 6]), np.array([100.0, 120.0]), np.zeros(2), np.ones(2))
    result = chain_segments([broke, later], "x", "1d")
    assert result.metrics.total_return == -1.0 and result.metrics.n_bars == 2


def test_evaluation_config() -> None:
    cfg = load_config(None, ["env.random_start=true", "env.max_drawdown=0.3"])
    out = evaluation_config(cfg, zero_costs=True)
    assert (out.env.random_start, out.env.max_drawdown) == (False, 1.0)
    assert (out.portfolio.taker_fee, out.portfolio.slippage_bps, out.portfolio.slippage_range_frac) == (0, 0, 0)
    assert cfg.env.max_drawdown == 0.3 and cfg.portfolio.taker_fee > 0  # the input is not changed


def test_agent_runs_every_gap_free_run_in_order_and_chains_them() -> None:
    dataset = simple_dataset(
        n=700,
        seed=8,
        gap_at=550,
        warmup=5,
        splits={"train": range(0, 300), "validation": range(300, 400), "test": range(400, 700)},
    )
    cfg = evaluation_config(
        load_config(None, ["env.window=6", "training.ppo.net_arch=[8]", "portfolio.funding_rate_8h=0.001"])
    )
    env = make_env(cfg, "test", seed=0, dataset=dataset)
    episodes = env.evaluation_episodes
    assert [(e.start, e.stop) for e in episodes] == [(400, 550), (560, 700)]
    model = build_model(cfg.training, DummyVecEnv([lambda: env]), seed=0, device="cpu", tensorboard_log=None)
    policy = PredictPolicy(model, None, None)
    result = run_agent(env, policy)
    segments = [run_episode(env, policy, e) for e in episodes]
    assert result.metrics.n_bars == 1 + sum(e.n_steps for e in episodes)
    growth = np.prod([s.equity[-1] / s.equity[0] for s in segments])
    assert result.metrics.final_equity == pytest.approx(10_000 * growth, rel=1e-12)
    np.testing.assert_array_equal(result.time_ms[:150], dataset.market.open_time_ms[400:550])
    np.testing.assert_array_equal(result.time_ms[150:], dataset.market.open_time_ms[561:700])
    assert np.all(np.diff(result.time_ms) > 0)
    m = result.metrics
    assert m.gross_pnl - m.fees - m.slippage - m.funding == pytest.approx(m.final_equity - 10_000, rel=1e-9)
    assert m.funding == pytest.approx(
        sum(s.costs.funding * g for s, g in zip(segments, _growths(segments), strict=True))
    )


def _growths(segments: list[Segment]) -> list[float]:
    """The chaining factor of each run: the equity growth of the runs before it."""
    factors = np.cumprod([1.0] + [s.equity[-1] / s.equity[0] for s in segments[:-1]])
    return [float(f) for f in factors]


def test_evaluation_is_deterministic_and_the_fast_path_changes_nothing(tiny_run: Path) -> None:
    loaded = load_checkpoint(tiny_run, "best")
    cfg = loaded.config.model_copy(deep=True)
    cfg.evaluation.n_random_runs = 3
    dataset = build_dataset(cfg, FeatureScaler.load(tiny_run / SCALER))
    reports = [
        evaluate_model(cfg, dataset, loaded.model, loaded.vecnormalize, "test", "tiny", fast=fast)
        for fast in (True, True, False)
    ]
    first = reports[0]
    assert first.agent.metrics.trades > 0
    assert set(first.zero_cost) == {"agent", *first.baselines}
    assert first.zero_cost["agent"].metrics.fees_paid == 0.0 < first.agent.metrics.fees_paid
    for other in reports[1:]:
        assert other.agent.metrics == first.agent.metrics
        np.testing.assert_array_equal(other.agent.equity, first.agent.equity)
        assert {k: v.metrics for k, v in other.baselines.items()} == {k: v.metrics for k, v in first.baselines.items()}
        assert other.random is not None and first.random is not None
        np.testing.assert_equal(other.random.mean, first.random.mean)  # NaN-aware (fill rate)
        assert other.random_paced is not None and first.random_paced is not None
        np.testing.assert_equal(other.random_paced.mean, first.random_paced.mean)
    assert first.random_paced is not None and 0.0 < first.random_paced.switch_prob < 1.0
    assert any("batched exact MLP inference" in note for note in first.notes)
    assert any("model.predict per step" in note for note in reports[2].notes)


def test_fees_off_evaluates_with_zero_costs_only(tiny_run: Path) -> None:
    loaded = load_checkpoint(tiny_run, "latest")
    cfg = loaded.config.model_copy(deep=True)
    cfg.evaluation.n_random_runs = 2
    dataset = build_dataset(cfg, FeatureScaler.load(tiny_run / SCALER))
    report = evaluate_model(cfg, dataset, loaded.model, loaded.vecnormalize, "test", "tiny", fees_off=True)
    assert report.zero_cost == {}
    assert report.agent.metrics.fees_paid == 0.0
    assert report.baselines["buy_and_hold"].metrics.fees_paid == 0.0


def test_model_and_env_spaces_must_match(tiny_run: Path) -> None:
    loaded = load_checkpoint(tiny_run, "latest")
    cfg = evaluation_config(loaded.config)
    dataset = build_dataset(cfg, FeatureScaler.load(tiny_run / SCALER))
    wider = cfg.model_copy(deep=True)
    wider.env.window = 12
    with pytest.raises(SchemaMismatchError, match=r"expects observations .*'market': \(8, .*env\.window"):
        check_spaces(loaded.model, make_env(wider, "test", dataset=dataset), "tiny")
    spot = cfg.model_copy(deep=True)
    spot.portfolio.market = "spot"
    with pytest.raises(SchemaMismatchError, match=r"acts in Discrete\(3\), but the config gives Discrete\(2\)"):
        check_spaces(loaded.model, make_env(spot, "test", dataset=dataset), "tiny")
