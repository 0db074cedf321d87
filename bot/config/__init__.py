"""Pydantic models of the YAML config and ``load_config``: validate once at the edge, pass typed models inward.

One module per concern: ``market`` (data, features, splits), ``trading`` (portfolio, DBE, env), ``training``,
``services`` (logging, evaluation, live, API) and ``loading`` (the root model, YAML and ``--set`` overrides).
"""

from bot.config.base import TIMEFRAME_MS, Indicator, Section, Timeframe
from bot.config.loading import BotConfig, apply_overrides, load_config, parse_override
from bot.config.market import (
    DataConfig,
    FeaturesConfig,
    PlausibilityConfig,
    SplitsConfig,
    SyntheticConfig,
    WalkForwardConfig,
)
from bot.config.services import ApiConfig, EvaluationConfig, LiveConfig, LoggingConfig
from bot.config.trading import Bounds, DBEConfig, EnvConfig, PortfolioConfig
from bot.config.training import (
    ALGO_SECTIONS,
    SUPERVISED_ALGOS,
    DQNConfig,
    ExtractorConfig,
    PPOConfig,
    RecurrentConfig,
    SupervisedConfig,
    TrainingConfig,
)
from bot.config.workers import worker_bound, worker_candidates

__all__ = [
    "ALGO_SECTIONS", "SUPERVISED_ALGOS", "TIMEFRAME_MS", "ApiConfig", "BotConfig", "Bounds", "DBEConfig", "DQNConfig",
    "DataConfig", "EnvConfig", "EvaluationConfig", "ExtractorConfig", "FeaturesConfig", "Indicator", "LiveConfig",
    "LoggingConfig", "PPOConfig", "PlausibilityConfig", "PortfolioConfig", "RecurrentConfig", "Section", "SplitsConfig",
    "SupervisedConfig", "SyntheticConfig", "Timeframe", "TrainingConfig", "WalkForwardConfig", "apply_overrides",
    "load_config", "parse_override", "worker_bound", "worker_candidates",
]
