"""``make_env`` builds the dataset itself when none is given, and shares one when it is."""

from __future__ import annotations

from collections.abc import Callable

from bot.config import BotConfig
from bot.env import TradingEnv, make_env

ConfigFactory = Callable[..., BotConfig]


def test_make_env_builds_the_dataset_from_the_config(make_cfg: ConfigFactory) -> None:
    cfg = make_cfg("data.synthetic.n_bars=3000", "data.timeframes=[5m,1h]", "features.indicators=[log_return,rsi]")
    env = make_env(cfg, split="validation", worker_id=2, seed=4)
    assert isinstance(env, TradingEnv) and env.split == "validation"
    obs, info = env.reset()
    assert obs["market"].shape == (8, len(env.dataset.market.feature_names)) == (8, 4)
    assert env.episode.start >= env.dataset.splits["validation"].start and info["worker_id"] == 2
    shared = make_env(cfg, split="train", dataset=env.dataset)
    assert shared.dataset is env.dataset
