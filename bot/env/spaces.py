"""Observation and action spaces of the trading env, and the mapping from an action to a target exposure.

Actions are target exposures, a fraction of equity: +1 fully long (times ``portfolio.leverage`` on perpetuals),
0 flat, -1 fully short. ``env.action_type=discrete`` offers the levels of ``env.exposure_levels`` (default
``[-1, 0, 1]`` on perpetuals, ``[0, 1]`` on spot) as ``Discrete(n)``; ``continuous`` offers ``Box(-1, 1, (1,))``.

With ``env.action_mode=delta`` (discrete only) the actions are moves relative to the level held: ``Discrete(4)`` =
hold, step up one level, step down one level, flat. A step past the highest (lowest allowed) level is masked.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from bot.config import EnvConfig, PortfolioConfig
from bot.data import Dataset
from bot.errors import ConfigError

logger = logging.getLogger(__name__)

#: Names of the ``portfolio`` observation entries, in order (see ``TradingEnv`` for their definitions).
PORTFOLIO_FEATURES: tuple[str, ...] = (
    "exposure",
    "unrealized_pnl_frac",
    "cash_frac",
    "time_in_position",
    "drawdown",
    "dbe_defensive",
    "dbe_neutral",
    "dbe_aggressive",
    "dbe_stop_loss",
    "dbe_take_profit",
    "dbe_size",
    "equity_log_return",
)

DEFAULT_LEVELS: dict[str, tuple[float, ...]] = {"perpetual": (-1.0, 0.0, 1.0), "spot": (0.0, 1.0)}

#: Actions of ``env.action_mode=delta``, in order.
DELTA_ACTIONS: tuple[str, ...] = ("hold", "up", "down", "flat")
HOLD, UP, DOWN, FLAT = range(4)


#: The ``portfolio`` observation entries are clipped to [-PORTFOLIO_BOUND, PORTFOLIO_BOUND] (finite bounds; only the
#: exposure, PnL and cash fractions of an account close to bankruptcy ever reach them).
PORTFOLIO_BOUND = 10.0


def market_bound(dataset: Dataset) -> float:
    """Bound of the market observation: the scaler's clip, else (hand-built datasets) the largest |value|."""
    if dataset.scaler is not None:
        return float(dataset.scaler.clip)
    return max(1.0, float(np.abs(dataset.obs_features).max()))


def observation_space(window: int, n_features: int, market_bound: float) -> spaces.Dict:
    """``Dict(market=Box[window, n_features], portfolio=Box[len(PORTFOLIO_FEATURES)])``, float32.

    :param window: rows of features per observation.
    :param n_features: columns of ``Dataset.obs_features``.
    :param market_bound: the market features lie in [-market_bound, market_bound] (the scaler's clip).
    """
    return spaces.Dict(
        {
            "market": spaces.Box(-market_bound, market_bound, shape=(window, n_features), dtype=np.float32),
            "portfolio": spaces.Box(
                -PORTFOLIO_BOUND, PORTFOLIO_BOUND, shape=(len(PORTFOLIO_FEATURES),), dtype=np.float32
            ),
        }
    )


