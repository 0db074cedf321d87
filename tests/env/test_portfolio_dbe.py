"""``env.mode: portfolio`` with ``dbe.enabled``: one DBE per asset on its own rows, the account drawdown mode, sizes
within the cap (hypothesis), gaps, the time rule and the env checkers."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from hypothesis import given, settings
from hypothesis import strategies as st
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from bot.config import BotConfig
from bot.data import Universe
from bot.data.universe import build_universe
from bot.dbe import AccountMode
from bot.env.portfolio_dbe import BasketDBE
from bot.env.portfolio_env import PortfolioEnv
from tests.env.test_portfolio_env import _cfg, _frames, _write

DBE = (
    "dbe.enabled=true",
    "dbe.atr_window=50",
    "dbe.trend_window=10",
    "dbe.base_take_profit=0.05",
    "dbe.drawdown_halflife_bars=0",
    "env.action_type=continuous",
    "portfolio.leverage=2",
)
#: the gross weight the basket accepts: portfolio.max_leverage 5 / portfolio.leverage 2
_CAP = 2.5


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _write(_frames(), tmp_path_factory.mktemp("portfolio_dbe"))


@pytest.fixture(scope="module")
def cfg(files: tuple[Path, Path]) -> BotConfig:
    return _cfg(files, *DBE)


@pytest.fixture(scope="module")
def universe(cfg: BotConfig) -> Universe:
    return build_universe(cfg)


def _dbe_info(info: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info.items() if k.startswith(("dbe_", "account_"))}


def test_env_checkers_pass_with_the_dbe_on(cfg: BotConfig, universe: Universe) -> None:
    gym_check_env(PortfolioEnv(cfg, universe, seed=0), skip_render_check=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # SB3's advice on Dict observations (see test_portfolio_env)
        sb3_check_env(PortfolioEnv(cfg, universe, seed=0))


def test_each_new_position_takes_its_own_assets_dbe_stop_and_take_profit(cfg: BotConfig, universe: Universe) -> None:
    env = PortfolioEnv(cfg, universe, split="all", seed=0)
    first = env.decision_span[0]
    _, info = env.reset(options={"start_index": first})
    pm = env.portfolio
    rng = np.random.default_rng(1)
    opened = 0
    distinct = False
    for _ in range(300):
        before = info
        flat = pm.qty == 0.0
        _, _, terminated, truncated, info = env.step(rng.uniform(-1, 1, 2).astype(np.float32) * 0.5)
        assert set(info) >= {"account_mode", "account_size", "dbe_mode_0", "dbe_stop_loss_1", "dbe_size_1"}
        assert all(type(v) in (int, float) for v in _dbe_info(info).values())
        distinct |= before["dbe_stop_loss_0"] != before["dbe_stop_loss_1"]
        for i in range(2):
            if flat[i] and pm.qty[i] != 0.0 and pm.bars_in_position[i] == 1:
                # opened from flat at this decision (decision_every=1): the distances decided at its close
                side = 1.0 if pm.qty[i] > 0.0 else -1.0
                sl, tp = before[f"dbe_stop_loss_{i}"], before[f"dbe_take_profit_{i}"]
                assert pm.stop_price[i] == pytest.approx(pm.entry[i] * (1.0 - side * sl))
                assert pm.take_profit_price[i] == pytest.approx(pm.entry[i] * (1.0 + side * tp))
                opened += 1
        if terminated or truncated:
            _, info = env.reset(options={"start_index": first})
    assert opened >= 5
    assert distinct  # each asset's engine follows its own market


def test_an_asset_in_a_gap_keeps_its_dbe_state(cfg: BotConfig, universe: Universe) -> None:
    env = PortfolioEnv(cfg, universe, split="all", seed=0)
    gap = np.flatnonzero(universe.row[1] < 0)
    gap = gap[gap > 100]  # BBB's own 40-bar gap (not the start before its first bar)
    env.reset(options={"start_index": int(gap[0]) - 3})
    states = []
    others = []
    assert env.dbe is not None
    engines = env.dbe.engines
    while env.current_row < gap[-1]:
        env.step(np.array([0.3, 0.3], np.float32))
        if env.current_row in gap:
            b, a = engines[1], engines[0]
            states.append((b.vol_percentile, b.mode, b.stop_loss_pct, b.win_streak, b.loss_streak))
            others.append(a.vol_percentile)
    assert len(states) == len(gap) and len(set(states)) == 1  # BBB untouched through its gap
    assert len(set(others)) > 1  # while AAA's engine moves on


def test_dbe_state_at_a_decision_uses_no_later_bar(tmp_path: Path, cfg: BotConfig, universe: Universe) -> None:
    """The same run on files cut after bar 700 gives the same DBE state at every decision up to the cut."""
    a, b = _frames()
    cut = _write((a.iloc[:700], b.iloc[:670]), tmp_path)
    short_cfg = _cfg(cut, *DBE)
    short = PortfolioEnv(short_cfg, build_universe(short_cfg), split="all")
    full = PortfolioEnv(cfg, universe, split="all")
    stop = len(short.universe) - 1
    first = full.decision_span[0]
    _, info_s = short.reset(options={"start_index": first})
    _, info_f = full.reset(options={"start_index": first})
    rng = np.random.default_rng(2)
    while short.current_row < stop - 1:
        assert _dbe_info(info_s) == _dbe_info(info_f)
        action = rng.uniform(-1, 1, 2).astype(np.float32)
        _, _, done_s, _, info_s = short.step(action)
        _, _, done_f, _, info_f = full.step(action)
        assert not (done_s or done_f)
    assert _dbe_info(info_s) == _dbe_info(info_f)


def test_the_account_mode_scales_every_asset_and_cuts_held_positions(universe: Universe, cfg: BotConfig) -> None:
    dbe = BasketDBE(cfg, universe)
    t = int(np.flatnonzero((universe.row >= 0).all(axis=0))[200])
    dbe.reset(t)
    raw = np.array([0.5, -0.5])
    both = np.ones(2, dtype=bool)
    first = dbe.weights(raw, both, np.zeros(2))
    size = np.array(dbe.size)
    np.testing.assert_array_equal(first, raw * size)
    for dd, mode, scale in ((0.12, AccountMode.DEFENSIVE, 0.5), (0.25, AccountMode.CRITICAL, 0.25)):
        dbe.update(t + 1, dd, [])
        assert dbe.account.mode == mode and dbe.info()["account_mode"] == int(mode)
        held = dbe.weights(raw, both, first)  # same weights, positions held: the engines' sizes stay
        np.testing.assert_array_equal(held, raw * size * scale)


@st.composite
def _decision(draw: st.DrawFn) -> tuple[npt.NDArray[np.float64], list[bool], list[float], float]:
    # weights the basket accepts: sum(|w|) x portfolio.leverage 2 <= portfolio.max_leverage 5
    w = np.array([draw(st.floats(-2.5, 2.5)) for _ in range(2)])
    if np.abs(w).sum() > _CAP:
        w = w / np.abs(w).sum() * _CAP
    tradable = [draw(st.booleans()) for _ in range(2)]
    qty = [draw(st.sampled_from([0.0, 1.0, -1.0])) for _ in range(2)]
    return w, tradable, qty, draw(st.floats(0.0, 1.0))


@settings(max_examples=60, deadline=None)
@given(
    decisions=st.lists(_decision(), min_size=1, max_size=12),
    start=st.integers(0, 1100),
)
def test_scaled_weights_never_exceed_the_agents_or_the_cap(
    universe: Universe,
    cfg: BotConfig,
    decisions: list[tuple[npt.NDArray[np.float64], list[bool], list[float], float]],
    start: int,
) -> None:
    dbe = BasketDBE(cfg, universe)
    dbe.reset(start)
    t = start
    assert cfg.portfolio.max_leverage / cfg.portfolio.leverage == _CAP
    for w, tradable, qty, drawdown in decisions:
        out = dbe.weights(w, np.array(tradable), np.array(qty))
        assert np.all(np.abs(out) <= np.abs(w) + 1e-15)
        assert np.all(out * w >= 0.0)  # never flips a side
        assert np.abs(out).sum() <= _CAP * (1.0 + 1e-12)
        assert all(cfg.dbe.size.low <= s <= cfg.dbe.size.high for s in dbe.size)
        t = min(t + 1, len(universe) - 1)
        dbe.update(t, drawdown, [])
        assert dbe.account.mode == (2 if drawdown >= 0.2 else 1 if drawdown >= 0.1 else 0)
