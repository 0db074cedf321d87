"""What every env over the same market builds, built once per process: candle rows as Python lists and the DBE.

A worker steps K envs over one dataset; each used to convert the candles to Python lists (the step loop indexes
lists, not arrays, to avoid NumPy scalar boxing) and to compute the DBE's volatility and trend tables on its own,
about 30 MB per env on a year of 5m bars. The envs of a process now share them: the lists are read-only, and each env
gets its own shallow copy of a template DBE (the tables are shared lists; the engine's state is per copy).

The cache keeps the last few markets (by identity, with a reference so the identity stays valid), so a process that
builds dataset after dataset (walk-forward folds) does not accumulate them.
"""

from __future__ import annotations

import copy
import itertools
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.config import BotConfig
from bot.data import MarketData
from bot.dbe import DynamicBehaviorEngine, dbe_inputs

#: markets kept in each cache (the train and validation envs of a run share one; a walk-forward fold adds one).
CACHE_SIZE = 2
#: the caches' current size: CACHE_SIZE, raised by :func:`reserve` for a process that steps several symbols.
_capacity = CACHE_SIZE


@dataclass(frozen=True, slots=True)
class MarketRows:
    """The candles of a market as Python lists (plain ints and floats), indexed by dataset row, and as ``bars``, a
    float64 [rows, 5] table (open time in ms, exact as a float, then open, high, low, close) for the env's compiled
    step (:func:`bot.env.step_kernel.run_bars`)."""

    time_ms: list[int]
    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    bars: npt.NDArray[np.float64]


_rows: OrderedDict[int, tuple[MarketData, MarketRows]] = OrderedDict()
_dbes: OrderedDict[tuple[int, str], tuple[MarketData, DynamicBehaviorEngine]] = OrderedDict()


def market_rows(market: MarketData) -> MarketRows:
    """The market's candle lists, shared by every env of this process over the same market (do not modify them)."""
    key = id(market)
    hit = _rows.get(key)
    if hit is not None and hit[0] is market:
        _rows.move_to_end(key)
        return hit[1]
    rows = MarketRows(
        market.open_time_ms.tolist(),
        market.open.tolist(),
        market.high.tolist(),
        market.low.tolist(),
        market.close.tolist(),
        np.ascontiguousarray(
            np.column_stack([market.open_time_ms, market.open, market.high, market.low, market.close]),
            dtype=np.float64,
        ),
    )
    _remember(_rows, key, (market, rows))
    return rows


def make_dbe(cfg: BotConfig, market: MarketData) -> DynamicBehaviorEngine:
    """A fresh DBE over every row of ``market`` (state reset), its tables shared with the other envs of the process.

    Its inputs are computed per gap-free segment (indicators restart after a gap); its rows are the dataset's rows,
    so ``update(t, ...)`` takes the env's row index directly.
    """
    settings = f"{cfg.dbe.model_dump_json()}|{cfg.features.atr_period}|{cfg.features.adx_period}"
    key = (id(market), settings)
    hit = _dbes.get(key)
    if hit is not None and hit[0] is market:
        _dbes.move_to_end(key)
        template = hit[1]
    else:
        template = build_dbe(cfg, market)
        _remember(_dbes, key, (market, template))
    engine = copy.copy(template)  # shares the read-only tables, takes its own state array (reset below)
    engine.reset()
    return engine


def build_dbe(cfg: BotConfig, market: MarketData) -> DynamicBehaviorEngine:
    """A DBE over every row of ``market``, its inputs computed per gap-free segment (the indicators restart after a
    gap, as the features do); not cached (the live trader builds one on each bar's candles)."""
    n = len(market)
    atr_rel = np.full(n, np.nan)
    trend = np.zeros(n)
    edges = [0, *(np.flatnonzero(np.diff(market.segment_id)) + 1).tolist(), n]
    for a, b in itertools.pairwise(edges):
        atr_rel[a:b], trend[a:b] = dbe_inputs(
            market.close[a:b],
            market.high[a:b],
            market.low[a:b],
            atr_period=cfg.features.atr_period,
            adx_period=cfg.features.adx_period,
            trend_window=cfg.dbe.trend_window,
        )
    return DynamicBehaviorEngine(cfg.dbe, atr_rel, trend)


def reserve(n_markets: int) -> None:
    """Keep at least ``n_markets`` more markets cached: a universe env steps one market per symbol, and every env of
    the process must find each of them in the cache instead of building its own copy."""
    global _capacity  # one process-wide size, like the caches themselves
    _capacity = max(_capacity, CACHE_SIZE + n_markets)


def _remember(cache: OrderedDict[Any, Any], key: object, value: object) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > _capacity:
        cache.popitem(last=False)
