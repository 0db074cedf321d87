"""The candle downloader's exchange calls: timeframe and market checks, the exchange clock, one page of candles.

The client, the retries and the translation of ccxt's errors come from :mod:`bot.exchange` (the one package that
imports ccxt); each call here is retried by :func:`bot.exchange.call_with_retries` under :data:`DOWNLOAD_RETRY`.
"""

from __future__ import annotations

import time
from typing import Any

from bot.config import TIMEFRAME_MS
from bot.errors import ConfigError
from bot.exchange import Exchange, RetryPolicy, call_with_retries, listed_symbols, load_market

#: Retries of a download call: 4 after the first attempt, waiting 1, 4, 9 and 16 s.
DOWNLOAD_RETRY = RetryPolicy(max_retries=4, backoff_s=1.0)
#: Candles per request when the exchange does not publish its maximum.
FALLBACK_PAGE_LIMIT = 500


def check_timeframe(ex: Exchange, timeframe: str) -> int:
    """Check that both the bot and the exchange support ``timeframe``.

    :param ex: the client.
    :param timeframe: e.g. ``"5m"``.
    :return: the bar length in milliseconds.
    :raises ConfigError: naming the timeframes that would work.
    """
    offered = ex.timeframes or {}
    if timeframe not in TIMEFRAME_MS or timeframe not in offered:
        usable = [t for t in TIMEFRAME_MS if t in offered]
        raise ConfigError(f"--timeframe={timeframe!r} is not supported for {ex.id}; use one of {', '.join(usable)}")
    return TIMEFRAME_MS[timeframe]


def listed_market(ex: Exchange, symbol: str, retry_policy: RetryPolicy = DOWNLOAD_RETRY) -> dict[str, Any]:
    """Load the exchange's markets (with retries) and return the one named ``symbol``.

    :param ex: the client.
    :param symbol: unified ccxt symbol: ``BTC/USDT`` (spot), ``BTC/USDT:USDT`` (linear perpetual).
    :param retry_policy: retries of the market list request.
    :return: the ccxt market dict.
    :raises ConfigError: the exchange has no such market.
    :raises TransientBrokerError: the exchange stayed unreachable.
    """
    market = call_with_retries(lambda: load_market(ex, symbol), what=f"load_markets on {ex.id}", policy=retry_policy)
    if market is None:
        similar = listed_symbols(ex, symbol.split("/")[0].upper() + "/")[:8]
        raise ConfigError(
            f"--symbol={symbol!r} is not a market on {ex.id}; use a unified ccxt symbol such as BTC/USDT (spot)"
            " or BTC/USDT:USDT (USDT perpetual)" + (f"; {ex.id} lists {', '.join(similar)}" if similar else "")
        )
    return market


def exchange_now_ms(ex: Exchange, retry_policy: RetryPolicy = DOWNLOAD_RETRY) -> int:
    """The exchange's clock in UTC milliseconds (``fetch_time``), or the local clock when it has none.

    The server clock decides which bar is still forming, so a skewed local clock cannot let a forming bar in.
    """
    if not ex.has.get("fetchTime"):
        return int(time.time() * 1000)
    return int(call_with_retries(ex.fetch_time, what=f"fetch_time on {ex.id}", policy=retry_policy))


def page_limit(ex: Exchange, market: dict[str, Any]) -> int:
    """The most candles one ``fetch_ohlcv`` call may return for ``market`` (ccxt ``features``, else a default)."""
    features = ex.features or {}
    kind = market.get("type", "spot")
    section = features.get(kind, {})
    if kind in ("swap", "future"):
        section = section.get("linear" if market.get("linear") else "inverse", {}) or {}
    limit = (section.get("fetchOHLCV") or {}).get("limit")
    return int(limit) if limit else FALLBACK_PAGE_LIMIT


def fetch_candles(
    ex: Exchange,
    symbol: str,
    timeframe: str,
    start_ms: int,
    stop_ms: int,
    limit: int,
    retry_policy: RetryPolicy = DOWNLOAD_RETRY,
) -> list[list[float]]:
    """Fetch the candles that OPEN in ``[start_ms, stop_ms)`` with one ``fetch_ohlcv`` call (with retries).

    The window must hold at most ``limit`` bars, so the answer is complete whether the exchange anchors a window
    at its start or at its end.

    :param ex: the client.
    :param symbol: unified symbol.
    :param timeframe: e.g. ``"5m"``.
    :param start_ms: first bar open time (inclusive), UTC milliseconds.
    :param stop_ms: end of the window (exclusive).
    :param limit: bars requested.
    :param retry_policy: retries of the request.
    :return: ``[timestamp_ms, open, high, low, close, volume]`` rows, oldest first, inside the window only.
    """
    rows: list[list[float]] = call_with_retries(
        lambda: ex.fetch_ohlcv(symbol, timeframe, since=start_ms, limit=limit, params={"until": stop_ms - 1}),
        what=f"fetch_ohlcv {symbol} {timeframe} from {start_ms}",
        policy=retry_policy,
    )
    return [row for row in rows if start_ms <= row[0] < stop_ms]
