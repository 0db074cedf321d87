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
from bot.env.stats import YEAR_MS, cost_drag, sharpe_ratio


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """Metrics of one validation pass.

    :param sharpe: annualised Sharpe ratio of the per-bar equity returns.
    :param total_return: compounded return over the split (fraction).
    :param max_drawdown: largest drawdown of any episode (fraction).
    :param trades: closed trades.
    :param fees: fees paid (quote).
    :param steps: bars traded.
    :param turnover_per_day: notional traded / mean equity, per day (mean over the gap-free runs, bar-weighted).
    :param cost_drag: fees + slippage + funding as a share of the gross PnL (``inf`` without gross profit).
    :param cost_share_equity: the same costs as a share of the initial equity, summed over the runs.
    :param trades_per_day: closed trades per day.
    :param avg_holding_bars: mean bars held per closed trade.

    Every figure is net of costs; best-model selection uses the net ``sharpe``.
    """

    sharpe: float
    total_return: float
    max_drawdown: float
    trades: int
    fees: float
    steps: int
    turnover_per_day: float = 0.0
    cost_drag: float = 0.0
    cost_share_equity: float = 0.0
    trades_per_day: float = 0.0
    avg_holding_bars: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """Plain floats for manifests, TensorBoard and events."""
        return {
            "sharpe": self.sharpe,
            "total_return": self.total_return,
            "max_drawdown": self.max_drawdown,
            "trades": float(self.trades),
            "fees": self.fees,
            "steps": float(self.steps),
            "turnover_per_day": self.turnover_per_day,
            "cost_drag": self.cost_drag,
            "cost_share_equity": self.cost_share_equity,
            "trades_per_day": self.trades_per_day,
            "avg_holding_bars": self.avg_holding_bars,
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
    initial_cash = float(env.get_wrapper_attr("portfolio").initial_cash)
    returns: list[float] = []
    max_drawdown = 0.0
    trades = 0
    fees = 0.0
    costs = gross = turnover_bars = holding_bars = 0.0
    for episode in env.get_wrapper_attr("evaluation_episodes"):
        obs, info = env.reset(options={"start_index": episode.start, "end_index": episode.stop})
        done = False
        while not done:
            model_obs = vecnormalize.normalize_obs(obs) if vecnormalize is not None else obs
            if is_maskable:
                masks = env.get_wrapper_attr("action_masks")()
                action, _ = model.predict(model_obs, deterministic=True, action_masks=masks)  # type: ignore[call-arg]
            else:
                action, _ = model.predict(model_obs, deterministic=True)
            previous = float(info["equity"])
            obs, _, terminated, truncated, info = env.step(action)
            # per-bar returns: a step spans env.decision_every bars
            for _, equity, _, _ in env.get_wrapper_attr("step_marks"):
                returns.append(equity / previous - 1.0 if previous > 0.0 else 0.0)
                previous = equity
            done = terminated or truncated
        max_drawdown = max(max_drawdown, float(info.get("max_drawdown", 0.0)))
        trades += int(info.get("trades", 0))
        fees += float(info.get("fees_paid", 0.0))
        bars = float(info.get("episode_steps", 0))
        run_costs = float(info.get("cost_share_equity", 0.0)) * initial_cash
        costs += run_costs
        gross += float(info.get("final_equity", initial_cash)) - initial_cash + run_costs
        turnover_bars += float(info.get("turnover_per_day", 0.0)) * bars
        holding_bars += float(info.get("avg_holding_bars", 0.0)) * int(info.get("trades", 0))
    rets = np.asarray(returns, np.float64)
    days = rets.size * TIMEFRAME_MS[base_timeframe] / 86_400_000
    return ValidationResult(
        sharpe=sharpe_ratio(rets, YEAR_MS / TIMEFRAME_MS[base_timeframe]),
        total_return=float(np.prod(1.0 + rets) - 1.0),
        max_drawdown=max_drawdown,
        trades=trades,
        fees=fees,
        steps=int(rets.size),
        turnover_per_day=turnover_bars / rets.size if rets.size else 0.0,
        cost_drag=cost_drag(costs, gross),
        cost_share_equity=costs / initial_cash,
        trades_per_day=trades / days if days else 0.0,
        avg_holding_bars=holding_bars / trades if trades else 0.0,
    )
