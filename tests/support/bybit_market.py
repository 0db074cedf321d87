"""Market side of the Bybit V5 emulator: instruments, candle feeds and Bybit's kline windowing rules.

A feed is a base-timeframe OHLCV frame (``bot.data.load_ohlcv`` shape: UTC DatetimeIndex of bar OPEN times, columns
``open high low close volume``). Higher intervals are aggregated from it on request. The bar that is still forming at
the emulated time shows only its open (high = low = close = open, volume 0), as a real exchange would just after the
bar opened; bars are served newest first as ``[startMs, open, high, low, close, volume, turnover]`` strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt
import pandas as pd

#: Bybit kline ``interval`` values -> milliseconds (W and M are not emulated).
INTERVAL_MS: dict[str, int] = {
    "1": 60_000,
    "3": 180_000,
    "5": 300_000,
    "15": 900_000,
    "30": 1_800_000,
    "60": 3_600_000,
    "120": 7_200_000,
    "240": 14_400_000,
    "360": 21_600_000,
    "720": 43_200_000,
    "D": 86_400_000,
}

MAX_KLINE_LIMIT = 1000


class BybitApiError(Exception):
    """A Bybit error envelope: ``retCode`` and ``retMsg``, sent with HTTP 200."""

    def __init__(self, ret_code: int, message: str) -> None:
        super().__init__(f"{ret_code}: {message}")
        self.ret_code = ret_code
        self.message = message


def num(value: float) -> str:
    """Bybit-style decimal string without exponent or trailing zeros (``0.001``, ``30000.5``, ``0``)."""
    text = format(Decimal(repr(float(value))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True, slots=True)
class Instrument:
    """Trading rules of one symbol in one category (``linear`` or ``spot``)."""

    symbol: str
    base: str
    quote: str
    qty_step: float
    min_qty: float
    max_qty: float
    tick_size: float
    min_notional: float

    def linear_row(self) -> dict[str, object]:
        """The ``/v5/market/instruments-info?category=linear`` row."""
        return {
            "symbol": self.symbol,
            "contractType": "LinearPerpetual",
            "status": "Trading",
            "baseCoin": self.base,
            "quoteCoin": self.quote,
            "settleCoin": self.quote,
            "launchTime": "1585526400000",
            "deliveryTime": "0",
            "deliveryFeeRate": "",
            "priceScale": str(max(0, -Decimal(num(self.tick_size)).as_tuple().exponent)),  # type: ignore[operator]
            "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
            "priceFilter": {"minPrice": num(self.tick_size), "maxPrice": "1999999.80", "tickSize": num(self.tick_size)},
            "lotSizeFilter": {
                "maxOrderQty": num(self.max_qty),
                "minOrderQty": num(self.min_qty),
                "qtyStep": num(self.qty_step),
                "postOnlyMaxOrderQty": num(self.max_qty),
                "maxMktOrderQty": num(self.max_qty),
                "minNotionalValue": num(self.min_notional),
            },
            "unifiedMarginTrade": True,
            "fundingInterval": 480,
            "copyTrading": "both",
            "isPreListing": False,
        }

    def spot_row(self) -> dict[str, object]:
        """The ``/v5/market/instruments-info?category=spot`` row."""
        return {
            "symbol": self.symbol,
            "baseCoin": self.base,
            "quoteCoin": self.quote,
            "innovation": "0",
            "status": "Trading",
            "marginTrading": "utaOnly",
            "lotSizeFilter": {
                "basePrecision": num(self.qty_step),
                "quotePrecision": "0.00000001",
                "minOrderQty": num(self.min_qty),
                "maxOrderQty": num(self.max_qty),
                "minOrderAmt": num(self.min_notional),
                "maxOrderAmt": "2000000",
            },
            "priceFilter": {"tickSize": num(self.tick_size)},
        }


def default_instruments() -> dict[str, dict[str, Instrument]]:
    """category -> symbol -> :class:`Instrument`, with Bybit's real BTCUSDT / ETHUSDT filters."""
    return {
        "linear": {
            "BTCUSDT": Instrument("BTCUSDT", "BTC", "USDT", 0.001, 0.001, 100.0, 0.1, 5.0),
            "ETHUSDT": Instrument("ETHUSDT", "ETH", "USDT", 0.01, 0.01, 1500.0, 0.01, 5.0),
        },
        "spot": {
            "BTCUSDT": Instrument("BTCUSDT", "BTC", "USDT", 0.000001, 0.000048, 71.73956243, 0.01, 1.0),
            "ETHUSDT": Instrument("ETHUSDT", "ETH", "USDT", 0.00001, 0.00062, 1229.2336343, 0.01, 1.0),
        },
    }


