"""Reward functions of the trading env and their registry (``env.reward`` in the config names one).

Every reward is computed from the portfolio's equity, which is already net of fees, slippage and funding, so trading
costs are always inside the reward. Each value is multiplied by ``env.reward_scale``. Rewards are called once per
step with plain Python floats (the env's hot path), and keep their own state between :meth:`Reward.reset` calls.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from typing import ClassVar

from bot.config import EnvConfig
from bot.errors import ConfigError

logger = logging.getLogger(__name__)

#: Smallest equity ratio fed to ``log``: a wipe-out (equity <= 0) gives ``log(1e-4) ~ -9.2`` instead of ``-inf``.
MIN_EQUITY_RATIO = 1e-4


def _log_ratio(prev_equity: float, equity: float) -> float:
    """``log(equity / prev_equity)``, floored at ``log(MIN_EQUITY_RATIO)`` so a wipe-out stays finite."""
    if prev_equity <= 0.0:
        return math.log(MIN_EQUITY_RATIO)
    ratio = equity / prev_equity
    return math.log(ratio if ratio > MIN_EQUITY_RATIO else MIN_EQUITY_RATIO)


class Reward(ABC):
    """Base class: ``reward(prev_equity, equity, prev_drawdown, drawdown) -> float`` (already scaled).

    :param cfg: the env section; subclasses read their own parameters from it.
    """

    #: registry name, the value of ``env.reward``.
    name: ClassVar[str]

    def __init__(self, cfg: EnvConfig) -> None:
        self.scale = float(cfg.reward_scale)

    def reset(self) -> None:  # noqa: B027 - optional hook: stateless rewards keep this no-op
        """Forget the state of the previous episode (called by ``TradingEnv.reset``)."""

    @abstractmethod
    def __call__(self, prev_equity: float, equity: float, prev_drawdown: float, drawdown: float) -> float:
        """The scaled reward of one step.

        :param prev_equity: equity (quote) at the previous observation, the close of bar t.
        :param equity: equity at this observation, the close of bar t+1, net of all costs.
        :param prev_drawdown: drawdown from the running peak (fraction, >= 0) at the previous observation.
        :param drawdown: drawdown at this observation.
        :return: the reward, multiplied by ``reward_scale``.
        """


class LogReturnReward(Reward):
    """``reward_scale * log(equity_t / equity_{t-1})``: summed over an episode it is ``log(final / initial)``."""

    name = "log_return"

    def __call__(self, prev_equity: float, equity: float, prev_drawdown: float, drawdown: float) -> float:
        # the common case inline (this runs every step); _log_ratio handles the floor
        if prev_equity > 0.0 and equity > MIN_EQUITY_RATIO * prev_equity:
            return self.scale * math.log(equity / prev_equity)
        return self.scale * _log_ratio(prev_equity, equity)


class DrawdownPenalizedReward(Reward):
    """Log return minus ``drawdown_penalty`` times the increase of the drawdown (recoveries are not rewarded twice).

    ``reward_scale * (log(equity_t / equity_{t-1}) - drawdown_penalty * max(0, dd_t - dd_{t-1}))``.
    """

    name = "drawdown_penalized"

    def __init__(self, cfg: EnvConfig) -> None:
        super().__init__(cfg)
        self.penalty = float(cfg.drawdown_penalty)

    def __call__(self, prev_equity: float, equity: float, prev_drawdown: float, drawdown: float) -> float:
        increase = drawdown - prev_drawdown
        penalty = self.penalty * increase if increase > 0.0 else 0.0
        return self.scale * (_log_ratio(prev_equity, equity) - penalty)


class DifferentialSharpeReward(Reward):
    """Differential Sharpe ratio of Moody & Saffell (1998, "Reinforcement learning for trading").

    With the simple return ``R_t = equity_t / equity_{t-1} - 1`` and exponential moving estimates of its first and
    second moments ``A_t = A_{t-1} + eta (R_t - A_{t-1})``, ``B_t = B_{t-1} + eta (R_t^2 - B_{t-1})``,

    ``D_t = (B_{t-1} dA_t - A_{t-1} dB_t / 2) / (B_{t-1} - A_{t-1}^2)^(3/2)``, with ``dA_t = R_t - A_{t-1}`` and
    ``dB_t = R_t^2 - B_{t-1}``.

    The reward is ``reward_scale * eta * D_t``: the first-order change of the moving Sharpe ratio in this step
    (``S_t ~ S_{t-1} + eta D_t``), which keeps its size comparable to a log return for the same ``reward_scale``.
    While the variance estimate ``B - A^2`` is not positive (the start of an episode, or a flat account with zero
    returns) the reward is 0 and only the moments are updated. ``eta`` is ``env.sharpe_eta``.
    """

    name = "differential_sharpe"

    #: variance estimates at or below this count as zero (no Sharpe ratio defined yet).
    _MIN_VARIANCE = 1e-18

    def __init__(self, cfg: EnvConfig) -> None:
        super().__init__(cfg)
        self.eta = float(cfg.sharpe_eta)
        self.mean = 0.0
        self.second_moment = 0.0

    def reset(self) -> None:
        self.mean = 0.0
        self.second_moment = 0.0

    def __call__(self, prev_equity: float, equity: float, prev_drawdown: float, drawdown: float) -> float:
        ret = equity / prev_equity - 1.0 if prev_equity > 0.0 else -1.0
        mean, second = self.mean, self.second_moment
        delta_mean = ret - mean
        delta_second = ret * ret - second
        variance = second - mean * mean
        if variance > self._MIN_VARIANCE:
            dsr = (second * delta_mean - 0.5 * mean * delta_second) / (variance * math.sqrt(variance))
        else:
            dsr = 0.0
        self.mean = mean + self.eta * delta_mean
        self.second_moment = second + self.eta * delta_second
        return self.scale * self.eta * dsr


#: name -> reward class; ``env.reward`` selects one.
REWARDS: dict[str, type[Reward]] = {
    cls.name: cls for cls in (LogReturnReward, DifferentialSharpeReward, DrawdownPenalizedReward)
}


def make_reward(name: str, cfg: EnvConfig) -> Reward:
    """Instantiate the reward registered under ``name``.

    :param name: a key of :data:`REWARDS`, usually ``cfg.reward``.
    :param cfg: the env section (reward_scale, drawdown_penalty, sharpe_eta).
    :return: a fresh reward object.
    :raises ConfigError: when ``name`` is not registered; the message lists the choices.
    """
    try:
        cls = REWARDS[name]
    except KeyError:
        choices = ", ".join(sorted(REWARDS))
        raise ConfigError(f"env.reward={name!r} is not a known reward; choose one of: {choices}") from None
    logger.debug("Reward %s with scale %s", name, cfg.reward_scale)
    return cls(cfg)
