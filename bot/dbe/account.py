"""The account-level drawdown mode of a multi-asset portfolio (``env.mode: portfolio`` with ``dbe.enabled``).

Each asset of a basket has its own :class:`~bot.dbe.engine.DynamicBehaviorEngine` (its regime, its trade streaks);
the account's drawdown acts once, here, on every asset together:

- NORMAL while the drawdown it sees is below ``dbe.defensive_drawdown``: sizes x 1;
- DEFENSIVE from ``dbe.defensive_drawdown``: sizes x 0.5 (the defensive size multiplier of the single-asset DBE);
- CRITICAL from ``dbe.critical_drawdown`` (default twice the defensive level): sizes x 0.25.

The mode is a non-decreasing step function of the drawdown it sees, and the size scale a non-increasing one. That
drawdown decays like the single-asset DBE's (``dbe.drawdown_halflife_bars``, :func:`~bot.dbe.inputs.decayed_drawdown`),
so an account that does not recover returns to NORMAL after a few half-lives instead of trading at a quarter of its
size for the rest of the run. The account's own drawdown (and ``env.max_drawdown``) is untouched.
"""

from __future__ import annotations

import logging
from enum import IntEnum

from bot.config import DBEConfig
from bot.dbe.engine import SIZE_MULT, DBEMode
from bot.dbe.inputs import decayed_drawdown, drawdown_decay

logger = logging.getLogger(__name__)


class AccountMode(IntEnum):
    """The account's drawdown mode; its integer value (severity) is what ``info["account_mode"]`` carries."""

    NORMAL = 0
    DEFENSIVE = 1
    CRITICAL = 2


#: Size multiplier of every asset per account mode (NORMAL, DEFENSIVE, CRITICAL).
ACCOUNT_SIZE_MULT = (1.0, SIZE_MULT[DBEMode.DEFENSIVE], 0.25)


def account_mode(drawdown: float, defensive: float, critical: float) -> AccountMode:
    """The mode at ``drawdown`` for the thresholds ``defensive < critical`` (fractions)."""
    if drawdown >= critical:
        return AccountMode.CRITICAL
    if drawdown >= defensive:
        return AccountMode.DEFENSIVE
    return AccountMode.NORMAL


class AccountDrawdownMode:
    """Tracks the account mode bar by bar; see the module docstring for the rules.

    :param cfg: the dbe section (``defensive_drawdown``, ``critical_drawdown``, ``drawdown_halflife_bars``).

    Attributes after :meth:`update`: ``mode`` (an :class:`AccountMode`), ``scale`` (the size multiplier),
    ``drawdown`` (the decayed drawdown the mode was chosen from) and ``mode_changed``.
    """

    __slots__ = ("_critical", "_decay", "_defensive", "_ref", "drawdown", "mode", "mode_changed", "scale")

    def __init__(self, cfg: DBEConfig) -> None:
        self._defensive = float(cfg.defensive_drawdown)
        self._critical = cfg.critical_level
        self._decay = drawdown_decay(int(cfg.drawdown_halflife_bars))
        self.reset()

    def reset(self) -> None:
        """Start an episode: NORMAL, scale 1, no drawdown."""
        self._ref = 1.0
        self.drawdown = 0.0
        self.mode = AccountMode.NORMAL
        self.scale = ACCOUNT_SIZE_MULT[AccountMode.NORMAL]
        self.mode_changed = False

    def to_dict(self) -> dict[str, float]:
        """The state a live trader keeps across its restarts (:meth:`restore`)."""
        return {"ref": self._ref, "drawdown": self.drawdown, "mode": int(self.mode)}

    def restore(self, saved: dict[str, float]) -> None:
        """Continue from :meth:`to_dict`'s record."""
        self._ref, self.drawdown = float(saved["ref"]), float(saved["drawdown"])
        self.mode = AccountMode(int(saved["mode"]))
        self.scale = ACCOUNT_SIZE_MULT[self.mode]
        self.mode_changed = False

    def update(self, drawdown: float, bar: int) -> None:
        """Recompute the mode after a bar closed with the account at ``drawdown`` (fraction in [0, 1]).

        :param bar: the clock bar, for the mode-change log line.
        """
        if self._decay:
            self._ref, drawdown = decayed_drawdown(self._ref, drawdown, self._decay)
        self.drawdown = drawdown
        mode = account_mode(drawdown, self._defensive, self._critical)
        self.mode_changed = mode != self.mode
        if self.mode_changed:
            logger.info(
                "Account drawdown mode %s -> %s at clock bar %d (drawdown %.4f; sizes x %g)",
                self.mode.name,
                mode.name,
                bar,
                drawdown,
                ACCOUNT_SIZE_MULT[mode],
            )
            self.mode = mode
            self.scale = ACCOUNT_SIZE_MULT[mode]
