"""The DBE's per-bar update compiled (numba): the rules of :mod:`bot.dbe.engine` over two arrays.

:class:`~bot.dbe.engine.DynamicBehaviorEngine` keeps its state and parameters in ``d``, float64 [:data:`N_SLOTS`]
(slots below; counts and the mode are exact small integers stored as floats), and its per-bar tables in ``tab``,
float64 [:data:`N_TABLES`, rows]: the volatility percentile, the regime code, and the stop-loss and take-profit
distances of rules 3-5 for each mode. :func:`update` is the engine's ``update``; the env's step kernel
(:mod:`bot.env.step_kernel`) calls it between the bars of a step without going back to Python.

The arithmetic is the engine's Python rules' operation for operation (no fastmath), so a trajectory is bit for bit
the same.
"""

from __future__ import annotations

from typing import Any

from numba import njit, types

from bot.dbe import inputs
from bot.kernel_cache import announce_compiles, drop_stale_caches

announce_compiles()

# state slots of ``d``: outputs, the decayed drawdown reference, the streaks, the mode, whether the last update
# changed it, then for the log line of a change: the drawdown the mode rule saw and the mode before
SL, TP, SIZE, DD_REF, VOL_PCT, WINS, LOSSES, MODE, CHANGED, RULE_DRAWDOWN, PREV_MODE = range(11)
# parameter slots of ``d`` (written once): the mode rule's thresholds, the drawdown decay (0: off), the size per mode
ENABLED, DD_DEFENSIVE, DD_DECAY, LOSS_DEFENSIVE, WIN_AGGRESSIVE, SIZE_DEFENSIVE = range(11, 17)
N_SLOTS = 19  # SIZE_DEFENSIVE + mode: the size of each mode
# rows of ``tab``: the volatility percentile, the regime, then stop loss and take profit per mode (+ mode)
T_VOL, T_REGIME, T_SL, T_TP = 0, 1, 2, 5
N_TABLES = 8
#: regime codes in ``tab[T_REGIME]``, from volatility and trend alone
HIGH_VOL, ORDINARY, CALM_TREND = 0.0, 1.0, 2.0

#: :func:`bot.dbe.inputs.decayed_drawdown` compiled from its own source
decayed_drawdown = njit(cache=True)(inputs.decayed_drawdown)


@njit(cache=True)
def update(d: Any, tab: Any, t: int, drawdown: float, closed: bool, last_trade_pnl: float) -> bool:
    """Recompute streaks, mode and outputs at the close of row ``t`` (the rules of :mod:`bot.dbe.engine`).

    :param closed: a trade closed during the bar; ``last_trade_pnl`` is then its net PnL.
    :return: True when the mode changed (``d[CHANGED]`` says the same; the caller logs it).
    """
    if closed:
        if last_trade_pnl > 0.0:
            d[WINS] += 1.0
            d[LOSSES] = 0.0
        else:
            d[LOSSES] += 1.0
            d[WINS] = 0.0
    d[VOL_PCT] = tab[T_VOL, t]
    if d[ENABLED] == 0.0:
        d[CHANGED] = 0.0
        return False
    regime = tab[T_REGIME, t]
    if d[DD_DECAY] != 0.0:
        d[DD_REF], drawdown = decayed_drawdown(d[DD_REF], drawdown, d[DD_DECAY])
    d[RULE_DRAWDOWN] = drawdown
    if drawdown >= d[DD_DEFENSIVE] or d[LOSSES] >= d[LOSS_DEFENSIVE] or regime == HIGH_VOL:
        mode = 0
    elif regime == CALM_TREND and d[WINS] >= d[WIN_AGGRESSIVE]:
        mode = 2
    else:
        mode = 1
    d[SL] = tab[T_SL + mode, t]
    tp = tab[T_TP + mode, t]
    if tp == tp:  # NaN: no take profit in any mode, or no volatility yet
        d[TP] = tp
    d[SIZE] = d[SIZE_DEFENSIVE + mode]
    changed = mode != d[MODE]
    if changed:
        d[PREV_MODE] = d[MODE]
        d[MODE] = mode
    d[CHANGED] = 1.0 if changed else 0.0
    return changed


#: the argument types of :func:`update` as the engine calls it (its native entry point)
UPDATE_ARGS = (types.float64[::1], types.float64[:, ::1], types.int64, types.float64, types.boolean, types.float64)


# numba checks only this file: an edit of the decay rule recompiles the update
drop_stale_caches(update, (inputs,))
