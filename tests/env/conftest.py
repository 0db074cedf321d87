"""Fixtures of the env tests: configs, a hand-built dataset and two months of real BTC/USDT 5m data (with a gap)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import BotConfig, load_config
from bot.data import build_dataset
from bot.data.types import Dataset
from tests.support.classic import CLASSIC_OVERRIDES
from tests.support.market_builder import simple_dataset

#: Two months around the real exchange outage of 2023-03-24 (16 missing 5m bars): two gap-free segments.
REAL_RANGE = ("data.start=2023-03-01", "data.end=2023-05-01")

ConfigFactory = Callable[..., BotConfig]


@pytest.fixture(scope="session")
def real_overrides(btc_5m_path: Path) -> tuple[str, ...]:
    """Overrides that point the data layer at the real 5m file, two months, 5m/1h/4h features."""
    return ("data.source=file", f"data.path={btc_5m_path}", *REAL_RANGE)


@pytest.fixture(scope="session")
def real_dataset(real_overrides: tuple[str, ...]) -> Dataset:
    """The real two-month dataset, built once per session (scaler fit on its train split)."""
    return build_dataset(load_config(None, list(real_overrides)))


@pytest.fixture
def make_cfg() -> ConfigFactory:
    """``make_cfg("env.window=8", ...)``: defaults plus overrides, with a small window and short episodes."""

    def factory(*overrides: str) -> BotConfig:
        return load_config(None, [*CLASSIC_OVERRIDES, "env.window=8", "env.episode_length=32", *overrides])

    return factory


@pytest.fixture
def small_dataset() -> Dataset:
    """600 random-walk bars, a gap before row 300, 10 warm-up rows per segment; splits 70/15/15."""
    return simple_dataset(600, seed=3, gap_at=300, warmup=10)
