"""Deterministic random-walk candles for feeding the Bybit emulator in tests (no real data needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The trader tests' first bar: bars 0..399 are closed at the start (the warm-up), the later ones come bar by bar.
START_BAR = 400


def make_candles(n_bars: int = 600, seed: int = 0, start: str = "2024-01-01", freq: str = "5min") -> pd.DataFrame:
    """A random-walk OHLCV frame shaped like ``bot.data.load_ohlcv`` output (UTC open times, float64 columns).

    :param n_bars: number of bars.
    :param seed: generator seed (same seed, same candles).
    :param start: first bar open (UTC).
    :param freq: pandas frequency of the bars (``"5min"``, ``"1h"``).
    :return: frame indexed by ``open_time`` with ``open high low close volume``.
    """
    rng = np.random.default_rng(seed)
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, n_bars)))
    open_ = np.r_[close[0], close[:-1]]
    spread = np.abs(rng.normal(0.0, 0.001, n_bars)) + 0.0002
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * (1 + spread),
            "low": np.minimum(open_, close) * (1 - spread),
            "close": close,
            "volume": rng.uniform(1.0, 10.0, n_bars),
        },
        index=pd.date_range(start, periods=n_bars, freq=freq, tz="UTC", name="open_time"),
    )
