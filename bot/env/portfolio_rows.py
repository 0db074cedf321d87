"""The arrays a portfolio env steps over, built once per universe and shared by the envs of a process.

Everything is laid out by clock bar first (``[T, N]``), so one step reads one contiguous row per array: the candles
(NaN where a symbol has no bar), which symbols can be observed at each bar's close, and, per symbol, the index of its
feature window in one padded feature block (index 0 is an all-zero window, used for a symbol that cannot be observed).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bot.data import Dataset, Universe, aligned_prices

logger = logging.getLogger(__name__)

#: universes whose arrays are kept per process (the train, validation and test envs of a worker share them)
_CACHE_SIZE = 4


@dataclass(frozen=True, slots=True)
class PortfolioRows:
    """Per-clock-bar arrays of a universe for a given observation window.

    :param time_ms: int64 [T] the clock's bar open times.
    :param open: float64 [T, N]; NaN where the symbol has no bar; likewise ``high``, ``low``, ``close``.
    :param mark: float64 [T, N] each symbol's last close at or before t (0 before its first bar).
    :param observable: bool [T, N] the symbol has a bar at t and its ``window`` rows up to it are valid rows of one
        gap-free segment: the agent sees its features at t's close and may trade it at t + 1.
    :param window_index: int64 [T, N] index into ``windows`` of the symbol's window at t (0: the zero window).
    :param windows: float32 [M, window, F] read-only view of every symbol's feature windows.
    """

    time_ms: npt.NDArray[np.int64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    mark: npt.NDArray[np.float64]
    observable: npt.NDArray[np.bool_]
    window_index: npt.NDArray[np.int64]
    windows: npt.NDArray[np.float32]


_cache: OrderedDict[tuple[int, int], tuple[Universe, PortfolioRows]] = OrderedDict()


def portfolio_rows(universe: Universe, window: int) -> PortfolioRows:
    """The universe's :class:`PortfolioRows` for ``window`` (built on the first call, then shared)."""
    key = (id(universe), window)
    hit = _cache.get(key)
    if hit is not None and hit[0] is universe:
        _cache.move_to_end(key)
        return hit[1]
    rows = _build(universe, window)
    _cache[key] = (universe, rows)
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return rows


def _observable_rows(dataset: Dataset, window: int) -> npt.NDArray[np.bool_]:
    """bool [n] rows whose last ``window`` rows are valid and lie in the row's gap-free segment."""
    market = dataset.market
    n = len(market)
    valid = market.valid
    # start of the current stretch of valid rows of one segment, per row
    breaks = np.ones(n, dtype=bool)
    breaks[1:] = (market.segment_id[1:] != market.segment_id[:-1]) | ~valid[:-1]
    start = np.maximum.accumulate(np.where(breaks, np.arange(n), 0))
    return valid & (np.arange(n) - start >= window - 1)


def _build(universe: Universe, window: int) -> PortfolioRows:
    prices = aligned_prices(universe)
    n, t = universe.row.shape
    n_features = int(universe.datasets[0].obs_features.shape[1])
    blocks = [np.zeros((window, n_features), np.float32)]
    offsets = []
    start = window
    for dataset in universe.datasets:
        blocks.append(np.asarray(dataset.obs_features, dtype=np.float32))
        offsets.append(start)
        start += dataset.obs_features.shape[0]
    features = np.concatenate(blocks)
    windows = np.lib.stride_tricks.sliding_window_view(features, (window, n_features))[:, 0]
    observable = np.zeros((t, n), dtype=bool)
    window_index = np.zeros((t, n), dtype=np.int64)
    for i, dataset in enumerate(universe.datasets):
        row = universe.row[i]
        present = row >= 0
        ok = np.zeros(t, dtype=bool)
        ok[present] = _observable_rows(dataset, window)[row[present]]
        observable[:, i] = ok
        # the window ending at row r starts at r - window + 1, which is offsets[i] + r - window + 1 in the block
        window_index[ok, i] = offsets[i] + row[ok] - window + 1
    logger.debug("Portfolio rows: %d symbols x %d clock bars, %.1f MB of features", n, t, features.nbytes / 1e6)
    return PortfolioRows(
        time_ms=universe.clock_ms,
        open=np.ascontiguousarray(prices.open.T),
        high=np.ascontiguousarray(prices.high.T),
        low=np.ascontiguousarray(prices.low.T),
        close=np.ascontiguousarray(prices.close.T),
        mark=np.ascontiguousarray(np.nan_to_num(prices.mark.T)),
        observable=observable,
        window_index=window_index,
        windows=windows,
    )
