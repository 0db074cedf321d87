"""The exchange boundary: the one package that imports ccxt. A client factory, the translation of ccxt errors to
:mod:`bot.errors` (Bybit retCodes, redacted keys) and one retry policy, used by the candle downloader and the broker."""

from bot.exchange.client import (
    DEFAULT_TIMEOUT_MS,
    Exchange,
    listed_symbols,
    load_market,
    make_exchange,
    market_category,
    probe,
    use_symbol,
)
from bot.exchange.errors import (
    POST_ONLY_REASON,
    bybit_ret_code,
    classify,
    is_order_not_found,
    is_order_refusal,
    is_post_only_refusal,
    is_stop_refusal,
    is_unreachable,
    redact,
    root_cause,
    translated,
)
from bot.exchange.retry import RetryPolicy, call_with_retries, retrier

__all__ = [
    "DEFAULT_TIMEOUT_MS",
    "POST_ONLY_REASON",
    "Exchange",
    "RetryPolicy",
    "bybit_ret_code",
    "call_with_retries",
    "classify",
    "is_order_not_found",
    "is_order_refusal",
    "is_post_only_refusal",
    "is_stop_refusal",
    "is_unreachable",
    "listed_symbols",
    "load_market",
    "make_exchange",
    "market_category",
    "probe",
    "redact",
    "retrier",
    "root_cause",
    "translated",
    "use_symbol",
]
