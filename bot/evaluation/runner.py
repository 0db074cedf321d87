"""Evaluate a model on one split: the agent and every baseline on the same bars and costs, and again with zero costs."""

from __future__ import annotations

import logging
from typing import Any

from stable_baselines3.common.vec_env import VecNormalize

from bot.config import BotConfig
from bot.data import Dataset
from bot.env import TradingEnv, make_env
from bot.errors import SchemaMismatchError
from bot.evaluation.backtest import decision_rows, episode_rows, evaluation_config, run_agent
from bot.evaluation.baselines import (
    agent_pace,
    buy_and_hold,
    flat,
    ma_crossover_runs,
    random_baseline,
    run_exposures,
)
from bot.evaluation.results import BacktestResult, EvaluationReport
from bot.training import FastLstmPolicy, FastMlpPolicy, Model, PredictPolicy, SupervisedPolicy, make_policy

logger = logging.getLogger(__name__)


def _shapes(space: Any) -> dict[str, tuple[int, ...]]:
    return {key: tuple(sub.shape or ()) for key, sub in getattr(space, "spaces", {"obs": space}).items()}


def check_spaces(model: Model, env: TradingEnv, checkpoint: str) -> None:
    """Refuse a model whose observation or action space differs from the env's (before torch fails obscurely).

    :raises SchemaMismatchError: naming both shapes and the config keys that decide them.
    """
    want, have = _shapes(model.observation_space), _shapes(env.observation_space)
    if want != have:
        raise SchemaMismatchError(
            f"checkpoint {checkpoint} expects observations {want}, but the data and config give {have}; use the"
            " checkpoint's env.window, data.timeframes and features settings (drop the --set overrides that change"
            " them)"
        )
    if model.action_space != env.action_space:
        raise SchemaMismatchError(
            f"checkpoint {checkpoint} acts in {model.action_space}, but the config gives {env.action_space}; use the"
            " checkpoint's env.action_type, env.exposure_levels and portfolio.market"
        )


def run_baselines(env: TradingEnv, cfg: BotConfig) -> dict[str, BacktestResult]:
    """Buy-and-hold, flat and the moving-average crossover over the env's evaluation episodes (same bars, costs).

    :param env: the evaluation env (its episodes and market define the bars).
    :param cfg: the evaluation config (``portfolio`` costs, ``evaluation`` MA windows and risk-free rate).
    """
    market = env.dataset.market
    runs = episode_rows(env)
    tf = cfg.data.base_timeframe
    rf = cfg.evaluation.risk_free_rate
    can_short = cfg.portfolio.market == "perpetual"
    ev = cfg.evaluation
    series = {
        "buy_and_hold": [buy_and_hold(len(r)) for r in runs],
        "flat": [flat(len(r)) for r in runs],
        f"ma_crossover_{ev.ma_fast}_{ev.ma_slow}": ma_crossover_runs(market, runs, ev.ma_fast, ev.ma_slow, can_short),
    }
    return {name: run_exposures(market, runs, s, cfg.portfolio, name, tf, rf) for name, s in series.items()}


def backtest_split(
    cfg: BotConfig,
    dataset: Dataset,
    split: str,
    model: Model,
    vecnormalize: VecNormalize | None,
    checkpoint: str,
    fast: bool = True,
) -> tuple[TradingEnv, BacktestResult, str]:
    """The agent's deterministic backtest over ``split`` in a TradingEnv built from ``cfg``.

    :param cfg: an :func:`~bot.evaluation.backtest.evaluation_config`.
    :return: the env (for the baselines), the agent's result, and how the actions were computed.
    :raises SchemaMismatchError: when the model's spaces differ from the env's.
    """
    env = make_env(cfg, split, worker_id=-1, seed=cfg.seed, dataset=dataset)
    check_spaces(model, env, checkpoint)
    policy = make_policy(
        model, vecnormalize, dataset.obs_features, cfg.env.window, decision_rows(env), env.action_masks, fast
    )
    result = run_agent(env, policy, "agent", cfg.evaluation.risk_free_rate)
    if isinstance(policy, FastMlpPolicy):
        how = f"batched exact MLP inference ({policy.n_fallbacks} near-tied steps decided by model.predict)"
    elif isinstance(policy, SupervisedPolicy):
        how = f"{policy.model.algo} predict_proba in one batch, threshold {policy.model.threshold:g} on P(up)"
    elif isinstance(policy, FastLstmPolicy):
        how = (
            "exact NumPy LSTM step, the LSTM state carried through each gap-free run"
            f" ({policy.n_fallbacks} near-tied steps decided by the torch step)"
        )
    elif isinstance(policy, PredictPolicy) and policy.recurrent:
        how = f"torch LSTM step per decision, the LSTM state carried through each gap-free run ({policy.why_slow})"
    else:
        how = "model.predict per step"
    return env, result, how


