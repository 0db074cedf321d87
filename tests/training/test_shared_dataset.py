"""SharedDataset: worker processes see the parent's dataset as read-only views on one shared block, not copies."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from bot.config import load_config
from bot.data import build_dataset
from bot.data.types import Dataset
from bot.training.shared_dataset import SharedDataset
from bot.training.vec_env import ParallelVecEnv
from tests.support.toy_env import ReportEnv


class _ProbeEnv(ReportEnv):
    """Reports how the dataset it was built with is stored in its process."""

    def __init__(self, dataset: Dataset) -> None:
        features, close = dataset.obs_features, dataset.market.close
        self.report = {
            "writeable": bool(features.flags.writeable or close.flags.writeable),
            "owns_data": bool(features.flags.owndata or close.flags.owndata),
            "features_sum": float(features.astype(np.float64).sum()),
            "close": close[:5].tolist(),
            "splits": dataset.splits,
            "names": dataset.market.feature_names,
        }


@dataclass(frozen=True)
class _ProbeFactory:
    shared: SharedDataset

    def __call__(self, worker_id: int, n_envs: int) -> list[gym.Env[Any, Any]]:
        return [_ProbeEnv(self.shared.get()) for _ in range(n_envs)]


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return build_dataset(load_config(None, ["data.synthetic.n_bars=3000", "data.timeframes=[5m, 1h]"]))


def test_workers_map_the_parents_arrays_read_only(dataset: Dataset) -> None:
    shared = SharedDataset(dataset)
    assert shared.get() is dataset  # the parent keeps its own
    assert shared.nbytes >= dataset.obs_features.nbytes + dataset.market.features.nbytes
    venv = ParallelVecEnv(_ProbeFactory(shared), n_workers=2, n_envs_per_worker=2)
    try:
        reports = venv.get_attr("report")
    finally:
        venv.close()
    expected = float(dataset.obs_features.astype(np.float64).sum())
    for report in reports:
        assert not report["writeable"] and not report["owns_data"]  # views on the shared block, not copies
        assert report["features_sum"] == expected and report["close"] == dataset.market.close[:5].tolist()
        assert report["splits"] == dataset.splits and report["names"] == dataset.market.feature_names


def test_the_block_is_read_only_and_travels_only_with_a_starting_process(dataset: Dataset) -> None:
    shared = SharedDataset(dataset)
    view = shared._block._view("obs_features")
    np.testing.assert_array_equal(view, dataset.obs_features)
    with pytest.raises(ValueError, match="read-only"):
        view[0, 0] = 1.0  # no worker can change what the others see
    with pytest.raises(RuntimeError, match="through inheritance"):
        pickle.dumps(shared)  # never a pickled copy of the arrays over a pipe
