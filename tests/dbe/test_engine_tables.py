"""The DBE's per-mode stop-loss and take-profit tables equal the rules evaluated bar by bar, bit for bit."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import Bounds, DBEConfig
from bot.dbe import DynamicBehaviorEngine
from bot.dbe.engine import SL_MULT, TP_MULT
from tests.support.classic import CLASSIC_DBE


def clamp(x: float, low: float, high: float) -> float:
    return low if x < low else (high if x > high else x)


@settings(max_examples=120, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    base_sl=st.floats(0.001, 0.5),
    base_tp=st.one_of(st.just(0.0), st.floats(0.001, 1.0)),
    sl_low=st.floats(0.001, 0.05),
    tp_low=st.floats(0.001, 0.1),
    n=st.integers(1, 120),
)
def test_tables_equal_the_per_bar_rules(
    seed: int, base_sl: float, base_tp: float, sl_low: float, tp_low: float, n: int
) -> None:
    rng = np.random.default_rng(seed)
    atr = rng.lognormal(size=n) / 100
    atr[rng.random(n) < 0.15] = np.nan  # warm-up and holes: NaN volatility percentiles
    trend = rng.uniform(-1, 1, n)
    sl = Bounds(low=sl_low, high=sl_low * 4)
    tp = Bounds(low=tp_low, high=tp_low * 5)
    cfg = DBEConfig(**{
        **CLASSIC_DBE, "atr_window": 10, "base_stop_loss": base_sl, "base_take_profit": base_tp, "stop_loss": sl,
        "take_profit": tp, "win_streak_aggressive": 1,
    })  # fmt: skip
    dbe = DynamicBehaviorEngine(cfg, atr, trend)
    take_profit = dbe.take_profit_pct
    for t in range(n):
        pnl = None if rng.random() < 0.5 else float(rng.normal())
        dbe.update(t, float(rng.uniform(0.0, 0.3)), pnl)
        mode = int(dbe.mode)
        scale = 0.5 + dbe.vol_percentile
        expected_sl = clamp(base_sl * SL_MULT[mode] * scale, sl.low, sl.high)
        raw_tp = base_tp * TP_MULT[mode] * scale
        if raw_tp > 0.0:
            take_profit = clamp(raw_tp, tp.low, tp.high)
        assert dbe.stop_loss_pct.hex() == expected_sl.hex() or (
            math.isnan(expected_sl) and math.isnan(dbe.stop_loss_pct)
        )
        assert dbe.take_profit_pct.hex() == take_profit.hex()
        assert type(dbe.stop_loss_pct) is float and type(dbe.take_profit_pct) is float
