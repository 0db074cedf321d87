"""Dynamic behavior engine: adapts stop loss, take profit and position size to volatility, trend and drawdown.

See :mod:`bot.dbe.engine` for the rules, :mod:`bot.dbe.inputs` for the per-bar inputs and :mod:`bot.dbe.account`
for the account-level drawdown mode of a multi-asset portfolio.
"""

from bot.dbe.account import ACCOUNT_SIZE_MULT, AccountDrawdownMode, AccountMode, account_mode
from bot.dbe.engine import SIZE_MULT, SL_MULT, STRONG_TREND, TP_MULT, DBEMode, DynamicBehaviorEngine
from bot.dbe.inputs import dbe_inputs, decayed_drawdown, drawdown_decay, rolling_percentile

__all__ = [
    "ACCOUNT_SIZE_MULT",
    "SIZE_MULT",
    "SL_MULT",
    "STRONG_TREND",
    "TP_MULT",
    "AccountDrawdownMode",
    "AccountMode",
    "DBEMode",
    "DynamicBehaviorEngine",
    "account_mode",
    "dbe_inputs",
    "decayed_drawdown",
    "drawdown_decay",
    "rolling_percentile",
]
