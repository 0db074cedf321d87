"""The basket's bar-by-bar state reproduces, bit for bit, trajectories recorded with the NumPy implementation.

``basket_trajectories.npz`` was written by the vectorised ``BasketPortfolio`` before it was rewritten for speed
(issue 14). Each scenario drives one basket over random bars (gaps, missing bars, blocked assets, random weights) and
records, after every bar, the scalars and per-asset arrays of the account, then every closed trade. Regenerate (only
for a deliberate change of behaviour) with ``python -m tests.portfolio.test_basket_trajectory``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.portfolio.basket import BasketPortfolio
from bot.portfolio.basket_kernel import total
from tests.portfolio.helpers import BAR_MS, free_config

FIXTURE = Path(__file__).parent / "basket_trajectories.npz"
N_ASSETS = 4
N_BARS = 300
_COSTS: dict[str, Any] = {
    "taker_fee": 0.00055,
    "maker_fee": 0.0002,
    "slippage_bps": 2.0,
    "slippage_range_frac": 0.05,
    "lot_step": 0.001,
    "min_notional": 5.0,
}
#: name -> (config overrides, stop loss, take profit, rebalance every k bars (0: never))
SCENARIOS: dict[str, tuple[dict[str, Any], float | list[float], float | list[float], int]] = {
    "perp_market": ({**_COSTS, "leverage": 3.0, "funding_rate_8h": 0.0001, "max_holding_bars": 4}, 0.0, 0.0, 0),
    "perp_stops": ({**_COSTS, "leverage": 2.0}, [0.02, 0.0, 0.05, 0.03], [0.04, 0.06, 0.0, 0.02], 7),
    "perp_liquidation": ({**_COSTS, "leverage": 20.0, "max_leverage": 25.0, "maintenance_margin": 0.02}, 0.0, 0.0, 0),
    "perp_limit": ({**_COSTS, "leverage": 2.0, "order_type": "limit", "limit_unfilled": "repost"}, 0.01, 0.0, 0),
    "spot_market": ({**_COSTS, "market": "spot"}, 0.0, 0.03, 5),
    "spot_limit": ({**_COSTS, "market": "spot", "order_type": "limit", "limit_offset": 0.0005}, 0.0, 0.0, 0),
}
_ARRAYS = ("qty", "entry", "mark", "realized", "fees", "slippage", "funding", "traded_notional", "exposure")
_SCALARS = ("equity", "wallet", "peak_equity", "drawdown", "n_trades", "wins", "losses", "limit_orders", "limit_fills")


def _bars(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(open, high, low, close) float [T, N]: random walks with gaps at the open, wicks and missing bars (NaN)."""
    rng = np.random.default_rng(seed)
    t, n = N_BARS, N_ASSETS
    start = np.array([30_000.0, 2_000.0, 150.0, 0.5])
    gap = rng.uniform(-0.03, 0.03, (t, n)) * (rng.random((t, n)) < 0.1)
    ret = rng.normal(0.0, 0.02, (t, n))
    close = start * np.cumprod((1.0 + gap) * (1.0 + ret), axis=0)
    open_ = np.vstack([start, close[:-1]]) * (1.0 + gap)
    high = np.maximum(open_, close) * (1.0 + rng.uniform(0.0, 0.02, (t, n)))
    low = np.minimum(open_, close) * (1.0 - rng.uniform(0.0, 0.02, (t, n)))
    missing = rng.random((t, n)) < 0.05
    for a in (open_, high, low, close):
        a[missing] = np.nan
    return open_, high, low, close


