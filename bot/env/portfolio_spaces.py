"""Spaces of ``env.mode: portfolio`` and the mapping from a policy action to the basket's target weights.

Observation ``Dict`` (float32):

- ``market`` [N, window, n_features]: each symbol's last ``window`` rows of normalised features (its own scaler),
  oldest first; all zeros for a symbol that cannot be observed at this bar (a gap or warm-up in its window).
- ``assets`` [N, 4], per symbol (:data:`ASSET_FEATURES`): ``tradable`` (1 when it may be traded at this decision),
  ``exposure`` (signed notional / equity), ``unrealized_pnl_frac`` (its unrealised PnL / equity) and
  ``time_in_position`` (bars held / episode length in bars, capped at 1).
- ``account`` [4] (:data:`ACCOUNT_FEATURES`): ``cash_frac`` (cash / equity), ``gross_exposure`` (sum of
  |notional| / equity), ``drawdown`` and ``equity_log_return`` (log of equity over the episode's first equity).

Fractions are clipped to +-``PORTFOLIO_BOUND``, as in the single-symbol env.

Actions: ``env.action_type: continuous`` is ``Box(-1, 1, (N,))``; the weights are the action scaled down, when its
gross ``sum(|a|)`` exceeds 1, to a gross of 1 (so the gross exposure never exceeds ``portfolio.leverage``).
``discrete`` is ``MultiDiscrete([L] * N)`` over the levels of ``env.exposure_levels``, mapped the same way (one
asset at level 1 and the rest flat puts the whole book on it). Spot accounts cannot short: negative levels are masked
and negative weights execute as 0. A symbol that cannot be traded at a decision keeps its current order: in the
discrete masks only its last level is allowed, and its weight does not reach the account (which would not trade it).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from gymnasium import spaces
from numba import njit

from bot.config import BotConfig
from bot.env.spaces import DEFAULT_LEVELS, PORTFOLIO_BOUND
from bot.errors import ConfigError
from bot.kernel_cache import drop_stale_caches
from bot.portfolio import basket_kernel, fees
from bot.portfolio.basket_kernel import total

#: Names of the per-asset observation columns, in order.
ASSET_FEATURES: tuple[str, ...] = ("tradable", "exposure", "unrealized_pnl_frac", "time_in_position")
#: Names of the account observation entries, in order.
ACCOUNT_FEATURES: tuple[str, ...] = ("cash_frac", "gross_exposure", "drawdown", "equity_log_return")


def portfolio_observation_space(n_assets: int, window: int, n_features: int, market_bound: float) -> spaces.Dict:
    """``Dict(market=[N, window, F], assets=[N, 4], account=[4])``, float32."""
    b = PORTFOLIO_BOUND
    return spaces.Dict(
        {
            "market": spaces.Box(-market_bound, market_bound, (n_assets, window, n_features), np.float32),
            "assets": spaces.Box(-b, b, (n_assets, len(ASSET_FEATURES)), np.float32),
            "account": spaces.Box(-b, b, (len(ACCOUNT_FEATURES),), np.float32),
        }
    )


class WeightMapper:
    """Turns a portfolio action into target weights (gross <= 1) and gives the discrete action masks.

    :param cfg: ``env.action_type``, ``env.exposure_levels`` and ``portfolio.market``.
    :param symbols: the basket's symbols (error messages name them).
    :raises ConfigError: when every discrete level is short on a spot market.
    """

    def __init__(self, cfg: BotConfig, symbols: tuple[str, ...]) -> None:
        self.symbols = symbols
        self.n = len(symbols)
        self.is_discrete = cfg.env.action_type == "discrete"
        self.min_weight = 0.0 if cfg.portfolio.market == "spot" else -1.0
        levels = cfg.env.exposure_levels
        self.levels = np.array(levels if levels is not None else DEFAULT_LEVELS[cfg.portfolio.market], np.float64)
        allowed = self.levels >= self.min_weight
        if self.is_discrete and not allowed.any():
            raise ConfigError(
                f"env.exposure_levels={self.levels.tolist()} leaves no allowed level on portfolio.market=spot (spot"
                " cannot go short); include 0 and positive levels"
            )
        self._allowed = allowed
        #: index of the level each asset's last action chose (the only one a blocked asset may keep).
        self.flat_level = int(np.argmin(np.abs(self.levels)))
        self.space: spaces.Space[Any]
        if self.is_discrete:
            self.space = spaces.MultiDiscrete(np.full(self.n, self.levels.size, dtype=np.int64))
        else:
            self.space = spaces.Box(-1.0, 1.0, (self.n,), np.float32)

    def weights(self, action: Any) -> npt.NDArray[np.float64]:
        """float [N] target weights of ``action``, with ``sum(|w|) <= 1``.

        :raises ValueError: naming the symbol and value of a NaN weight, or an action of the wrong shape or range.
        """
        if self.is_discrete:
            index = np.asarray(action)
            if (
                index.shape != (self.n,)
                or index.dtype.kind not in "iu"
                or not ((index >= 0) & (index < self.levels.size)).all()
            ):
                raise ValueError(
                    f"action {action!r} must be {self.n} level indices in [0, {self.levels.size}) (levels"
                    f" {self.levels.tolist()}, one per symbol of {list(self.symbols)})"
                )
            raw = self.levels[index]
        else:
            raw = np.asarray(action, dtype=np.float64)
            if raw.shape != (self.n,):
                raise ValueError(f"action {action!r} must hold one weight per symbol of {list(self.symbols)}")
        w = np.empty(self.n)
        if not _clipped_weights(raw, self.min_weight, w):
            values = raw.tolist()
            i = next(i for i, x in enumerate(values) if math.isnan(x))
            raise ValueError(
                f"the policy's weight for {self.symbols[i]} is NaN (weights {values}); the policy produced an"
                " invalid action"
            )
        return w

    def masks(self, tradable: npt.NDArray[np.bool_], last_index: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """bool [N * L], the flat MultiDiscrete masks (sb3-contrib's layout): every allowed level of a tradable
        symbol; only its last level for a symbol that cannot be traded now."""
        masks = np.broadcast_to(self._allowed, (self.n, self.levels.size)).copy()
        blocked = np.flatnonzero(~tradable)
        masks[blocked] = False
        masks[blocked, last_index[blocked]] = True
        return masks.reshape(-1)


@njit(cache=True)
def _clipped_weights(raw: npt.NDArray[np.float64], low: float, out: npt.NDArray[np.float64]) -> bool:
    """Write ``raw`` clipped to [``low``, 1] into ``out``, scaled down to a gross ``sum(|w|)`` of 1 when above it.

    Compiled: a few NumPy calls on N values cost more than the step's other work. Clipping has Python's
    ``min(max(x, low), 1.0)`` semantics, the gross NumPy's summation order.

    :return: False (``out`` unspecified) when ``raw`` holds a NaN.
    """
    n = raw.shape[0]
    size = np.empty(n)
    for i in range(n):
        x = raw[i]
        if x != x:
            return False
        x = low if low > x else x
        out[i] = 1.0 if x > 1.0 else x
        size[i] = abs(out[i])
    gross = total(size)
    if gross > 1.0:
        for i in range(n):
            out[i] = out[i] / gross
    return True


# the modules whose kernels and constants these compile in (numba checks only this file)
drop_stale_caches(_clipped_weights, [basket_kernel, fees])
