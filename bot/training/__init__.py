"""Training: parallel vec-envs, algorithms (PPO, Double-DQN, MaskablePPO), callbacks, checkpoints, the trainer."""

from bot.training.algorithms import ALGORITHMS, DoubleDQN, build_model, double_dqn_target, load_class
from bot.training.checkpoints import CheckpointWriter, LoadedCheckpoint, find_latest_run, load_checkpoint
from bot.training.events import EventWriter
from bot.training.trainer import TradingEnvFactory, TrainOutcome, train
from bot.training.validation import ValidationResult, make_validation_env, run_validation
from bot.training.vec_env import ParallelVecEnv

__all__ = [
    "ALGORITHMS",
    "CheckpointWriter",
    "DoubleDQN",
    "EventWriter",
    "LoadedCheckpoint",
    "ParallelVecEnv",
    "TradingEnvFactory",
    "TrainOutcome",
    "ValidationResult",
    "build_model",
    "double_dqn_target",
    "find_latest_run",
    "load_checkpoint",
    "load_class",
    "make_validation_env",
    "run_validation",
    "train",
]
