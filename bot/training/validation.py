"""Deterministic evaluation of a model on the whole validation split (one env, episodes in order, no random starts).

The split is covered gap-free run by gap-free run (``TradingEnv.evaluation_episodes``); the Sharpe ratio is computed
over the concatenated per-bar returns of all runs, annualised like the env's own episode Sharpe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from sb3_contrib import MaskablePPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from bot.config import TIMEFRAME_MS, BotConfig
from bot.data.types import Dataset
from bot.env import make_env
from bot.env.stats import YEAR_MS, sharpe_ratio


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """Metrics of one validation pass.

    :param sharpe: annualised Sharpe ratio of the per-bar equity returns.
    :param total_return: compounded return over the split (fraction).
    :param max_drawdown: largest drawdown of any episode (fraction).
    :param trades: closed trades.
    :param fees: fees paid (quote).
    :param steps: bars traded.
    """

    sharpe: float
    total_return: float
    max_drawdown: float
    trades: int
    fees: float
    steps: int

    def as_dict(self) -> dict[str, float]:
        """Plain floats for manifests, TensorBoard and events."""
        return {
            "sharpe": self.sharpe,
            "total_return": self.total_return,
            "max_drawdown": self.max_drawdown,
            "trades": float(self.trades),
            "fees": self.fees,
            "steps": float(self.steps),
        }


def make_validation_env(cfg: BotConfig, dataset: Dataset, split: str = "validation") -> gym.Env[Any, Any]:
    """One env over ``split`` with sequential (not random) episodes.

    The drawdown termination is lifted (as ``bot evaluate`` does), so every model is scored on the same bars; only
    bankruptcy ends a validation run early.
    """
    eval_cfg = cfg.model_copy(deep=True)
    eval_cfg.env.random_start = False
    eval_cfg.env.max_drawdown = 1.0
    return make_env(eval_cfg, split=split, worker_id=-1, seed=cfg.seed, dataset=dataset)


def run_validation(
    model: BaseAlgorithm, env: gym.Env[Any, Any], vecnormalize: VecNormalize | None, base_timeframe: str
) -> ValidationResult:
    """Run ``model`` greedily over every evaluation episode of ``env`` and summarise.

    :param model: the policy (MaskablePPO gets the env's action masks).
    :param env: a :class:`~bot.env.TradingEnv` built by :func:`make_validation_env`.
    :param vecnormalize: training observation statistics to apply (not updated), or None.
    :param base_timeframe: bar length for annualising the Sharpe ratio.
    """
    is_maskable = isinstance(model, MaskablePPO)
    returns: list[float] = []
    max_drawdown = 0.0
    trades = 0
    fees = 0.0
    for episode in env.get_wrapper_attr("evaluation_episodes"):
        obs, _ = env.reset(options={"start_index": episode.start, "end_index": episode.stop})
        done = False
        info: dict[str, Any] = {}
        while not done:
            model_obs = vecnormalize.normalize_obs(obs) if vecnormalize is not None else obs
            if is_maskable:
                masks = env.get_wrapper_attr("action_masks")()
                action, _ = model.predict(model_obs, deterministic=True, action_masks=masks)  # type: ignore[call-arg]
            else:
                action, _ = model.predict(model_obs, deterministic=True)
            obs, _, terminated, truncated, info = env.step(action)
            returns.append(float(info["return"]))
            done = terminated or truncated
        max_drawdown = max(max_drawdown, float(info.get("max_drawdown", 0.0)))
        trades += int(info.get("trades", 0))
        fees += float(info.get("fees_paid", 0.0))
    rets = np.asarray(returns, np.float64)
    return ValidationResult(
        sharpe=sharpe_ratio(rets, YEAR_MS / TIMEFRAME_MS[base_timeframe]),
        total_return=float(np.prod(1.0 + rets) - 1.0),
        max_drawdown=max_drawdown,
        trades=trades,
        fees=fees,
        steps=int(rets.size),
    )
