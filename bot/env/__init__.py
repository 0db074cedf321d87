"""Gymnasium trading environment: observation/action spaces, episodes inside gap-free runs, rewards."""

from bot.env.episode import EpisodeBounds, EpisodeSampler
from bot.env.factory import make_env
from bot.env.portfolio_env import PortfolioEnv
from bot.env.rewards import (
    REWARDS,
    DifferentialSharpeReward,
    DrawdownPenalizedReward,
    LogReturnReward,
    Reward,
    make_reward,
)
from bot.env.spaces import PORTFOLIO_FEATURES, ActionMapper, observation_space
from bot.env.stats import episode_summary
from bot.env.trading_env import TradingEnv

__all__ = [
    "PORTFOLIO_FEATURES",
    "REWARDS",
    "ActionMapper",
    "DifferentialSharpeReward",
    "DrawdownPenalizedReward",
    "EpisodeBounds",
    "EpisodeSampler",
    "LogReturnReward",
    "PortfolioEnv",
    "Reward",
    "TradingEnv",
    "episode_summary",
    "make_env",
    "make_reward",
    "observation_space",
]
