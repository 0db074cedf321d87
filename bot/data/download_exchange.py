"""The ccxt boundary of the candle downloader: client construction, bounded retries, ccxt errors -> bot errors.

Everything that touches ccxt for ``fetch-data`` lives here, so ccxt's exceptions never leak past this module.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import ccxt

from bot.config import TIMEFRAME_MS
from bot.errors import BrokerError, ConfigError, TransientBrokerError

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: ccxt errors that usually resolve themselves after a while (all are ``ccxt.NetworkError`` subclasses; the
#: base class is listed too so that a DDoSProtection / InvalidNonce hiccup is also retried).
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    ccxt.RequestTimeout,
    ccxt.RateLimitExceeded,
    ccxt.ExchangeNotAvailable,
    ccxt.NetworkError,
)
#: Retries after the first failed attempt; the backoff before retry ``i`` (1-based) is ``BACKOFF_BASE_S * i**2``.
DEFAULT_RETRIES = 4
BACKOFF_BASE_S = 1.0
#: Candles per request when the exchange does not publish its maximum.
FALLBACK_PAGE_LIMIT = 500

#: Market types each Bybit symbol form needs; loading only those saves the other categories' requests.
_BYBIT_MARKET_TYPES = {"spot": ["spot"], "linear": ["linear"], "inverse": ["inverse"]}


def call_with_retries(
    fn: Callable[[], T],
    *,
    what: str,
    retries: int = DEFAULT_RETRIES,
    sleep: Callable[[float], None] | None = None,
) -> T:
    """Call ``fn``, retrying transient ccxt errors with quadratic backoff; translate every ccxt error.

    Logs ``"Retrying <what> ... N left"`` before each retry and ``"Giving up <what> ..."`` at the end.

    :param fn: the call (no arguments; bind them with a lambda or ``functools.partial``).
    :param what: description of the call for log lines and errors, e.g. ``"fetch_ohlcv BTC/USDT 5m"``.
    :param retries: retries after the first attempt (0 = try once).
    :param sleep: called with the backoff in seconds; ``time.sleep`` when None (tests pass a recorder).
    :return: what ``fn`` returns.
    :raises TransientBrokerError: a transient error persisted through every retry.
    :raises BrokerError: the exchange refused the call for another reason (not retried).
    """
    do_sleep = time.sleep if sleep is None else sleep
    for attempt in range(retries + 1):
        try:
            return fn()
        except TRANSIENT_ERRORS as e:
            left = retries - attempt
            if left == 0:
                logger.warning("Giving up %s after %d attempts: %s", what, retries + 1, e)
                raise TransientBrokerError(
                    f"{what} failed {retries + 1} times with a transient error ({type(e).__name__}: {e});"
                    " the exchange is unreachable or rate-limiting: wait and run the same command again to resume"
                ) from e
            backoff_s = BACKOFF_BASE_S * (attempt + 1) ** 2
            logger.warning("Retrying %s in %.0f s after %s: %s (%d left)", what, backoff_s, type(e).__name__, e, left)
            do_sleep(backoff_s)
        except ccxt.BaseError as e:
            raise BrokerError(f"{what} was refused by the exchange ({type(e).__name__}: {e})") from e
    raise AssertionError("unreachable: the loop returns or raises")


def make_exchange(exchange_id: str, *, testnet: bool = False, exchange_url: str | None = None) -> ccxt.Exchange:
    """Build a public (unauthenticated) ccxt client.

    :param exchange_id: ccxt exchange id such as ``"bybit"`` or ``"binance"``.
    :param testnet: switch to the exchange's sandbox with ``set_sandbox_mode(True)``.
    :param exchange_url: when set, every ccxt URL (live and sandbox) points here (a loopback emulator in tests).
    :return: the client, with ccxt's own rate limiter on.
    :raises ConfigError: unknown exchange id, or no sandbox for ``testnet``.
    """
    if exchange_id not in ccxt.exchanges:
        close = [e for e in ccxt.exchanges if e.startswith(exchange_id[:3].lower())][:8]
        raise ConfigError(
            f"--exchange={exchange_id!r} is not a ccxt exchange id; use a lower-case id such as bybit or binance"
            + (f" (close matches: {', '.join(close)})" if close else "")
        )
    options: dict[str, Any] = {"enableRateLimit": True}
    ex: ccxt.Exchange = getattr(ccxt, exchange_id)(options)
    if exchange_url is not None:
        base = exchange_url.rstrip("/")
        for key in ("api", "test"):
            if ex.urls.get(key):
                ex.urls[key] = _point_at(ex.urls[key], base)
    if testnet:
        if not ex.urls.get("test"):  # ccxt lists some exchanges with 'test': None, which set_sandbox_mode trips on
            raise ConfigError(f"--testnet: {exchange_id} has no sandbox in ccxt; drop --testnet")
        ex.set_sandbox_mode(True)
    return ex


def _point_at(urls: Any, base: str) -> Any:
    """Replace every URL string in a (nested) ccxt ``urls`` entry with ``base``."""
    if isinstance(urls, dict):
        return {k: _point_at(v, base) for k, v in urls.items()}
    return base if isinstance(urls, str) else urls


def check_timeframe(ex: ccxt.Exchange, timeframe: str) -> int:
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


def load_market(ex: ccxt.Exchange, symbol: str, *, sleep: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Load the exchange's markets (with retries) and return the one named ``symbol``.

    :param ex: the client.
    :param symbol: unified ccxt symbol: ``BTC/USDT`` (spot), ``BTC/USDT:USDT`` (linear perpetual).
    :param sleep: backoff sleeper for :func:`call_with_retries`.
    :return: the ccxt market dict.
    :raises ConfigError: the exchange has no such market.
    :raises TransientBrokerError: the exchange stayed unreachable.
    """
    if ex.id == "bybit":
        # Only the category the symbol lives in: a spot download needs no linear/inverse/option instrument lists.
        kind = "spot" if ":" not in symbol else ("linear" if symbol.split(":")[1] in ("USDT", "USDC") else "inverse")
        ex.options["fetchMarkets"] = {**ex.options.get("fetchMarkets", {}), "types": _BYBIT_MARKET_TYPES[kind]}
    call_with_retries(ex.load_markets, what=f"load_markets on {ex.id}", sleep=sleep)
    try:
        market: dict[str, Any] = ex.market(symbol)
    except ccxt.BadSymbol as e:
        base = symbol.split("/")[0].upper()
        similar = [s for s in ex.symbols or [] if s.startswith(base + "/")][:8]
        raise ConfigError(
            f"--symbol={symbol!r} is not a market on {ex.id}; use a unified ccxt symbol such as BTC/USDT (spot)"
            " or BTC/USDT:USDT (USDT perpetual)" + (f"; {ex.id} lists {', '.join(similar)}" if similar else "")
        ) from e
    return market


