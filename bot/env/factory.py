"""``make_env``: the public way to build a :class:`~bot.env.trading_env.TradingEnv` from a config."""

from __future__ import annotations

import logging

from bot.config import BotConfig
from bot.data import Dataset
from bot.env.trading_env import TradingEnv

logger = logging.getLogger(__name__)


def make_env(
    cfg: BotConfig,
    split: str = "train",
    worker_id: int = 0,
    seed: int | None = None,
    dataset: Dataset | None = None,
) -> TradingEnv:
    """Build the trading env (unwrapped) for one split.

    Building the dataset (loading, features, normalisation) is the expensive part: a worker running K envs should
    build it once with :func:`bot.data.build_dataset` and pass it to each of them.

    :param cfg: the whole config.
    :param split: ``"train"``, ``"validation"``, ``"test"`` or ``"all"``.
    :param worker_id: the worker process id, reported in every ``info`` and used by the SmartLogger.
    :param seed: seeds episode sampling and the action space until ``reset(seed=...)`` reseeds them.
    :param dataset: a prebuilt dataset; None builds one from ``cfg`` (scaler fit on the train split).
    :return: the env.
    :raises ConfigError: for an unknown split or reward.
    :raises DataError: when the data cannot be built or the split holds no episode.
    """
    if dataset is None:
        from bot.data import build_dataset

        dataset = build_dataset(cfg)
    logger.debug("make_env split=%s worker_id=%d seed=%s", split, worker_id, seed)
    return TradingEnv(cfg, dataset, split=split, worker_id=worker_id, seed=seed)
