"""The live portfolio observation is the portfolio env's: from the same account state (positions, entries, marks,
cash, bars held, drawdown, reference equity), :func:`basket_observation` gives the env's ``assets`` and ``account``
entries, on perpetual and spot baskets, after any sequence of weights (hypothesis)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import load_config
from bot.data import build_universe
from bot.env import PortfolioEnv
from bot.live.broker import AccountState
from bot.live.portfolio_account import AccountView, basket_observation, execution_order, within_margin


@cache
def basket_env(market: str) -> PortfolioEnv:
    cfg = load_config(
        None,
        [
            "data.source=synthetic",
            "data.synthetic.assets=2",
            "data.synthetic.n_bars=1500",
            "data.timeframes=[5m]",
            "features.indicators=[log_return, rsi]",
            "env.mode=portfolio",
            "env.window=4",
            "env.episode_length=64",
            "env.max_drawdown=1.0",
            "env.action_type=continuous",
            f"portfolio.market={market}",
            "training.algo=ppo",
        ],
    )
    return PortfolioEnv(cfg, build_universe(cfg), split="train", seed=0)


def live_view(env: PortfolioEnv) -> AccountView:
    """The env account's state as the live brokers report it: each symbol's position beside the one wallet."""
    pm = env.portfolio
    cash = pm.cash
    return AccountView.of(
        [
            AccountState(
                cash + float(pm.position_value[i]),
                cash,
                float(pm.qty[i]),
                float(pm.entry[i]),
                float(pm.unrealized[i]),
                float(pm.mark[i]),
            )
            for i in range(env.n_assets)
        ]
    )


@settings(max_examples=12, deadline=None)
@given(market=st.sampled_from(["perpetual", "spot"]), seed=st.integers(0, 10_000), steps=st.integers(1, 30))
def test_the_live_observation_is_the_envs_on_the_same_account(market: str, seed: int, steps: int) -> None:
    env = basket_env(market)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    for _ in range(steps):
        obs, _, terminated, truncated, _ = env.step(rng.uniform(-1.0, 1.0, env.n_assets).astype(np.float32))
        if terminated or truncated:
            break
    pm = env.portfolio
    view = live_view(env)
    assert view.equity == pytest.approx(pm.equity, rel=1e-12)
    scale = 1.0 / (env.cfg.env.episode_length * env.cfg.env.decision_every)
    tradable = env.rows.observable[env.current_row]
    live = basket_observation(
        obs["market"], tradable, view, pm.bars_in_position.tolist(), scale, pm.drawdown, env._start_equity
    )
    np.testing.assert_allclose(live["assets"], obs["assets"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(live["account"], obs["account"], rtol=1e-5, atol=1e-6)
    # the reductions go out before the openings: the first symbol's exposure falls the most
    targets = rng.uniform(-1.0, 1.0, env.n_assets)
    order = execution_order(targets, view)
    change = np.abs(targets) - np.abs(view.exposures())
    assert change[order[0]] == change.min()
    # the book fits the margin with its fee reserve; a book that already fits is left alone
    tradable = rng.random(env.n_assets) < 0.7
    weights = targets / max(1.0, float(np.abs(targets).sum()))
    capped = within_margin(weights, tradable, view, 1.0, 0.00055)
    kept = float(np.abs(view.exposures())[~tradable].sum())
    cap = 1.0 / (1.0 + 3.0 * 0.00055)
    assert (capped[~tradable] == weights[~tradable]).all()
    assert float(np.abs(capped[tradable]).sum()) + kept <= max(cap, kept) + 1e-12
    if float(np.abs(weights[tradable]).sum()) + kept <= cap:
        assert (capped == weights).all()
