"""Training: parallel vec-envs, algorithms (PPO, Double-DQN, MaskablePPO), callbacks, checkpoints, the trainer.

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
    from bot.training.trainer import TradingEnvFactory, TrainOutcome, train
    from bot.training.validation import ValidationResult, make_validation_env, run_validation
    from bot.training.vec_env import ParallelVecEnv

_HOMES = {
    "algorithms": ("ALGORITHMS", "DoubleDQN", "build_model", "double_dqn_target", "load_class"),
    "checkpoints": ("CheckpointWriter", "LoadedCheckpoint", "find_latest_run", "load_checkpoint"),
    "events": ("EventWriter",),
    "trainer": ("TradingEnvFactory", "TrainOutcome", "train"),
    "validation": ("ValidationResult", "make_validation_env", "run_validation"),
    "vec_env": ("ParallelVecEnv",),
}
__all__ = [
    "ALGORITHMS", "CheckpointWriter", "DoubleDQN", "EventWriter", "LoadedCheckpoint", "ParallelVecEnv",
    "TradingEnvFactory", "TrainOutcome", "ValidationResult", "build_model", "double_dqn_target", "find_latest_run",
    "load_checkpoint", "load_class", "make_validation_env", "run_validation", "train",
]
__getattr__ = lazy_exports(__name__, _HOMES)
