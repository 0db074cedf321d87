"""DynamicBehaviorEngine rules, bounds, reset, determinism and the disabled mode."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bot.config import Bounds, DBEConfig, load_config
from bot.dbe import DBEMode, DynamicBehaviorEngine, dbe_inputs
from bot.errors import ConfigError
from tests.support.classic import CLASSIC_DBE

WINDOW = 11


def classic_dbe(**overrides: Any) -> DBEConfig:
    """The DBE settings these rules were written for (pinned: the project defaults may change)."""
    return DBEConfig(**{**CLASSIC_DBE, **overrides})


def _atr(n: int = 80) -> np.ndarray:
    """Period-11 sequence of distinct values: from t = 10 on, the percentile of bar t is ((7 t) % 11) / 10."""
    t = np.arange(n)
    return ((t * 7) % WINDOW + 1) / 1_000.0


def t_at(pct: float) -> int:
    """First bar >= 20 whose volatility percentile is ``pct`` (a multiple of 0.1)."""
    return next(t for t in range(20, 80) if abs((t * 7) % WINDOW / 10 - pct) < 1e-9)


def make(trend: float = 0.0, **overrides: Any) -> DynamicBehaviorEngine:
    cfg = classic_dbe(atr_window=WINDOW, **overrides)
    return DynamicBehaviorEngine(cfg, _atr(), np.full(80, trend))


def test_vol_percentile_follows_the_causal_rank() -> None:
    dbe = make()
    for pct in (0.0, 0.3, 0.5, 1.0):
        dbe.update(t_at(pct), 0.0, None)
        assert dbe.vol_percentile == pytest.approx(pct)
        assert type(dbe.vol_percentile) is float


def test_neutral_outputs_are_the_base_values_at_median_volatility() -> None:
    dbe = make()
    dbe.update(t_at(0.5), 0.0, None)
    assert dbe.mode == DBEMode.NEUTRAL
    assert dbe.stop_loss_pct == pytest.approx(0.02)
    assert dbe.take_profit_pct == pytest.approx(0.04)
    assert dbe.size_fraction == 1.0
    assert type(dbe.stop_loss_pct) is float and type(dbe.take_profit_pct) is float


@pytest.mark.parametrize(("drawdown", "mode"), [(0.099, DBEMode.NEUTRAL), (0.10, DBEMode.DEFENSIVE)])
def test_drawdown_forces_defensive(drawdown: float, mode: DBEMode) -> None:
    dbe = make()
    dbe.update(t_at(0.5), drawdown, None)
    assert dbe.mode == mode


def test_loss_streak_forces_defensive_and_a_win_ends_it() -> None:
    dbe = make()
    t = t_at(0.5)
    for pnl in (-1.0, 0.0):
        dbe.update(t, 0.0, pnl)
        assert dbe.mode == DBEMode.NEUTRAL
    dbe.update(t, 0.0, -5.0)
    assert (dbe.loss_streak, dbe.mode) == (3, DBEMode.DEFENSIVE)
    dbe.update(t, 0.0, None)  # no trade closed: streak unchanged
    assert dbe.mode == DBEMode.DEFENSIVE
    dbe.update(t, 0.0, 2.0)
    assert (dbe.loss_streak, dbe.win_streak, dbe.mode) == (0, 1, DBEMode.NEUTRAL)


@pytest.mark.parametrize(("pct", "mode"), [(0.7, DBEMode.NEUTRAL), (0.8, DBEMode.DEFENSIVE), (1.0, DBEMode.DEFENSIVE)])
def test_high_volatility_forces_defensive(pct: float, mode: DBEMode) -> None:
    dbe = make()
    dbe.update(t_at(pct), 0.0, None)
    assert dbe.mode == mode


def _after_wins(dbe: DynamicBehaviorEngine, n_wins: int, t: int) -> None:
    for _ in range(n_wins):
        dbe.update(t, 0.0, 1.0)


@pytest.mark.parametrize(
    ("trend", "pct", "wins", "mode"),
    [
        (0.6, 0.3, 3, DBEMode.AGGRESSIVE),
        (-0.6, 0.0, 4, DBEMode.AGGRESSIVE),  # a strong down trend counts too
        (0.5, 0.3, 3, DBEMode.AGGRESSIVE),
        (0.4, 0.3, 3, DBEMode.NEUTRAL),  # trend too weak
        (0.6, 0.4, 3, DBEMode.NEUTRAL),  # not calm enough
        (0.6, 0.3, 2, DBEMode.NEUTRAL),  # streak too short
    ],
)
def test_aggressive_needs_wins_strong_trend_and_low_volatility(
    trend: float, pct: float, wins: int, mode: DBEMode
) -> None:
    dbe = make(trend=trend)
    _after_wins(dbe, wins, t_at(pct))
    assert dbe.mode == mode


def test_defensive_rules_win_over_aggressive_ones() -> None:
    dbe = make(trend=0.9)
    _after_wins(dbe, 5, t_at(0.0))
    assert dbe.mode == DBEMode.AGGRESSIVE
    dbe.update(t_at(0.0), 0.2, None)
    assert dbe.mode == DBEMode.DEFENSIVE


def test_mode_multipliers_and_volatility_scale() -> None:
    dbe = make(
        trend=0.9,
        stop_loss=Bounds(low=0.0, high=1.0),
        take_profit=Bounds(low=0.0, high=1.0),
        size=Bounds(low=0.0, high=1.0),
        base_size=0.5,
    )
    _after_wins(dbe, 3, t_at(0.2))  # scale 0.7
    assert dbe.mode == DBEMode.AGGRESSIVE
    assert dbe.stop_loss_pct == pytest.approx(0.02 * 0.7 * 1.25)
    assert dbe.take_profit_pct == pytest.approx(0.04 * 0.7 * 1.5)
    assert dbe.size_fraction == pytest.approx(0.75)
    dbe.update(t_at(0.9), 0.0, None)  # scale 1.4, high volatility
    assert dbe.mode == DBEMode.DEFENSIVE
    assert dbe.stop_loss_pct == pytest.approx(0.02 * 1.4 * 0.75)
    assert dbe.take_profit_pct == pytest.approx(0.04 * 1.4 * 0.75)
    assert dbe.size_fraction == pytest.approx(0.25)


def test_stops_widen_with_volatility() -> None:
    dbe = make()
    dbe.update(t_at(0.1), 0.0, None)
    calm = dbe.stop_loss_pct
    dbe.update(t_at(0.7), 0.0, None)
    assert dbe.mode == DBEMode.NEUTRAL
    assert dbe.stop_loss_pct > calm


@pytest.mark.parametrize(
    ("overrides", "attr", "expected"),
    [
        ({"base_stop_loss": 0.001}, "stop_loss_pct", 0.005),  # below stop_loss.low
        ({"base_stop_loss": 0.2}, "stop_loss_pct", 0.05),  # above stop_loss.high
        ({"base_take_profit": 0.001}, "take_profit_pct", 0.01),
        ({"base_take_profit": 0.5}, "take_profit_pct", 0.10),
        ({"base_size": 0.1}, "size_fraction", 0.25),
        ({"base_size": 1.0, "size": Bounds(low=0.1, high=0.6)}, "size_fraction", 0.6),
    ],
)
def test_outputs_are_clamped_to_their_bounds(overrides: dict[str, Any], attr: str, expected: float) -> None:
    dbe = make(**overrides)
    assert getattr(dbe, attr) == pytest.approx(expected)  # after reset
    dbe.update(t_at(0.5), 0.0, None)
    assert getattr(dbe, attr) == pytest.approx(expected)


def test_defensive_size_is_clamped_at_the_low_bound() -> None:
    dbe = make(size=Bounds(low=0.75, high=1.0))
    dbe.update(t_at(0.5), 0.5, None)
    assert dbe.mode == DBEMode.DEFENSIVE
    assert dbe.size_fraction == 0.75


def test_reset_clears_streaks_and_mode() -> None:
    dbe = make()
    for _ in range(4):
        dbe.update(t_at(0.5), 0.0, -1.0)
    assert dbe.mode == DBEMode.DEFENSIVE
    dbe.reset()
    assert (dbe.win_streak, dbe.loss_streak, dbe.mode, dbe.mode_changed) == (0, 0, DBEMode.NEUTRAL, False)
    assert (dbe.stop_loss_pct, dbe.take_profit_pct, dbe.size_fraction) == (0.02, 0.04, 1.0)


def test_same_history_gives_the_same_outputs() -> None:
    rng = np.random.default_rng(0)
    atr, trend = rng.lognormal(size=500) / 100, rng.uniform(-1, 1, 500)
    runs = []
    for _ in range(2):
        dbe = DynamicBehaviorEngine(classic_dbe(atr_window=50), atr, trend)
        seen = []
        for t in range(500):
            pnl = None if t % 7 else float(np.sin(t))
            dbe.update(t, (t % 40) / 200, pnl)
            seen.append((dbe.mode, dbe.stop_loss_pct, dbe.take_profit_pct, dbe.size_fraction, dbe.mode_changed))
        runs.append(seen)
    assert runs[0] == runs[1]
    assert {m for m, *_ in runs[0]} == set(DBEMode)


def test_vol_percentile_does_not_depend_on_later_bars() -> None:
    rng = np.random.default_rng(1)
    atr, trend = rng.lognormal(size=400) / 100, rng.uniform(-1, 1, 400)
    full = DynamicBehaviorEngine(classic_dbe(atr_window=30), atr, trend)
    cut = DynamicBehaviorEngine(classic_dbe(atr_window=30), atr[:150], trend[:150])
    for t in range(150):
        full.update(t, 0.0, None)
        cut.update(t, 0.0, None)
        assert (full.vol_percentile, full.mode, full.stop_loss_pct) == (cut.vol_percentile, cut.mode, cut.stop_loss_pct)


def test_disabled_engine_returns_base_values_and_neutral() -> None:
    dbe = make(trend=0.9, enabled=False, base_stop_loss=0.001)
    for t in range(20, 40):
        dbe.update(t, 0.9, -1.0)
        assert dbe.mode == DBEMode.NEUTRAL and not dbe.mode_changed
        assert (dbe.stop_loss_pct, dbe.take_profit_pct, dbe.size_fraction) == (0.001, 0.04, 1.0)
    assert dbe.loss_streak == 20


def test_mode_change_is_flagged_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.dbe")
    dbe = make()
    dbe.update(t_at(0.5), 0.0, None)
    assert not dbe.mode_changed
    dbe.update(t_at(0.5), 0.3, None)
    assert dbe.mode_changed
    dbe.update(t_at(0.5), 0.3, None)
    assert not dbe.mode_changed
    records = [r for r in caplog.records if "DBE mode change" in str(r.msg)]
    assert len(records) == 1
    assert records[0].levelno == logging.INFO
    assert "NEUTRAL -> DEFENSIVE" in records[0].getMessage()


def test_bad_inputs_are_rejected() -> None:
    cfg = classic_dbe(atr_window=WINDOW)
    with pytest.raises(ValueError, match="equal non-zero length"):
        DynamicBehaviorEngine(cfg, np.ones(10), np.zeros(9))
    with pytest.raises(ValueError, match=r"trend must lie in \[-1, 1\], got values up to 2"):
        DynamicBehaviorEngine(cfg, np.ones(10), np.full(10, 2.0))
    with pytest.raises(ValueError, match="atr_rel must be >= 0"):
        DynamicBehaviorEngine(cfg, -np.ones(10), np.zeros(10))
    with pytest.raises(ConfigError, match=r"dbe.low_vol_percentile=0.8 must be < dbe.high_vol_percentile=0.5"):
        load_config(None, ["dbe.low_vol_percentile=0.8", "dbe.high_vol_percentile=0.5"])


def test_real_candles_visit_every_mode(btc_5m_path: Path) -> None:
    df = pd.read_csv(btc_5m_path, nrows=20_000)
    atr_rel, trend = dbe_inputs(df["close"].to_numpy(), df["high"].to_numpy(), df["low"].to_numpy())
    dbe = DynamicBehaviorEngine(classic_dbe(), atr_rel, trend)
    modes = set()
    for t in range(len(dbe)):
        dbe.update(t, 0.0, 1.0 if t % 20 == 0 else None)
        modes.add(dbe.mode)
        assert 0.005 <= dbe.stop_loss_pct <= 0.05
    assert modes == set(DBEMode)


def test_from_candles_matches_dbe_inputs(btc_5m_path: Path) -> None:
    df = pd.read_csv(btc_5m_path, nrows=3_000)
    close, high, low = (df[c].to_numpy() for c in ("close", "high", "low"))
    cfg = classic_dbe(trend_window=50)
    built = DynamicBehaviorEngine.from_candles(cfg, close, high, low)
    atr_rel, trend = dbe_inputs(close, high, low, trend_window=50)
    manual = DynamicBehaviorEngine(cfg, atr_rel, trend)
    for t in range(0, 3_000, 7):
        built.update(t, 0.0, None)
        manual.update(t, 0.0, None)
        assert (built.vol_percentile, built.mode, built.stop_loss_pct) == (
            manual.vol_percentile,
            manual.mode,
            manual.stop_loss_pct,
        )


def test_defensive_mode_decays_with_the_drawdown_halflife() -> None:
    t = t_at(0.5)  # an ordinary-volatility bar: only the drawdown can force defensive mode
    dbe = make(drawdown_halflife_bars=10)
    dbe.update(t, 0.2, None)
    assert dbe.mode == DBEMode.DEFENSIVE
    modes = []
    for _ in range(60):  # the account stays 20 % under its peak
        dbe.update(t, 0.2, None)
        modes.append(dbe.mode)
    # the reference peak decays toward equity: after a few half-lives the drawdown it sees is under 10 %
    assert modes[0] == DBEMode.DEFENSIVE
    assert modes[-1] == DBEMode.NEUTRAL
    first_neutral = modes.index(DBEMode.NEUTRAL)
    assert 5 <= first_neutral <= 20  # 0.2 -> < 0.1 needs about one half-life
    # without decay the same account stays defensive for ever
    plain = make()
    for _ in range(60):
        plain.update(t, 0.2, None)
    assert plain.mode == DBEMode.DEFENSIVE


def test_zero_base_take_profit_means_no_take_profit_in_every_mode() -> None:
    dbe = make(base_take_profit=0.0)
    assert dbe.take_profit_pct == 0.0
    for pct in (0.0, 0.5, 1.0):
        dbe.update(t_at(pct), 0.0, None)
        assert dbe.take_profit_pct == 0.0
    assert dbe.stop_loss_pct > 0.0
