"""The ccxt client factory of ``bot.live``: a ``ccxt.bybit`` on the testnet (sandbox) or any base URL (the tests'
loopback emulator)."""

from __future__ import annotations

from typing import Any

import ccxt

from bot.config import LiveConfig

_URL_KEYS = ("spot", "futures", "v2", "public", "private")


def make_exchange(live: LiveConfig, api_key: str | None, api_secret: str | None, timeout_ms: int = 10_000) -> Any:
    """A configured ``ccxt.bybit``: sandbox (testnet) per ``live.testnet``, every URL replaced by ``live.exchange_url``.

    :param live: the live section (symbol decides spot or swap).
    :param api_key: API key, or None for public data only (dry run).
    :param api_secret: API secret.
    :param timeout_ms: HTTP timeout per request.
    """
    options: dict[str, Any] = {
        "defaultType": "spot" if ":" not in live.symbol else "swap",
        "fetchMarkets": {"types": ["spot", "linear"]},
        "enableUnifiedAccount": True,
        "enableUnifiedMargin": False,
    }
    config: dict[str, Any] = {
        "enableRateLimit": True,
        "timeout": timeout_ms,
        "options": options,
        "has": {"fetchCurrencies": False},
    }
    if api_key and api_secret:
        config |= {"apiKey": api_key, "secret": api_secret}
    exchange = ccxt.bybit(config)
    if live.testnet:
        exchange.set_sandbox_mode(True)
    if live.exchange_url:
        base = live.exchange_url.rstrip("/")
        loop = dict.fromkeys(_URL_KEYS, base)
        exchange.urls["api"] = dict(loop)
        exchange.urls["test"] = dict(loop)
    return exchange