def evaluate_model(
    cfg: BotConfig,
    dataset: Dataset,
    model: Model,
    vecnormalize: VecNormalize | None,
    split: str,
    checkpoint: str,
    fees_off: bool = False,
    fast: bool = True,
) -> EvaluationReport:
    """Backtest the deterministic policy and the baselines on ``split``, with the configured costs and with none.

    :param cfg: the config (the checkpoint's plus overrides); costs and windows come from it.
    :param dataset: built with the checkpoint's scaler.
    :param model: the loaded SB3 model or supervised baseline.
    :param vecnormalize: its observation normalisation, or None.
    :param split: ``train``, ``validation`` or ``test``.
    :param checkpoint: label of the checkpoint for the report.
    :param fees_off: evaluate with zero fees and slippage only.
    :param fast: allow the batched exact inference path.
    :raises SchemaMismatchError: when the model's spaces differ from the env's.
    """
    variants = [True] if fees_off else [False, True]
    report: EvaluationReport | None = None
    for zero_costs in variants:
        ecfg = evaluation_config(cfg, zero_costs)
        env, agent, how = backtest_split(ecfg, dataset, split, model, vecnormalize, checkpoint, fast)
        baselines = run_baselines(env, ecfg)
        if report is None:
            runs = episode_rows(env)
            levels = env.actions.targets
            ev = ecfg.evaluation
            tf, rf = ecfg.data.base_timeframe, ev.risk_free_rate
            random = random_baseline(dataset.market, runs, levels, ecfg.portfolio, tf, ev.n_random_runs, ecfg.seed, rf)
            pace = agent_pace(agent.exposure, len(levels))
            paced = random_baseline(
                dataset.market, runs, levels, ecfg.portfolio, tf, ev.n_random_runs, ecfg.seed, rf, pace
            )
            report = EvaluationReport(
                split,
                tf,
                dataset.market.symbol,
                checkpoint,
                agent,
                baselines,
                random,
                random_paced=paced,
                fees_off=fees_off,
            )
            report.notes += _notes(env, ecfg, how, fees_off)
            logger.info(
                "Agent on %s: total return %.4f, Sharpe %.3f", split, agent.metrics.total_return, agent.metrics.sharpe
            )
        else:
            report.zero_cost = {"agent": agent, **baselines}
    assert report is not None  # variants is never empty
    return report


def _notes(env: TradingEnv, cfg: BotConfig, how: str, fees_off: bool) -> list[str]:
    runs = env.evaluation_episodes
    p = cfg.portfolio
    costs = (
        "zero fees and slippage (--fees-off; funding kept: it is a carry, not an execution cost)"
        if fees_off
        else f"taker fee {p.taker_fee:.4%}, slippage {p.slippage_bps} bps + {p.slippage_range_frac:.0%} of bar range"
    )
    return [
        f"{len(runs)} gap-free run(s), rows {runs[0].start}..{runs[-1].stop - 1}; runs are chained (each starts flat)",
        f"costs: {costs}; funding {p.funding_rate_8h:.4%} per 8h; {p.market}, leverage {p.leverage}",
        f"DBE {'on' if cfg.dbe.enabled else 'off'} for the agent, as in training; baselines are plain exposure"
        " policies (no stop loss, take profit or DBE sizing)",
        "positions open at the end of a run are marked at its last close without exit costs (trade 'open_at_end');"
        " only bankruptcy ends a run early (env.max_drawdown termination is lifted for evaluation)",
        f"agent inference: {how}",
    ]