@dataclass(frozen=True, slots=True)
class CandleFeed:
    """Base-timeframe candles of one symbol as NumPy arrays (open times in UTC ms)."""

    open_ms: npt.NDArray[np.int64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]
    base_ms: int

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, base_ms: int | None = None) -> CandleFeed:
        """Build a feed from a ``load_ohlcv``-shaped frame (DatetimeIndex of open times, OHLCV columns).

        :param base_ms: bar length; inferred from the smallest step between open times when None.
        :raises ValueError: when the frame is empty, unsorted or lacks a column.
        """
        missing = {"open", "high", "low", "close", "volume"} - set(frame.columns)
        if missing:
            raise ValueError(f"candle frame lacks columns {sorted(missing)}; expected open/high/low/close/volume")
        if not isinstance(frame.index, pd.DatetimeIndex) or len(frame) < 2:
            raise ValueError("candle frame needs a DatetimeIndex of bar open times and at least 2 rows")
        index = frame.index if frame.index.tz is not None else frame.index.tz_localize("UTC")
        open_ms = index.as_unit("ms").asi8.astype(np.int64)
        steps = np.diff(open_ms)
        if (steps <= 0).any():
            raise ValueError("candle frame index must be strictly increasing")
        return cls(
            open_ms=open_ms,
            open=frame["open"].to_numpy(np.float64),
            high=frame["high"].to_numpy(np.float64),
            low=frame["low"].to_numpy(np.float64),
            close=frame["close"].to_numpy(np.float64),
            volume=frame["volume"].to_numpy(np.float64),
            base_ms=int(base_ms if base_ms is not None else steps.min()),
        )

    def forming_index(self, now_ms: int) -> int:
        """Index of the last bar that has opened at ``now_ms`` (-1 before the first bar)."""
        return int(np.searchsorted(self.open_ms, now_ms, side="right")) - 1

    def price(self, now_ms: int) -> float:
        """Last traded price at ``now_ms``: the open of the forming bar, or the last close after the feed ends."""
        i = self.forming_index(now_ms)
        if i < 0:
            raise BybitApiError(10001, f"no market data before {now_ms}")
        if now_ms >= self.open_ms[i] + self.base_ms:
            return float(self.close[i])
        return float(self.open[i])

    def closed_between(self, after_ms: int, until_ms: int) -> range:
        """Indices of the bars whose close time lies in ``(after_ms, until_ms]``."""
        first = int(np.searchsorted(self.open_ms + self.base_ms, after_ms, side="right"))
        stop = int(np.searchsorted(self.open_ms + self.base_ms, until_ms, side="right"))
        return range(first, stop)

    def klines(self, interval: str, now_ms: int, start: int | None, end: int | None, limit: int) -> list[list[str]]:
        """Bybit ``/v5/market/kline`` rows, newest first.

        Rules (as Bybit): only bars opened by ``now_ms``; ``start``/``end`` bound the bar open times (inclusive); with
        ``start`` the ``limit`` oldest bars from ``start`` come back, otherwise the ``limit`` newest up to ``end``/now.

        :raises BybitApiError: 10001 for an unknown interval or one finer than the feed.
        """
        interval_ms = INTERVAL_MS.get(interval)
        if interval_ms is None:
            raise BybitApiError(10001, f"Invalid period! interval={interval}")
        if interval_ms % self.base_ms:
            raise BybitApiError(10001, f"interval {interval} is finer than the emulator feed ({self.base_ms} ms)")
        limit = max(1, min(limit, MAX_KLINE_LIMIT))
        last = self.forming_index(now_ms)
        if last < 0:
            return []
        lo = (
            0
            if start is None
            else int(np.searchsorted(self.open_ms, (start + interval_ms - 1) // interval_ms * interval_ms, side="left"))
        )
        hi = last + 1
        if end is not None:
            end_bucket = end // interval_ms * interval_ms
            hi = min(hi, int(np.searchsorted(self.open_ms, end_bucket + interval_ms, side="left")))
        if hi <= lo:
            return []
        buckets = self.open_ms[lo:hi] // interval_ms * interval_ms
        starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
        starts = starts[:limit] if start is not None else starts[-limit:]
        first, stop = lo + int(starts[0]), hi
        if start is not None and len(starts) == limit:
            following = np.flatnonzero(buckets[int(starts[-1]) :] != buckets[int(starts[-1])])
            if following.size:
                stop = lo + int(starts[-1]) + int(following[0])
        return self._aggregate(first, stop, interval_ms, now_ms)[::-1]

    def _aggregate(self, first: int, stop: int, interval_ms: int, now_ms: int) -> list[list[str]]:
        high, low, close, vol = (a[first:stop].copy() for a in (self.high, self.low, self.close, self.volume))
        if self.open_ms[stop - 1] + self.base_ms > now_ms:  # still forming: only its open is known
            high[-1] = low[-1] = close[-1] = self.open[stop - 1]
            vol[-1] = 0.0
        buckets = self.open_ms[first:stop] // interval_ms * interval_ms
        starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
        ends = np.r_[starts[1:], len(buckets)] - 1
        opens = self.open[first:stop][starts]
        highs = np.maximum.reduceat(high, starts)
        lows = np.minimum.reduceat(low, starts)
        closes = close[ends]
        vols = np.add.reduceat(vol, starts)
        turnover = np.add.reduceat(vol * close, starts)
        return [
            [str(int(buckets[s])), num(o), num(h), num(lw), num(c), num(v), num(t)]
            for s, o, h, lw, c, v, t in zip(starts, opens, highs, lows, closes, vols, turnover, strict=True)
        ]
