"""The execution settings the first round's tests were written for, pinned so that they test mechanics, not defaults.

The project's defaults (a decision every 12 bars, limit orders, the DBE off with a catastrophe stop) were chosen by
``benchmarks/oos_real.py``; tests that check the mechanics of one bar, one market order or the DBE's rules pin these
instead, so a later change of defaults does not silently change what they test.
"""

from __future__ import annotations

from typing import Any

#: ``--set`` overrides: a decision every bar, market orders, the DBE on with its tight first-round stops.
CLASSIC_OVERRIDES: tuple[str, ...] = (
    "env.decision_every=1",
    "portfolio.order_type=market",
    "dbe.enabled=true",
    "dbe.base_stop_loss=0.02",
    "dbe.base_take_profit=0.04",
    "dbe.stop_loss.low=0.005",
    "dbe.stop_loss.high=0.05",
    "dbe.drawdown_halflife_bars=0",
)

#: The same DBE settings as ``DBEConfig`` keyword arguments.
CLASSIC_DBE: dict[str, Any] = {
    "enabled": True,
    "base_stop_loss": 0.02,
    "base_take_profit": 0.04,
    "stop_loss": {"low": 0.005, "high": 0.05},
    "drawdown_halflife_bars": 0,
}
