"""Training: parallel vec-envs, algorithms (PPO, Double-DQN, MaskablePPO), callbacks, checkpoints, the trainer, and
the policy interface and rollout loop that validation, evaluation and the live trader share.

The names below load on first use (PEP 562), so a light submodule (``bot.training.event_schema``, which the control
API reads events with) does not pull in torch and stable-baselines3 with the package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.lazy import lazy_exports

if TYPE_CHECKING:
    from bot.training.algorithms import ALGORITHMS, DoubleDQN, build_model, double_dqn_target, load_class
    from bot.training.callbacks import OnValidation, ValidationReport
    from bot.training.checkpoints import (
        BEST,
        CONFIG,
        MODEL,
        SCALER,
        CheckpointWriter,
        LoadedCheckpoint,
        Model,
        checkpoint_folder,
        find_latest_run,
        load_checkpoint,
    )
    from bot.training.event_schema import (
        CancelledEvent,
        CheckpointEvent,
        CompletedEvent,
        FailedEvent,
        HeartbeatEvent,
        ProgressEvent,
        StartedEvent,
        TerminalEvent,
        TrainerEvent,
        TrialEvent,
        UnknownEvent,
        finite_number,
        parse_event,
    )
    from bot.training.events import HEARTBEAT_INTERVAL_S, EventWriter
    from bot.training.fast_lstm import FastLstmPolicy
    from bot.training.fast_mlp import FastMlpPolicy
    from bot.training.logsetup import training_logging
    from bot.training.manifest import MANIFEST, RunInfo
    from bot.training.metrics import LogStats
    from bot.training.policy import MaskSource, Obs, Policy, PredictPolicy, is_recurrent, make_policy, plain_policy
    from bot.training.portfolio import model_actor, portfolio_rollout
    from bot.training.progress import StopFlag
    from bot.training.rollout import (
        OPEN_AT_END,
        Costs,
        Segment,
        TradeRecord,
        account_costs,
        account_trades,
        run_episode,
    )
    from bot.training.supervised_policy import SupervisedPolicy
    from bot.training.trainer import TB_DIR, TradingEnvFactory, TrainOutcome, train
    from bot.training.validation import ValidationResult, make_validation_env, run_validation, validate_policy
    from bot.training.vec_env import ParallelVecEnv
    from bot.training.worker import WorkerInit

_HOMES = {
    "manifest": ("MANIFEST", "RunInfo"),
    "logsetup": ("training_logging",),
    "callbacks": ("OnValidation", "ValidationReport"),
    "worker": ("WorkerInit",),
    "progress": ("StopFlag",),
    "metrics": ("LogStats",),
    "supervised_policy": ("SupervisedPolicy",),
    "portfolio": ("model_actor", "portfolio_rollout"),
    "event_schema": (
        "CancelledEvent", "CheckpointEvent", "CompletedEvent", "FailedEvent", "HeartbeatEvent", "ProgressEvent",
        "StartedEvent", "TerminalEvent", "TrainerEvent", "TrialEvent", "UnknownEvent", "finite_number", "parse_event",
    ),
    "algorithms": ("ALGORITHMS", "DoubleDQN", "build_model", "double_dqn_target", "load_class"),
    "checkpoints": (
        "BEST", "CONFIG", "MODEL", "SCALER", "CheckpointWriter", "LoadedCheckpoint", "Model", "checkpoint_folder",
        "find_latest_run", "load_checkpoint",
    ),
    "events": ("HEARTBEAT_INTERVAL_S", "EventWriter"),
    "fast_lstm": ("FastLstmPolicy",),
    "fast_mlp": ("FastMlpPolicy",),
    "policy": ("MaskSource", "Obs", "Policy", "PredictPolicy", "is_recurrent", "make_policy", "plain_policy"),
    "rollout": ("OPEN_AT_END", "Costs", "Segment", "TradeRecord", "account_costs", "account_trades", "run_episode"),
    "trainer": ("TB_DIR", "TradingEnvFactory", "TrainOutcome", "train"),
    "validation": ("ValidationResult", "make_validation_env", "run_validation", "validate_policy"),
    "vec_env": ("ParallelVecEnv",),
}
__all__ = [
    "ALGORITHMS", "BEST", "CONFIG", "HEARTBEAT_INTERVAL_S", "MANIFEST", "MODEL", "OPEN_AT_END", "SCALER", "TB_DIR",
    "CancelledEvent", "CheckpointEvent", "CheckpointWriter", "CompletedEvent", "Costs", "DoubleDQN", "EventWriter",
    "FailedEvent", "FastLstmPolicy", "FastMlpPolicy", "HeartbeatEvent", "LoadedCheckpoint", "LogStats", "MaskSource",
    "Model", "Obs", "OnValidation", "ParallelVecEnv", "Policy", "PredictPolicy", "ProgressEvent", "RunInfo", "Segment",
    "StartedEvent", "StopFlag", "SupervisedPolicy", "TerminalEvent", "TradeRecord", "TradingEnvFactory", "TrainOutcome",
    "TrainerEvent", "TrialEvent", "UnknownEvent", "ValidationReport", "ValidationResult", "WorkerInit", "account_costs",
    "account_trades", "build_model", "checkpoint_folder", "double_dqn_target", "find_latest_run", "finite_number",
    "is_recurrent", "load_checkpoint", "load_class", "make_policy", "make_validation_env", "model_actor", "parse_event",
    "plain_policy", "portfolio_rollout", "run_episode", "run_validation", "train", "training_logging",
    "validate_policy",
]
__getattr__ = lazy_exports(__name__, _HOMES)
