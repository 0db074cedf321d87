"""Deterministic evaluation of a model on the whole validation split (one env, episodes in order, no random starts).

The split is covered gap-free run by gap-free run (``TradingEnv.evaluation_episodes``) with the rollout loop of the
backtest (:func:`bot.training.rollout.run_episode`); the Sharpe ratio is computed over the concatenated per-bar
returns of all runs, annualised like the env's own episode Sharpe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from bot.config import TIMEFRAME_MS, BotConfig
from bot.data import Dataset
from bot.env import TradingEnv, make_env
from bot.portfolio import DAY_MS, cost_drag, periods_per_year, sharpe_ratio
from bot.training.policy import Policy, make_policy
from bot.training.rollout import run_episode


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
    model: BaseAlgorithm,
    env: gym.Env[Any, Any],
    vecnormalize: VecNormalize | None,
    base_timeframe: str,
    fast: bool = True,
) -> ValidationResult:
    """Run ``model`` greedily over every evaluation episode of ``env`` and summarise.

    The policy is :func:`~bot.training.policy.make_policy`'s (the batched exact MLP path when the model allows it:
    the same actions as ``model.predict``), rebuilt on every call because the weights change between validations.

    :param model: the SB3 model (MaskablePPO gets the env's action masks).
    :param env: a :class:`~bot.env.TradingEnv` built by :func:`make_validation_env`, or a wrapper of one.
    :param vecnormalize: training observation statistics to apply (not updated), or None.
    :param base_timeframe: bar length for annualising the Sharpe ratio.
    :param fast: allow the batched path.
    """
    trading_env = cast(TradingEnv, env.unwrapped)
    episodes = trading_env.evaluation_episodes
    rows = range(episodes[0].start, episodes[-1].stop)
    obs_features = trading_env.dataset.obs_features
    policy = make_policy(model, vecnormalize, obs_features, trading_env.window, rows, trading_env.action_masks, fast)
    return validate_policy(policy, env, base_timeframe)


def validate_policy(policy: Policy, env: gym.Env[Any, Any], base_timeframe: str) -> ValidationResult:
    """Run ``policy`` over every evaluation episode of ``env`` (:func:`~bot.training.rollout.run_episode`) and
    summarise the runs (see :class:`ValidationResult`).

    :param policy: the deterministic policy.
    :param env: a :class:`~bot.env.TradingEnv` built by :func:`make_validation_env`, or a wrapper of one.
    :param base_timeframe: bar length for annualising the Sharpe ratio.
    """
    trading_env = cast(TradingEnv, env.unwrapped)
    initial_cash = float(trading_env.portfolio.initial_cash)
    returns: list[npt.NDArray[np.float64]] = []
    max_drawdown = 0.0
    trades = 0
    fees = 0.0
    costs = gross = turnover_bars = holding_bars = 0.0
    for episode in trading_env.evaluation_episodes:
        segment = run_episode(env, policy, episode)
        returns.append(_bar_returns(segment.equity))
        info = segment.summary
        max_drawdown = max(max_drawdown, float(info.get("max_drawdown", 0.0)))
        trades += int(info.get("trades", 0))
        fees += float(info.get("fees_paid", 0.0))
        bars = float(info.get("episode_steps", 0))
        run_costs = float(info.get("cost_share_equity", 0.0)) * initial_cash
        costs += run_costs
        gross += float(info.get("final_equity", initial_cash)) - initial_cash + run_costs
        turnover_bars += float(info.get("turnover_per_day", 0.0)) * bars
        holding_bars += float(info.get("avg_holding_bars", 0.0)) * int(info.get("trades", 0))
    rets = np.concatenate(returns) if returns else np.zeros(0, np.float64)
    days = rets.size * TIMEFRAME_MS[base_timeframe] / DAY_MS
    return ValidationResult(
        sharpe=sharpe_ratio(rets, periods_per_year(base_timeframe)),
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


def _bar_returns(equity: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """float64 [m - 1] simple per-bar returns of a run's marks; 0 after a mark at or below zero equity."""
    previous = equity[:-1]
    ratio = np.divide(equity[1:], previous, out=np.ones_like(previous), where=previous > 0.0)
    return ratio - 1.0
