"""The one ccxt client factory: sandbox (testnet), URL override (the tests' loopback emulator), credentials, timeout,
and the loading of a symbol's markets. The candle downloader and the broker build their clients here."""

from __future__ import annotations

from typing import Any, TypeAlias

import ccxt

from bot.errors import BrokerError, ConfigError, TransientBrokerError
from bot.exchange.errors import is_unreachable, redact, root_cause, translated

#: A ccxt client, for annotations outside this package (which never import ccxt).
Exchange: TypeAlias = ccxt.Exchange

#: HTTP timeout per request (ccxt's own default).
DEFAULT_TIMEOUT_MS = 10_000


def make_exchange(
    exchange_id: str,
    *,
    symbol: str | None = None,
    testnet: bool = False,
    exchange_url: str | None = None,
    api_key: str | None = None,
    api_secret: str | None = None,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
) -> Exchange:
    """A ccxt client with ccxt's rate limiter on.

    :param exchange_id: ccxt exchange id such as ``"bybit"`` or ``"binance"``.
    :param symbol: the symbol the client is for, when known: it picks the default market type (spot or swap) and,
        on Bybit, the only market category loaded (see :func:`use_symbol`).
    :param testnet: switch to the exchange's sandbox with ``set_sandbox_mode(True)``.
    :param exchange_url: when set, every ccxt URL (live and sandbox) points here (a loopback emulator in tests).
    :param api_key: API key, or None for public data only.
    :param api_secret: API secret.
    :param timeout_ms: HTTP timeout per request.
    :return: the client.
    :raises ConfigError: unknown exchange id, or no sandbox for ``testnet``.
    """
    if exchange_id not in ccxt.exchanges:
        close = [e for e in ccxt.exchanges if e.startswith(exchange_id[:3].lower())][:8]
        raise ConfigError(
            f"--exchange={exchange_id!r} is not a ccxt exchange id; use a lower-case id such as bybit or binance"
            + (f" (close matches: {', '.join(close)})" if close else "")
        )
    config: dict[str, Any] = {"enableRateLimit": True, "timeout": timeout_ms}
    if exchange_id == "bybit":
        # the bot trades on unified accounts; skipping ccxt's account-kind probes and the signed coin list saves
        # three private requests at start-up (shared/bybit_v5_ccxt_notes.md)
        config["options"] = {"enableUnifiedAccount": True, "enableUnifiedMargin": False}
        config["has"] = {"fetchCurrencies": False}
    if api_key and api_secret:
        config |= {"apiKey": api_key, "secret": api_secret}
    ex: Exchange = getattr(ccxt, exchange_id)(config)
    # ccxt lists some exchanges with 'test': None, which set_sandbox_mode trips on
    if testnet and not ex.urls.get("test"):
        raise ConfigError(f"--testnet: {exchange_id} has no sandbox in ccxt; drop --testnet")
    if exchange_url is not None:
        base = exchange_url.rstrip("/")
        for key in ("api", "test"):
            if ex.urls.get(key):
                ex.urls[key] = _point_at(ex.urls[key], base)
    if testnet:
        ex.set_sandbox_mode(True)
    if symbol is not None:
        use_symbol(ex, symbol)
    return ex


def _point_at(urls: Any, base: str) -> Any:
    """Replace every URL string in a (nested) ccxt ``urls`` entry with ``base``."""
    if isinstance(urls, dict):
        return {k: _point_at(v, base) for k, v in urls.items()}
    return base if isinstance(urls, str) else urls


def market_category(symbol: str) -> str:
    """Bybit's category of a unified ccxt symbol: ``spot`` (``BTC/USDT``), ``linear`` (``BTC/USDT:USDT``) or
    ``inverse`` (``BTC/USD:BTC``)."""
    if ":" not in symbol:
        return "spot"
    return "linear" if symbol.split(":")[1] in ("USDT", "USDC") else "inverse"


def use_symbol(ex: Exchange, symbol: str) -> None:
    """Point the client at ``symbol``: its market type becomes the default, and on Bybit only its category of
    markets is loaded (a spot download needs no linear, inverse or option instrument lists)."""
    ex.options["defaultType"] = "spot" if ":" not in symbol else "swap"
    if ex.id == "bybit":
        ex.options["fetchMarkets"] = {**ex.options.get("fetchMarkets", {}), "types": [market_category(symbol)]}


def load_market(ex: Exchange, symbol: str) -> dict[str, Any] | None:
    """Load the markets of ``symbol``'s category (see :func:`use_symbol`) and return its market, None when unlisted.

    Not retried and not translated here: callers wrap it in their retrier (:mod:`bot.exchange.retry`).

    :param ex: the client.
    :param symbol: unified ccxt symbol (a market id such as ``BTCUSDT`` is accepted too, as by ``ex.market``).
    :return: the ccxt market dict, or None.
    """
    use_symbol(ex, symbol)
    ex.load_markets()
    try:
        market: dict[str, Any] = ex.market(symbol)
    except ccxt.BadSymbol:
        return None
    return market


def listed_symbols(ex: Exchange, prefix: str = "") -> list[str]:
    """The loaded symbols starting with ``prefix``, sorted (for messages that suggest a symbol)."""
    return sorted(s for s in ex.symbols or [] if s.startswith(prefix))


def probe(ex: Exchange, secrets: tuple[str, ...] = ()) -> None:
    """One unretried ``fetch_time``: fail at once, naming the URL and the cause, when the exchange cannot be reached.

    An answer of any kind (even HTTP 5xx or a rate limit) counts as reached: the caller's retries deal with it.

    :param ex: the client.
    :param secrets: the API key and secret to redact.
    :raises BrokerError: connection refused or reset, unknown host, timeout.
    """
    try:
        with translated("reach the exchange", secrets):
            ex.fetch_time()
    except TransientBrokerError as e:
        if not is_unreachable(e):
            return
        cause = e.__cause__
        reason = (root_cause(cause) if cause else "") or type(cause).__name__
        raise BrokerError(
            redact(
                f"cannot reach the exchange at {_public_url(ex)} ({reason}); check --exchange-url /"
                " live.exchange_url and the network",
                secrets,
            )
        ) from e


def _public_url(ex: Exchange) -> str:
    """The base URL of the client's public API (after the sandbox switch and any URL override)."""
    api = ex.urls.get("api")
    if isinstance(api, dict):
        return str(api.get("public") or next(iter(api.values()), ""))
    return str(api)
