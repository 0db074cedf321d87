"""The envs of a process share the candle lists and the DBE tables of one market, never the DBE's state."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.config import BotConfig
from bot.env import make_env, shared_rows
from bot.env.shared_rows import CACHE_SIZE, market_rows
from tests.support.market_builder import simple_dataset

ConfigFactory = Callable[..., BotConfig]


def test_envs_over_one_market_share_rows_and_tables_but_not_state(make_cfg: ConfigFactory) -> None:
    dataset = simple_dataset(600, seed=3)
    cfg = make_cfg()
    a = make_env(cfg, "train", dataset=dataset, seed=0)
    b = make_env(cfg, "validation", dataset=dataset, seed=1)
    assert a._close is b._close and a._time_ms is b._time_ms
    assert a.dbe.tables is b.dbe.tables and not a.dbe.tables.flags.writeable
    assert a.dbe is not b.dbe and a.dbe.state is not b.dbe.state
    a.reset(options={"start_index": a.evaluation_episodes[0].start})
    for _ in range(20):
        a.step(2)
    a.dbe.loss_streak = 5
    assert b.dbe.loss_streak == 0 and b.dbe.mode == 1


def test_the_cache_keeps_only_the_last_markets(monkeypatch: pytest.MonkeyPatch) -> None:
    # the size before any multi-symbol env raised it (shared_rows.reserve keeps it raised for the process)
    monkeypatch.setattr(shared_rows, "_capacity", CACHE_SIZE)
    markets = [simple_dataset(200, seed=s).market for s in range(CACHE_SIZE + 1)]
    first = market_rows(markets[0])
    for m in markets[1:]:
        market_rows(m)
    assert market_rows(markets[0]) is not first  # evicted, rebuilt
    assert market_rows(markets[0]).close == first.close