class ActionMapper:
    """Turns a policy action into a target exposure and says which discrete actions are allowed.

    Spot accounts cannot go short: negative levels are masked in :meth:`action_masks`, and a masked level chosen
    anyway (Double-DQN ignores masks) or a negative continuous action is clipped to 0 (flat). Nothing else is ever
    masked: every level is executable, because the portfolio turns an order below ``portfolio.min_notional`` into
    no trade rather than an error.

    :param env_cfg: ``action_type`` and ``exposure_levels``.
    :param portfolio_cfg: ``market`` (spot or perpetual).
    :raises ConfigError: when every discrete level is short on a spot market.
    """

    def __init__(self, env_cfg: EnvConfig, portfolio_cfg: PortfolioConfig) -> None:
        self.is_discrete = env_cfg.action_type == "discrete"
        self.is_delta = env_cfg.action_mode == "delta"
        self.min_exposure = 0.0 if portfolio_cfg.market == "spot" else -1.0
        levels = env_cfg.exposure_levels
        self.levels: tuple[float, ...] = (
            tuple(float(x) for x in levels) if levels is not None else DEFAULT_LEVELS[portfolio_cfg.market]
        )
        if self.is_delta:
            # delta moves walk the allowed levels in ascending order
            self.levels = tuple(sorted(set(self.levels)))
        #: target exposure per discrete action, after clipping masked levels.
        self.targets: tuple[float, ...] = tuple(max(x, self.min_exposure) for x in self.levels)
        self._masks = np.array([x >= self.min_exposure for x in self.levels], dtype=bool)
        if self.is_discrete and not self._masks.any():
            raise ConfigError(
                f"env.exposure_levels={list(self.levels)} leaves no allowed action on portfolio.market=spot (spot "
                "cannot go short); include 0 and positive levels, e.g. [0, 0.5, 1], or use portfolio.market=perpetual"
            )
        if self.is_discrete and not self._masks.all():
            logger.info(
                "Spot market: short exposure levels %s are masked and execute as flat",
                [x for x in self.levels if x < self.min_exposure],
            )
        #: indices of the allowed levels (ascending for delta mode), and of the flat level 0 (None when absent).
        self.allowed: tuple[int, ...] = tuple(int(i) for i in np.flatnonzero(self._masks))
        self.flat_index: int | None = self.levels.index(0.0) if 0.0 in self.levels else None
        if self.is_delta:
            self.space: spaces.Space[Any] = spaces.Discrete(len(DELTA_ACTIONS))
        elif self.is_discrete:
            self.space = spaces.Discrete(len(self.levels))
        else:
            self.space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)

    def delta_level(self, level: int, action: Any) -> int:
        """The level index after a delta move from ``level`` (a masked move holds).

        :param level: index of the level held now.
        :param action: one of ``DELTA_ACTIONS``' indices.
        :raises ValueError: for an action outside ``Discrete(4)``.
        """
        move = self._delta_action(action)
        if move == HOLD:
            return level
        if move == FLAT:
            return self.flat_index if self.flat_index is not None else level
        allowed = self.allowed
        pos = allowed.index(level) if level in allowed else 0
        pos = pos + 1 if move == UP else pos - 1
        return allowed[pos] if 0 <= pos < len(allowed) else level

    def delta_masks(self, level: int) -> npt.NDArray[np.bool_]:
        """bool [4]: hold and flat always; up / down unless ``level`` is the highest / lowest allowed level."""
        allowed = self.allowed
        return np.array([True, level != allowed[-1], level != allowed[0], True], dtype=bool)

    def _delta_action(self, action: Any) -> int:
        value = np.asarray(action)
        first = value.reshape(-1)[0] if value.size == 1 else None
        if first is None or value.dtype.kind not in "iuf" or float(first) % 1.0 != 0.0 or not 0 <= first < 4:
            raise ValueError(f"action {action!r} must be one integer in [0, 4): {', '.join(DELTA_ACTIONS)}")
        return int(first)

    def action_masks(self) -> npt.NDArray[np.bool_]:
        """bool [n_actions]: True where the action is allowed (sb3-contrib ``MaskablePPO`` reads this).

        For a continuous action space there is one entry, always True.
        """
        if not self.is_discrete:
            return np.ones(1, dtype=bool)
        return self._masks.copy()

    def target(self, action: Any) -> float:
        """The target exposure of an action.

        :param action: an int (or NumPy integer) in ``[0, n)`` for discrete spaces; a float array of shape (1,) (or a
            float) for continuous ones, clipped to ``[-1, 1]`` (``[0, 1]`` on spot).
        :return: the target exposure, a Python float.
        :raises ValueError: for an action outside the discrete range, or a NaN or multi-valued continuous action.
        """
        return self._discrete_target(action) if self.is_discrete else self._continuous_target(action)

    def _discrete_target(self, action: Any) -> float:
        value = np.asarray(action)
        first = value.reshape(-1)[0] if value.size == 1 else None
        if first is None or value.dtype.kind not in "iuf" or float(first) % 1.0 != 0.0:
            raise ValueError(f"action {action!r} must be one integer in [0, {len(self.targets)})")
        index = int(first)
        if not 0 <= index < len(self.targets):
            raise ValueError(
                f"action {action!r} is outside the action space Discrete({len(self.targets)}); "
                f"levels are {list(self.levels)}"
            )
        return self.targets[index]

    def _continuous_target(self, action: Any) -> float:
        if type(action) is np.ndarray and action.shape == (1,):
            value = float(action[0])  # what SB3 passes: the fast path of the step
        else:
            values = np.asarray(action, dtype=np.float64).reshape(-1)
            if values.size != 1:
                raise ValueError(f"continuous action {action!r} must hold one target exposure in [-1, 1]")
            value = float(values[0])
        if math.isnan(value):
            raise ValueError(f"continuous action {action!r} is NaN; the policy produced an invalid action")
        return min(max(value, self.min_exposure), 1.0)
