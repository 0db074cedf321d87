"""Training in ``env.mode: universe``: worker envs over the shared universe, and validation on every symbol.

The trainer builds the :class:`~bot.data.universe.Universe` once; with several workers it travels as a
:class:`~bot.training.shared_dataset.SharedUniverse` (every symbol's arrays mapped read-only, never copied per
worker). Each worker's envs draw from the worker's own slice of the symbols (:func:`~bot.env.universe_env.
worker_symbols`), so the workers together see every symbol. Validation runs each symbol's validation split on its
own (one sequential single-symbol env each) and averages the results, so the best model is the best on average over
the symbols, not on whichever symbol a random draw picked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from bot.config import BotConfig
from bot.data import Dataset, FeatureScaler, SymbolScalers, Universe, build_dataset, build_universe
from bot.env import PortfolioEnv, UniverseEnv, symbol_config, worker_symbols
from bot.training.checkpoints import SCALER
from bot.training.portfolio import portfolio_validation_env, validate_portfolio
from bot.training.shared_dataset import SharedUniverse
from bot.training.validation import ValidationResult, make_validation_env, run_validation


def build_training_data(cfg: BotConfig, checkpoint: Path | None = None) -> Dataset | Universe:
    """What ``bot train`` trains on: the universe in ``env.mode: universe`` or ``portfolio``, else the one dataset.

    :param checkpoint: the checkpoint folder a resumed run continues from; its saved scalers are reused.
    """
    if cfg.env.mode in ("universe", "portfolio"):
        return build_universe(cfg, SymbolScalers.load(checkpoint) if checkpoint is not None else None)
    return build_dataset(cfg, FeatureScaler.load(checkpoint / SCALER) if checkpoint is not None else None)


@dataclass(frozen=True)
class UniverseEnvFactory:
    """Picklable ``factory(worker_id, n_envs)`` for :class:`~bot.training.vec_env.ParallelVecEnv`: K universe envs.

    With ``training.n_workers`` > 1 each worker's envs draw from that worker's slice of the symbols; one worker (or
    the layout probe, before the layout is chosen) draws from all of them.
    """

    cfg: BotConfig
    universe: Universe | SharedUniverse
    split: str = "train"

    def __call__(self, worker_id: int, n_envs: int) -> list[gym.Env[Any, Any]]:
        universe = self.universe.get() if isinstance(self.universe, SharedUniverse) else self.universe
        n_workers = self.cfg.training.n_workers
        symbols = None
        if isinstance(n_workers, int) and n_workers > 1:
            symbols = worker_symbols(len(universe.symbols), n_workers, worker_id)
        return [UniverseEnv(self.cfg, universe, self.split, worker_id, symbols=symbols) for _ in range(n_envs)]


def validation_envs(cfg: BotConfig, data: Dataset | Universe, split: str = "validation") -> list[gym.Env[Any, Any]]:
    """One sequential validation env per symbol of a universe, or the one of a dataset (see
    :func:`~bot.training.validation.make_validation_env`); in ``env.mode: portfolio`` the one env of the basket."""
    if isinstance(data, Universe) and cfg.env.mode == "portfolio":
        return [portfolio_validation_env(cfg, data, split)]
    if isinstance(data, Universe):
        # each symbol at its own costs (portfolio.assets), as in training
        return [
            make_validation_env(symbol_config(cfg, symbol), dataset, split)
            for symbol, dataset in zip(data.symbols, data.datasets, strict=True)
        ]
    return [make_validation_env(cfg, data, split)]


def mean_result(results: Sequence[ValidationResult]) -> ValidationResult:
    """Average of per-symbol validation results: means of the ratios and returns, the worst drawdown, summed
    counts (one result comes back unchanged)."""
    if len(results) == 1:
        return results[0]
    n = len(results)

    def mean(key: str) -> float:
        return sum(float(getattr(r, key)) for r in results) / n

    return ValidationResult(
        sharpe=mean("sharpe"),
        total_return=mean("total_return"),
        max_drawdown=max(r.max_drawdown for r in results),
        trades=sum(r.trades for r in results),
        fees=sum(r.fees for r in results),
        steps=sum(r.steps for r in results),
        turnover_per_day=mean("turnover_per_day"),
        cost_drag=mean("cost_drag"),
        cost_share_equity=mean("cost_share_equity"),
        trades_per_day=mean("trades_per_day"),
        avg_holding_bars=mean("avg_holding_bars"),
    )


def validator(
    model: BaseAlgorithm, envs: Sequence[gym.Env[Any, Any]], vecnormalize: VecNormalize | None, base_timeframe: str
) -> Callable[[], ValidationResult]:
    """The trainer's validation call: every env of ``envs`` (one per symbol, or the one of a single symbol) in turn,
    averaged with :func:`mean_result`; a portfolio env is scored by
    :func:`~bot.training.portfolio.validate_portfolio`."""

    def one(env: gym.Env[Any, Any]) -> ValidationResult:
        if isinstance(env.unwrapped, PortfolioEnv):
            return validate_portfolio(model, env, vecnormalize, base_timeframe)
        return run_validation(model, env, vecnormalize, base_timeframe)

    return lambda: mean_result([one(env) for env in envs])
