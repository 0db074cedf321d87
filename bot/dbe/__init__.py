"""Dynamic behavior engine: adapts stop loss, take profit and position size to volatility, trend and drawdown.

See :mod:`bot.dbe.engine` for the rules and :mod:`bot.dbe.inputs` for the per-bar inputs.
"""

from bot.dbe.engine import SIZE_MULT, SL_MULT, STRONG_TREND, TP_MULT, DBEMode, DynamicBehaviorEngine
from bot.dbe.inputs import dbe_inputs, rolling_percentile

__all__ = [
    "SIZE_MULT",
    "SL_MULT",
    "STRONG_TREND",
    "TP_MULT",
    "DBEMode",
    "DynamicBehaviorEngine",
    "dbe_inputs",
    "rolling_percentile",
]
