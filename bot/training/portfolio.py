"""Training in ``env.mode: portfolio``: worker envs over the shared universe, the portfolio rollout loop and validation.

Every env of every worker holds the whole basket (one :class:`~bot.env.PortfolioEnv` each); with several workers the
universe travels as a :class:`~bot.training.shared_dataset.SharedUniverse` (arrays mapped read-only, never copied per
worker). Validation runs the deterministic policy over the whole validation split in one episode
(:func:`portfolio_rollout`, also the evaluation's loop) and scores the per-bar equity returns like the single-symbol
validation, so the best model is chosen by the same net Sharpe ratio.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from sb3_contrib import MaskablePPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from bot.config import TIMEFRAME_MS, BotConfig
from bot.data import Universe
from bot.env import PortfolioEnv
from bot.env.portfolio_env import Obs
from bot.portfolio import DAY_MS, cost_drag, periods_per_year, sharpe_ratio
from bot.training.shared_dataset import SharedUniverse
from bot.training.validation import ValidationResult


@dataclass(frozen=True)
class PortfolioEnvFactory:
    """Picklable ``factory(worker_id, n_envs)`` for :class:`~bot.training.vec_env.ParallelVecEnv`: K portfolio envs."""

    cfg: BotConfig
    universe: Universe | SharedUniverse
    split: str = "train"

    def __call__(self, worker_id: int, n_envs: int) -> list[gym.Env[Any, Any]]:
        universe = self.universe.get() if isinstance(self.universe, SharedUniverse) else self.universe
        return [PortfolioEnv(self.cfg, universe, self.split, worker_id) for _ in range(n_envs)]


def portfolio_validation_env(cfg: BotConfig, universe: Universe, split: str = "validation") -> PortfolioEnv:
    """One portfolio env over the whole ``split`` (no random starts, no drawdown termination: every model is scored
    on the same bars)."""
    eval_cfg = cfg.model_copy(deep=True)
    eval_cfg.env.random_start = False
    eval_cfg.env.max_drawdown = 1.0
    return PortfolioEnv(eval_cfg, universe, split, worker_id=-1, seed=cfg.seed)


@dataclass(frozen=True, slots=True)
class PortfolioMarks:
    """What a portfolio rollout leaves: one mark per bar.

    :param equity: float [n + 1] equity before the first bar, then after each bar.
    :param exposure: float [n, N] each symbol's signed exposure after each bar.
    :param summary: the env's end-of-episode ``info`` (costs, trades, drawdown ...).
    """

    equity: npt.NDArray[np.float64]
    exposure: npt.NDArray[np.float64]
    summary: dict[str, Any]


def portfolio_rollout(env: gym.Env[Any, Any], act: Callable[[Obs], Any]) -> PortfolioMarks:
    """Run ``act`` over the env's whole split in one episode (from its first decision bar to its end).

    :param env: a portfolio env (see :func:`portfolio_validation_env`), or a wrapper of one (the trainer's stop flag);
        its episode is reset here.
    :param act: observation -> action.
    """
    base = cast(PortfolioEnv, env.unwrapped)
    first, stop = base.decision_span
    obs, info = env.reset(options={"start_index": first, "end_index": stop})
    pm = base.portfolio
    equity = [pm.equity]
    exposure: list[npt.NDArray[np.float64]] = []
    done = False
    while not done:
        obs, _, terminated, truncated, info = env.step(act(obs))
        for _, eq, _ in base.step_marks:
            equity.append(eq)
            exposure.append(pm.exposure.copy())
        done = terminated or truncated
    marks = np.array(exposure, dtype=np.float64).reshape(-1, base.n_assets)
    return PortfolioMarks(np.asarray(equity, dtype=np.float64), marks, info)


def model_actor(
    model: BaseAlgorithm, vecnormalize: VecNormalize | None, env: gym.Env[Any, Any] | None = None
) -> Callable[[Obs], Any]:
    """``model.predict(deterministic=True)`` on (VecNormalize-normalised, not updated) single observations; a
    MaskablePPO model gets ``env``'s action masks at every step."""
    base = cast(PortfolioEnv, env.unwrapped) if env is not None else None
    maskable = model if isinstance(model, MaskablePPO) else None

    def act(obs: Obs) -> Any:
        seen = vecnormalize.normalize_obs(obs) if vecnormalize is not None else obs
        if maskable is not None and base is not None:
            action, _ = maskable.predict(seen, deterministic=True, action_masks=base.action_masks())
        else:
            action, _ = model.predict(seen, deterministic=True)
        return action

    return act


def validate_portfolio(
    model: BaseAlgorithm, env: gym.Env[Any, Any], vecnormalize: VecNormalize | None, base_timeframe: str
) -> ValidationResult:
    """The deterministic policy over ``env``'s split, summarised like the single-symbol validation."""
    run = portfolio_rollout(env, model_actor(model, vecnormalize, env))
    equity = run.equity
    previous = equity[:-1]
    rets = np.divide(equity[1:], previous, out=np.ones_like(previous), where=previous > 0.0) - 1.0
    info = run.summary
    initial = float(equity[0])
    costs = float(info.get("cost_share_equity", 0.0)) * initial
    trades = int(info.get("trades", 0))
    days = rets.size * TIMEFRAME_MS[base_timeframe] / DAY_MS
    return ValidationResult(
        sharpe=sharpe_ratio(rets, periods_per_year(base_timeframe)),
        total_return=float(equity[-1] / initial - 1.0),
        max_drawdown=float(info.get("max_drawdown", 0.0)),
        trades=trades,
        fees=float(info.get("fees_paid", 0.0)),
        steps=int(rets.size),
        turnover_per_day=float(info.get("turnover_per_day", 0.0)),
        cost_drag=cost_drag(costs, float(equity[-1]) - initial + costs),
        cost_share_equity=costs / initial,
        trades_per_day=trades / days if days else 0.0,
        avg_holding_bars=float(info.get("avg_holding_bars", 0.0)),
    )