def run_scenario(name: str) -> dict[str, np.ndarray]:
    """Drive one scenario's basket over its bars; the recorded state, keyed ``name/field``."""
    overrides, sl, tp, every = SCENARIOS[name]
    pm = BasketPortfolio(free_config(**overrides), [f"A{i}/USDT" for i in range(N_ASSETS)])
    open_, high, low, close = _bars(sum(map(ord, name)))
    rng = np.random.default_rng(7)
    sl_arg = np.array(sl) if isinstance(sl, list) else sl
    tp_arg = np.array(tp) if isinstance(tp, list) else tp
    cap = pm.max_gross / pm.leverage
    pm.reset(reference_prices=open_[0])
    rows: dict[str, list[Any]] = {k: [] for k in (*_ARRAYS, *_SCALARS, "bars_in_position", "exits")}
    weights = np.zeros(N_ASSETS)
    for t in range(N_BARS):
        new_decision = t % 3 != 2
        if new_decision and rng.random() < 0.7:
            raw = rng.uniform(-1.0, 1.0, N_ASSETS) * (rng.random(N_ASSETS) < 0.8)
            gross = float(np.abs(raw).sum())
            weights = raw * (cap * rng.uniform(0.2, 1.0) / gross if gross > 0.0 else 0.0)
        tradable = rng.random(N_ASSETS) < 0.9
        pm.process_bar(
            1_700_000_000_000 + t * BAR_MS * 12,
            open_[t],
            high[t],
            low[t],
            close[t],
            weights,
            tradable,
            sl_arg,
            tp_arg,
            new_decision=new_decision,
            rebalance=every > 0 and t % every == 0,
        )
        for key in _ARRAYS:
            rows[key].append(np.array(getattr(pm, key), dtype=np.float64))
        for key in _SCALARS:
            rows[key].append(float(getattr(pm, key)))
        rows["bars_in_position"].append(np.array(pm.bars_in_position, dtype=np.float64))
        rows["exits"].append(float(sum((i + 1) * 10 ** len(r) for i, r in pm.last_exits)))
        if pm.is_liquidated:
            break
    out = {f"{name}/{k}": np.array(v, dtype=np.float64) for k, v in rows.items()}
    trades = [t for log in pm.trades for t in log]
    out[f"{name}/trades"] = np.array(
        [
            [t.entry_time_ms, t.exit_time_ms, t.qty, t.entry_price, t.exit_price, t.fees, t.pnl, t.bars_held]
            for t in trades
        ],
        dtype=np.float64,
    ).reshape(-1, 8)
    out[f"{name}/trade_reasons"] = np.array([f"{t.side}:{t.exit_reason}" for t in trades])
    return out


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_basket_reproduces_recorded_trajectory_bit_for_bit(name: str) -> None:
    recorded = np.load(FIXTURE)
    now = run_scenario(name)
    assert sorted(now) == sorted(k for k in recorded.files if k.startswith(f"{name}/"))
    for key, value in now.items():
        assert value.shape == recorded[key].shape, key
        if value.dtype.kind == "f":
            # bit for bit (NaN-free state; -0.0 and 0.0 compare equal, which the accounting cannot tell apart)
            assert np.array_equal(value, recorded[key]), (
                f"{key} first differs at {np.flatnonzero(value != recorded[key])[:1]}"
            )
        else:
            assert value.tolist() == recorded[key].tolist(), key


def test_scenarios_exercise_every_path() -> None:
    """The recorded scenarios reach trades, stops, take profits, limit fills, max holding and liquidation."""
    recorded = np.load(FIXTURE)
    reasons = {r.split(":")[1] for k in recorded.files if k.endswith("/trade_reasons") for r in recorded[k]}
    assert {"signal", "stop_loss", "take_profit", "max_holding", "liquidation"} <= reasons
    assert recorded["perp_limit/limit_fills"][-1] > 0


if __name__ == "__main__":
    data: dict[str, np.ndarray] = {}
    for scenario in SCENARIOS:
        data.update(run_scenario(scenario))
    np.savez_compressed(FIXTURE, **data)
    print(f"wrote {FIXTURE} ({len(data)} arrays)")


@pytest.mark.parametrize("n", [1, 2, 5, 7, 8, 13, 128, 129, 300])
def test_total_is_numpys_sum_bit_for_bit(n: int) -> None:
    """The kernel's sums add in NumPy's order, so they cannot move the accounting by one ulp (or a -0.0)."""
    rng = np.random.default_rng(n)
    for _ in range(2000):
        x = rng.normal(size=n) * 10.0 ** rng.integers(-6, 9, size=n)
        x[rng.random(n) < 0.2] = -0.0
        want = float(x.sum())
        assert total(x) == want
        assert math.copysign(1.0, total(x)) == math.copysign(1.0, want)
