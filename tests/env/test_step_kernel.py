"""The env's compiled step (``bot.env.step_kernel.run_bars``) against the per-bar public calls it stands for, and its
returns to Python: trade log lines, DBE mode changes, more room for trades."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from bot.data import MarketData
from bot.data.types import Dataset
from bot.dbe import DynamicBehaviorEngine
from bot.env import make_env
from bot.env.shared_rows import make_dbe
from bot.portfolio import PortfolioManager
from tests.env.conftest import ConfigFactory


def _reference_step(
    pm: PortfolioManager,
    dbe: DynamicBehaviorEngine,
    rows: range,
    market: MarketData,
    target: float,
    size: float,
    scale: float,
) -> tuple[float, list[tuple[int, float, float, float]]]:
    """One env step by the public per-bar calls: ``process_bar``, then the DBE's ``update``, the log-return reward."""
    reward, marks = 0.0, []
    for i, t in enumerate(rows):
        prev = pm.equity
        pm.process_bar(
            int(market.open_time_ms[t]), float(market.open[t]), float(market.high[t]), float(market.low[t]),
            float(market.close[t]), target, dbe.stop_loss_pct, dbe.take_profit_pct, size, i == 0,
        )  # fmt: skip
        dbe.update(t, pm.drawdown, pm.last_trade_pnl)
        reward += scale * math.log(pm.equity / prev)
        marks.append((t, pm.equity, pm.exposure, pm.position_qty))
        if pm.equity <= 0.0 or pm.drawdown > 0.9:
            break
    return reward, marks


@pytest.mark.parametrize("settings", [(), ("env.decision_every=4", "portfolio.order_type=limit")])
def test_a_step_is_the_per_bar_calls_bit_for_bit(
    settings: tuple[str, ...], make_cfg: ConfigFactory, real_dataset: Dataset
) -> None:
    cfg = make_cfg("env.episode_length=400", "env.max_drawdown=0.9", *settings)
    env = make_env(cfg, dataset=real_dataset, seed=0)
    env.reset(seed=3)
    pm, dbe = PortfolioManager(cfg.portfolio), make_dbe(cfg, real_dataset.market)
    pm.reset(reference_price=float(real_dataset.market.close[env.current_row]))
    dbe.update(env.current_row, 0.0, None)
    rng = np.random.default_rng(1)
    done, steps = False, 0
    while not done:
        action = int(rng.integers(3))
        target, size = env.actions.targets[action], dbe.size_fraction  # every action changes the level or not
        if target == env.controls.target and pm.position_qty != 0.0:
            size = env.controls.size
        t = env.current_row
        _, reward, terminated, truncated, info = env.step(action)
        rows = range(t + 1, env.current_row + 1)
        expected_reward, expected_marks = _reference_step(
            pm, dbe, rows, real_dataset.market, target, size, cfg.env.reward_scale
        )
        assert reward.hex() == expected_reward.hex() and env.step_marks == expected_marks
        assert info["equity"] == pm.equity and info["dbe_mode"] == int(dbe.mode)
        assert (env.dbe.stop_loss_pct, env.dbe.win_streak) == (dbe.stop_loss_pct, dbe.win_streak)
        done, steps = terminated or truncated, steps + 1
    assert env.portfolio.trades == pm.trades and len(pm.trades) > 10 and steps > 50


def test_log_lines_and_more_trades_than_the_first_record_room(
    make_cfg: ConfigFactory, real_dataset: Dataset, caplog: pytest.LogCaptureFixture
) -> None:
    # a reversal every bar: more than the 256 trades the account's records first hold, so the step returns to grow
    # them; with INFO on, every trade's lines come out, in order, and the DBE's mode changes are said
    env = make_env(make_cfg("env.episode_length=600", "env.max_drawdown=1.0"), dataset=real_dataset, seed=0)
    env.reset(seed=5)
    with caplog.at_level(logging.INFO, logger="bot"):
        for i in range(600):
            _, _, terminated, truncated, _ = env.step(2 if i % 2 else 0)
            if terminated or truncated:
                break
    closed = [r for r in caplog.records if r.getMessage().startswith("Trade closed")]
    opened = [r for r in caplog.records if r.getMessage().startswith("Trade opened")]
    assert len(closed) == env.portfolio.n_trades > 256 and len(opened) >= len(closed)
    logged_pnls = [r.getMessage().split("pnl ")[1].split(",")[0] for r in closed]
    assert [f"{t.pnl:.8g}" for t in env.portfolio.trades] == logged_pnls
    changes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("DBE mode change")]
    assert changes and all(" -> " in m for m in changes)
    caplog.clear()
    env.reset(seed=6)
    with caplog.at_level(logging.WARNING, logger="bot"):
        for i in range(20):
            env.step(2 if i % 2 else 0)
    assert not [r for r in caplog.records if "Trade" in r.getMessage()] and env.portfolio.n_trades >= 19
