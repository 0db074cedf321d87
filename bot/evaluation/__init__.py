"""Out-of-sample evaluation: backtest runner, metrics, baselines, walk-forward and reports (Markdown, HTML, PNG)."""

from bot.evaluation.backtest import chain_segments, evaluation_config, run_agent
from bot.evaluation.baselines import (
    agent_pace,
    buy_and_hold,
    flat,
    ma_crossover,
    random_baseline,
    random_levels,
    run_exposures,
    simulate_exposures,
)
from bot.evaluation.metrics import Metrics, TradeStats, compute_metrics
from bot.evaluation.report import write_report
from bot.evaluation.results import BacktestResult, EvaluationReport, RandomBaseline
from bot.evaluation.runner import backtest_split, check_spaces, evaluate_model, run_baselines
from bot.evaluation.walk_forward import (
    WalkForwardResult,
    fold_dataset,
    plan_folds,
    run_walk_forward,
    write_walk_forward,
)

__all__ = [
    "BacktestResult", "EvaluationReport", "Metrics", "RandomBaseline", "TradeStats", "WalkForwardResult", "agent_pace",
    "backtest_split", "buy_and_hold", "chain_segments", "check_spaces", "compute_metrics", "evaluate_model",
    "evaluation_config", "flat", "fold_dataset", "ma_crossover", "plan_folds", "random_baseline", "random_levels",
    "run_agent", "run_baselines", "run_exposures", "run_walk_forward", "simulate_exposures", "write_report",
    "write_walk_forward",
]
