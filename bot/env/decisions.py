"""The agent's decision controls: what target the env holds after an action (issue: agents that survive costs).

One :class:`DecisionControls` per env. In order, for each action:

1. the action becomes a target exposure: a level (``env.action_mode=target``, discrete or continuous) or a move from
   the level held (``delta``: hold / step up / step down / flat, see :class:`~bot.env.spaces.ActionMapper`);
2. ``portfolio.min_holding_bars``: a position younger than this is not closed or reversed by the policy (the held
   target stays; stops, take profit, liquidation and max-holding exits still act inside the portfolio);
3. ``env.rebalance_threshold``: a no-trade band; a new target within the band of the held one keeps the held one;
4. the DBE's size fraction is taken when the target changes or the account is flat (a new entry), and kept while the
   position is held, so a DBE mode change alone never trades.

:class:`ObservationReferences` keeps the equity references of the portfolio observation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

from bot.config import BotConfig
from bot.env.spaces import ActionMapper
from bot.kernel_cache import announce_compiles

announce_compiles()

# slots of ObservationReferences.values
REFERENCE, PEAK, SINCE, HORIZON = range(4)


class DecisionControls:
    """Turns actions into the held target exposure and size, and masks the actions the controls forbid.

    :param cfg: ``env.rebalance_threshold``, ``portfolio.min_holding_bars``.
    :param actions: the env's action mapper.
    """

    __slots__ = ("_band", "_flat_level", "_min_hold", "actions", "level", "size", "target")

    def __init__(self, cfg: BotConfig, actions: ActionMapper) -> None:
        self.actions = actions
        self._band = float(cfg.env.rebalance_threshold)
        self._min_hold = int(cfg.portfolio.min_holding_bars)
        self._flat_level = actions.flat_index if actions.flat_index is not None else 0
        self.reset(1.0)

    def reset(self, size_fraction: float) -> None:
        """Flat at the start of an episode; ``size_fraction`` is the DBE's current size."""
        #: the held target exposure, its level index (delta mode) and the size fraction used for it.
        self.target = 0.0
        self.level = self._flat_level
        self.size = size_fraction

    def decide(self, action: Any, position_qty: float, bars_in_position: int, dbe_size: float) -> float:
        """The target exposure to hold after ``action`` (see the module docstring for the rules).

        The env and the live trader call this with their account's figures, so both hold the same targets.

        :param action: the policy's action.
        :param position_qty: the signed position now (base asset).
        :param bars_in_position: bars the position has been held.
        :param dbe_size: the DBE's size fraction now.
        :raises ValueError: for an action outside the action space.
        """
        actions = self.actions
        level = -1
        if actions.is_delta:
            level = actions.delta_level(self.level, action)
            target = actions.targets[level]
        elif actions.is_discrete:
            try:
                target = actions.targets[action] if action >= 0 else actions.target(action)
            except (IndexError, TypeError, ValueError):  # not a plain in-range int: the mapper says what is wrong
                target = actions.target(action)
        else:
            target = actions.target(action)
        held = self.target
        qty = position_qty
        if self._is_young(qty, bars_in_position) and (target <= 0.0 if qty > 0.0 else target >= 0.0):
            return held
        if self._band and target != held and abs(target - held) <= self._band:
            return held
        if target != held or qty == 0.0:
            self.size = dbe_size
        self.target = target
        if level >= 0:
            self.level = level
        return target

    def masks(self, position_qty: float, bars_in_position: int) -> npt.NDArray[np.bool_]:
        """bool [n_actions]: spot's short levels, delta moves past the top or bottom level, and the levels that
        would close or reverse a position younger than ``portfolio.min_holding_bars``."""
        actions = self.actions
        if actions.is_delta:
            return actions.delta_masks(self.level)
        masks = actions.action_masks()
        if actions.is_discrete and self._is_young(position_qty, bars_in_position):
            sign = 1.0 if position_qty > 0.0 else -1.0
            masks &= np.array([x * sign > 0.0 for x in actions.targets], dtype=bool)
        return masks

    def _is_young(self, position_qty: float, bars_in_position: int) -> bool:
        return bool(self._min_hold) and position_qty != 0.0 and bars_in_position < self._min_hold


class ObservationReferences:
    """Reference equity and peak of the portfolio observation, restarted every ``horizon`` bars.

    Training episodes last at most ``env.episode_length x env.decision_every`` bars, so the horizon never cuts a
    training episode; a months-long evaluation run restarts the references at the same span, which keeps its
    ``drawdown`` and ``equity_log_return`` observations in the ranges training showed the agent.

    The references live in ``values`` (float64, slots ``REFERENCE``, ``PEAK``, ``SINCE``, ``HORIZON``), which the
    env's step kernel updates with the same :func:`update_references` as :meth:`update`.

    :param horizon: bars between restarts.
    """

    __slots__ = ("values",)

    def __init__(self, horizon: int) -> None:
        self.values = np.zeros(4)
        self.values[HORIZON] = horizon
        self.reset(0, 1.0)

    @property
    def horizon(self) -> int:
        """Bars between restarts."""
        return int(self.values.item(HORIZON))

    @property
    def reference(self) -> float:
        """The equity that ``equity_log_return`` is measured from."""
        return self.values.item(REFERENCE)

    @property
    def peak(self) -> float:
        """The peak equity that ``drawdown`` is measured from."""
        return self.values.item(PEAK)

    def reset(self, row: int, equity: float) -> None:
        """Restart at ``row`` with ``equity`` as both references."""
        v = self.values
        v[REFERENCE] = v[PEAK] = equity
        v[SINCE] = row

    def update(self, row: int, equity: float) -> None:
        """After the bar ``row`` closed with ``equity``."""
        update_references(self.values, int(row), float(equity))

    def drawdown(self, equity: float) -> float:
        """``1 - equity / peak`` (0 at a new peak)."""
        peak = self.peak
        return 1.0 - equity / peak if equity < peak else 0.0

    def to_dict(self) -> dict[str, float]:
        """The references and the row they restarted at (the live trader keeps them across its restarts)."""
        return {"since": int(self.values.item(SINCE)), "reference": self.reference, "peak": self.peak}

    def restore(self, saved: dict[str, float]) -> None:
        """Continue from :meth:`to_dict`'s record."""
        v = self.values
        v[SINCE], v[REFERENCE], v[PEAK] = int(saved["since"]), float(saved["reference"]), float(saved["peak"])


@njit(cache=True)
def update_references(v: Any, row: int, equity: float) -> None:
    """:meth:`ObservationReferences.update` on its ``values``: restart the references when ``horizon`` bars have
    passed since the last restart (at ``equity``, unless the account is at or below 0), else raise the peak."""
    if row - v[SINCE] >= v[HORIZON]:
        if equity > 0.0:
            v[REFERENCE] = equity
            v[PEAK] = equity
        v[SINCE] = row
    elif equity > v[PEAK]:
        v[PEAK] = equity
