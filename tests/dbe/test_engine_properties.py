"""DBE outputs stay within their bounds and follow the mode order for any history (hypothesis)."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import Bounds, DBEConfig
from bot.dbe import DBEMode, DynamicBehaviorEngine
from tests.support.classic import CLASSIC_DBE


def classic_dbe(**overrides: Any) -> DBEConfig:
    """The DBE settings these rules were written for (pinned: the project defaults may change)."""
    return DBEConfig(**{**CLASSIC_DBE, **overrides})


@st.composite
def bounds(draw: st.DrawFn, low: float, high: float) -> Bounds:
    a, b = sorted((draw(st.floats(low, high)), draw(st.floats(low, high))))
    return Bounds(low=a, high=b)


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    sl=bounds(0.001, 0.2),
    tp=bounds(0.001, 0.5),
    size=bounds(0.01, 1.0),
    base_sl=st.floats(0.001, 0.5),
    base_tp=st.floats(0.001, 1.0),
    base_size=st.floats(0.01, 1.0),
    steps=st.lists(
        st.tuples(st.floats(0.0, 1.0), st.one_of(st.none(), st.floats(-100.0, 100.0))), min_size=1, max_size=80
    ),
)
def test_outputs_stay_within_bounds(
    seed: int,
    sl: Bounds,
    tp: Bounds,
    size: Bounds,
    base_sl: float,
    base_tp: float,
    base_size: float,
    steps: list[tuple[float, float | None]],
) -> None:
    rng = np.random.default_rng(seed)
    n = len(steps)
    atr = rng.lognormal(size=n) / 100
    atr[rng.random(n) < 0.1] = np.nan
    trend = rng.uniform(-1, 1, n)
    cfg = classic_dbe(
        atr_window=10,
        stop_loss=sl,
        take_profit=tp,
        size=size,
        base_stop_loss=min(base_sl, 0.99),
        base_take_profit=base_tp,
        base_size=base_size,
    )
    dbe = DynamicBehaviorEngine(cfg, atr, trend)
    for t, (drawdown, pnl) in enumerate(steps):
        dbe.update(t, drawdown, pnl)
        assert sl.low <= dbe.stop_loss_pct <= sl.high
        assert tp.low <= dbe.take_profit_pct <= tp.high
        assert size.low <= dbe.size_fraction <= size.high
        assert 0.0 <= dbe.vol_percentile <= 1.0
        assert dbe.mode in set(DBEMode)
        if drawdown >= cfg.defensive_drawdown or dbe.loss_streak >= cfg.loss_streak_defensive:
            assert dbe.mode == DBEMode.DEFENSIVE
        if dbe.mode == DBEMode.AGGRESSIVE:
            assert dbe.win_streak >= cfg.win_streak_aggressive
        assert dbe.win_streak == 0 or dbe.loss_streak == 0
