"""Gymnasium trading environment: observation/action spaces, episodes inside gap-free runs, rewards."""

from bot.env.decisions import DecisionControls, ObservationReferences
from bot.env.episode import EpisodeBounds, EpisodeSampler
from bot.env.factory import make_env
from bot.env.portfolio_env import PortfolioEnv
from bot.env.portfolio_obs import PortfolioObservation, observe_positions
from bot.env.portfolio_spaces import ASSET_FEATURES, WeightMapper
from bot.env.rewards import (
    MIN_EQUITY_RATIO,
    REWARDS,
    DifferentialSharpeReward,
    DrawdownPenalizedReward,
    LogReturnReward,
    Reward,
    make_reward,
)
from bot.env.spaces import PORTFOLIO_BOUND, PORTFOLIO_FEATURES, ActionMapper, observation_space
from bot.env.stats import episode_summary
from bot.env.trading_env import TradingEnv
from bot.env.universe_env import UniverseEnv, symbol_config, worker_symbols

__all__ = [
    "ASSET_FEATURES", "MIN_EQUITY_RATIO", "PORTFOLIO_BOUND", "PORTFOLIO_FEATURES", "REWARDS", "ActionMapper",
    "DecisionControls", "DifferentialSharpeReward", "DrawdownPenalizedReward", "EpisodeBounds", "EpisodeSampler",
    "LogReturnReward", "ObservationReferences", "PortfolioEnv", "PortfolioObservation", "Reward", "TradingEnv",
    "UniverseEnv", "WeightMapper", "episode_summary", "make_env", "make_reward", "observation_space",
    "observe_positions", "symbol_config", "worker_symbols",
]
