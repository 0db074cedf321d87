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
    from bot.training.checkpoints import CheckpointWriter, LoadedCheckpoint, find_latest_run, load_checkpoint
    from bot.training.events import EventWriter
    from bot.training.fast_mlp import FastMlpPolicy
    from bot.training.policy import MaskSource, Obs, Policy, PredictPolicy, make_policy
    from bot.training.rollout import Costs, Segment, TradeRecord, run_episode
    from bot.training.trainer import TradingEnvFactory, TrainOutcome, train
    from bot.training.validation import ValidationResult, make_validation_env, run_validation, validate_policy
    from bot.training.vec_env import ParallelVecEnv

_HOMES = {
    "algorithms": ("ALGORITHMS", "DoubleDQN", "build_model", "double_dqn_target", "load_class"),
    "checkpoints": ("CheckpointWriter", "LoadedCheckpoint", "find_latest_run", "load_checkpoint"),
    "events": ("EventWriter",),
    "fast_mlp": ("FastMlpPolicy",),
    "policy": ("MaskSource", "Obs", "Policy", "PredictPolicy", "make_policy"),
    "rollout": ("Costs", "Segment", "TradeRecord", "run_episode"),
    "trainer": ("TradingEnvFactory", "TrainOutcome", "train"),
    "validation": ("ValidationResult", "make_validation_env", "run_validation", "validate_policy"),
    "vec_env": ("ParallelVecEnv",),
}
__all__ = [
    "ALGORITHMS", "CheckpointWriter", "Costs", "DoubleDQN", "EventWriter", "FastMlpPolicy", "LoadedCheckpoint",
    "MaskSource", "Obs", "ParallelVecEnv", "Policy", "PredictPolicy", "Segment", "TradeRecord", "TradingEnvFactory",
    "TrainOutcome", "ValidationResult", "build_model", "double_dqn_target", "find_latest_run", "load_checkpoint",
    "load_class", "make_policy", "make_validation_env", "run_episode", "run_validation", "train", "validate_policy",
]
__getattr__ = lazy_exports(__name__, _HOMES)