def exchange_now_ms(ex: ccxt.Exchange, *, sleep: Callable[[float], None] | None = None) -> int:
    """The exchange's clock in UTC milliseconds (``fetch_time``), or the local clock when it has none.

    The server clock decides which bar is still forming, so a skewed local clock cannot let a forming bar in.
    """
    if not ex.has.get("fetchTime"):
        return int(time.time() * 1000)
    return int(call_with_retries(ex.fetch_time, what=f"fetch_time on {ex.id}", sleep=sleep))


def page_limit(ex: ccxt.Exchange, market: dict[str, Any]) -> int:
    """The most candles one ``fetch_ohlcv`` call may return for ``market`` (ccxt ``features``, else a default)."""
    features = ex.features or {}
    kind = market.get("type", "spot")
    section = features.get(kind, {})
    if kind in ("swap", "future"):
        section = section.get("linear" if market.get("linear") else "inverse", {}) or {}
    limit = (section.get("fetchOHLCV") or {}).get("limit")
    return int(limit) if limit else FALLBACK_PAGE_LIMIT


def fetch_candles(
    ex: ccxt.Exchange,
    symbol: str,
    timeframe: str,
    start_ms: int,
    stop_ms: int,
    limit: int,
    *,
    sleep: Callable[[float], None] | None = None,
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
    :param sleep: backoff sleeper for :func:`call_with_retries`.
    :return: ``[timestamp_ms, open, high, low, close, volume]`` rows, oldest first, inside the window only.
    """
    rows: list[list[float]] = call_with_retries(
        lambda: ex.fetch_ohlcv(symbol, timeframe, since=start_ms, limit=limit, params={"until": stop_ms - 1}),
        what=f"fetch_ohlcv {symbol} {timeframe} from {start_ms}",
        sleep=sleep,
    )
    return [row for row in rows if start_ms <= row[0] < stop_ms]
