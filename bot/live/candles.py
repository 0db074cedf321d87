"""Rolling buffer of closed base candles: one paginated warm-up download, then only the new bars each bar.

Indicators such as EMA, MACD and ADX are recursive, so their value depends (slightly) on where the history starts;
the buffer therefore holds enough bars for every timeframe's indicators to converge (:func:`warmup_bars`) and is
trimmed only when it has doubled, so the live features match the training pipeline's.
"""

from __future__ import annotations

import logging
import math

import pandas as pd

from bot.config import TIMEFRAME_MS, BotConfig
from bot.errors import DataError
from bot.live.broker import Candle, MarketSource

logger = logging.getLogger(__name__)

#: Multiples of an indicator's longest period taken as warm-up so that recursive indicators converge.
CONVERGENCE_PERIODS = 4
#: Candles per kline request (Bybit's maximum).
PAGE_LIMIT = 1000


def warmup_bars(cfg: BotConfig) -> int:
    """Base bars of history the live features need: every timeframe's indicators, the window and the DBE inputs.

    :param cfg: the checkpoint's config (``data.timeframes``, ``features``, ``env.window``, ``dbe``).
    :return: number of closed base bars.
    """
    f = cfg.features
    lookback = max(
        f.rsi_period,
        f.macd_slow + f.macd_signal,
        f.atr_period,
        f.bbands_period,
        2 * f.adx_period,
        f.ema_period + 1,
        f.volume_window,
    )
    base_ms = TIMEFRAME_MS[cfg.data.base_timeframe]
    features = max(TIMEFRAME_MS[tf] // base_ms * (CONVERGENCE_PERIODS * lookback + 2) for tf in cfg.data.timeframes)
    dbe = cfg.dbe.atr_window + CONVERGENCE_PERIODS * max(f.atr_period, 2 * f.adx_period, cfg.dbe.trend_window)
    return max(features, dbe) + cfg.env.window


class CandleBuffer:
    """Closed base candles of one symbol, oldest first.

    :param source: the exchange's market data.
    :param timeframe: the base timeframe (``"5m"``).
    :param warmup: closed bars to keep at least.
    """

    def __init__(self, source: MarketSource, timeframe: str, warmup: int) -> None:
        self.source = source
        self.timeframe = timeframe
        self.base_ms = TIMEFRAME_MS[timeframe]
        self.warmup = warmup
        self.candles: list[Candle] = []

    @property
    def last_open_ms(self) -> int:
        """OPEN time of the newest closed candle held (-1 when empty)."""
        return self.candles[-1].open_ms if self.candles else -1

    def update(self, now_ms: int) -> list[Candle]:
        """Fetch every bar closed by ``now_ms`` that is not held yet.

        :return: the newly closed candles, oldest first.
        :raises DataError: when the exchange returns no candle at all for the warm-up.
        """
        last_closed = now_ms // self.base_ms * self.base_ms - self.base_ms
        since = self.last_open_ms + self.base_ms if self.candles else last_closed - (self.warmup - 1) * self.base_ms
        new: list[Candle] = []
        for _ in range(math.ceil(max(1, (last_closed - since) // self.base_ms + 1) / PAGE_LIMIT) + 2):
            if since > last_closed:
                break
            page = [
                c
                for c in self.source.fetch_candles(self.timeframe, since, PAGE_LIMIT)
                if since <= c.open_ms <= last_closed
            ]
            if not page:
                break
            new.extend(page)
            since = page[-1].open_ms + self.base_ms
        if not self.candles and not new:
            raise DataError(
                f"the exchange returned no {self.timeframe} candles before {last_closed}; check the"
                " symbol and that the market trades"
            )
        self.candles.extend(new)
        if len(self.candles) > 2 * self.warmup:
            del self.candles[: len(self.candles) - self.warmup]
        if new:
            logger.debug(
                "Candle buffer +%d bars, %d held, newest open %d", len(new), len(self.candles), self.last_open_ms
            )
        return new

    def frame(self) -> pd.DataFrame:
        """The buffer as a ``load_ohlcv``-shaped frame (UTC DatetimeIndex of open times named ``open_time``)."""
        index = pd.DatetimeIndex(
            pd.to_datetime([c.open_ms for c in self.candles], unit="ms", utc=True), name="open_time"
        )
        return pd.DataFrame(
            {
                "open": [c.open for c in self.candles],
                "high": [c.high for c in self.candles],
                "low": [c.low for c in self.candles],
                "close": [c.close for c in self.candles],
                "volume": [c.volume for c in self.candles],
            },
            index=index,
        )
