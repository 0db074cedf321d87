"""Translation of ccxt / Bybit V5 errors to :mod:`bot.errors`, with the API key and secret redacted.

The one place (with :mod:`bot.exchange.client` and :mod:`bot.exchange.retry`) where ccxt's exceptions are named:
the candle downloader and the broker see :mod:`bot.errors` only, and ask the predicates here about a translated
error's ccxt cause. Bybit answers most errors with HTTP 200 and a ``retCode``; ccxt puts the whole body in its message
(``bybit {"retCode":10016,...}``), and for a bad signature (10004) Bybit echoes the signed string, API key included
(``origin_string[...]``). So the class ccxt picks is not enough, and no message may leave this module unredacted.
The rules:

- transient, retried with backoff: network errors, timeouts, HTTP 5xx and 403, and retCodes 10000 (server timeout),
  10002 (request timestamp outside the window: a clock hiccup), 10006 / 10018 (rate limits), 10016 (server error),
  10019 (service restarting);
- an order the exchange refuses (insufficient funds, invalid order, and on an order action retCode 10001 or any
  110xxx): :class:`~bot.errors.OrderRejectedError` / :class:`~bot.errors.InsufficientFundsError`, recorded as a
  refusal by the broker; the run goes on;
- refused credentials: :class:`~bot.errors.AuthenticationError`; everything else: :class:`~bot.errors.BrokerError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import ccxt

from bot.errors import (
    AuthenticationError,
    BrokerError,
    InsufficientFundsError,
    OrderRejectedError,
    TransientBrokerError,
)

#: Bybit retCodes that mean "try again later".
TRANSIENT_RET_CODES = frozenset({10000, 10002, 10006, 10016, 10018, 10019})
#: Parameter error: on an order it means the exchange refused this order (e.g. a stop on the wrong side of the price).
PARAMS_ERROR = 10001
REDACTED = "[REDACTED]"
_RET_CODE = re.compile(r'"ret_?[cC]ode"\s*:\s*(\d+)')


def bybit_ret_code(error: BaseException) -> int | None:
    """The Bybit ``retCode`` carried in a ccxt error message, None when there is none."""
    match = _RET_CODE.search(str(error))
    return int(match.group(1)) if match else None


def is_order_refusal(code: int | None) -> bool:
    """True for the retCodes by which Bybit refuses one order: 10001 (parameters) and the 110xxx family."""
    return code is not None and (code == PARAMS_ERROR or 110_000 <= code < 120_000)


def is_stop_refusal(error: str) -> bool:
    """Bybit's 10001 for a stop-loss / take-profit on the wrong side of the price ("StopLoss:... set for Buy position
    should lower than base_price...")."""
    return "10001" in error and ("StopLoss" in error or "TakeProfit" in error)


#: Bybit's ``rejectReason`` of a post-only order cancelled because it would have taken liquidity.
POST_ONLY_REASON = "EC_PostOnlyWillTakeLiquidity"


def is_post_only_refusal(error: BrokerError) -> bool:
    """True when the exchange refused a post-only order because it would have taken liquidity: ccxt's
    ``OrderImmediatelyFillable``, or a refusal whose message names the post-only rule."""
    if isinstance(error.__cause__, ccxt.OrderImmediatelyFillable):
        return True
    text = str(error).lower()
    return POST_ONLY_REASON.lower() in text or "postonly" in text or "post only" in text or "post-only" in text


def is_unreachable(error: BrokerError) -> bool:
    """True when no answer came at all (connection refused or reset, unknown host, timeout); an HTTP answer of any
    kind (5xx, 403, a rate-limit retCode) means the exchange was reached."""
    return type(error.__cause__) in (ccxt.NetworkError, ccxt.RequestTimeout)


def is_order_not_found(error: BrokerError) -> bool:
    """True when the exchange no longer knows the order (Bybit 110001: filled or cancelled meanwhile)."""
    return isinstance(error.__cause__, ccxt.OrderNotFound)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each non-empty secret replaced by ``[REDACTED]``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def root_cause(error: BaseException) -> str:
    """``Type: message`` of the innermost cause (e.g. ``ConnectionRefusedError: [Errno 111] ...``).

    ccxt's network errors name only the request; the reason (refused, DNS, TLS) sits in the chained
    requests / urllib3 exceptions.
    """
    inner: BaseException = error
    seen = {id(inner)}
    while (nxt := inner.__cause__ or inner.__context__) is not None and id(nxt) not in seen:
        seen.add(id(nxt))
        inner = nxt
    if inner is error:
        return ""
    text = str(inner)
    # urllib3 nests the reason in a long repr: keep its last, most specific part
    found = re.findall(r"\[Errno -?\d+\][^'\")]*|Name or service not known|timed out|Connection refused", text)
    return f"{type(inner).__name__}: {found[-1] if found else text[:300]}"


def classify(error: ccxt.BaseError, is_order: bool) -> type[BrokerError]:
    """The :mod:`bot.errors` class for a ccxt error (see the module docstring for the rules).

    :param error: what ccxt raised.
    :param is_order: True when the failed call placed an order (then 10001 / 110xxx are refusals of that order).
    """
    code = bybit_ret_code(error)
    if isinstance(error, ccxt.AuthenticationError | ccxt.PermissionDenied | ccxt.AccountSuspended):
        return AuthenticationError
    if isinstance(error, ccxt.NetworkError) or code in TRANSIENT_RET_CODES:
        return TransientBrokerError
    if isinstance(error, ccxt.InsufficientFunds):
        return InsufficientFundsError
    if isinstance(error, ccxt.InvalidOrder) or (is_order and is_order_refusal(code)):
        return OrderRejectedError
    return BrokerError


def _explain(kind: type[BrokerError], action: str, error: ccxt.BaseError) -> str:
    name = type(error).__name__
    if kind is AuthenticationError:
        return (
            f"{action}: the exchange refused the API credentials ({error}); check BYBIT_API_KEY / BYBIT_API_SECRET"
            " and that the key was made on testnet.bybit.com for --testnet (mainnet keys do not work there)"
        )
    if isinstance(error, ccxt.InvalidNonce):
        return f"{action}: request timestamp refused ({error}); retrying; if it persists synchronise the clock (NTP)"
    if kind is TransientBrokerError:
        cause = root_cause(error)
        return f"{action}: {name}: {error}{f' ({cause})' if cause else ''}"
    if kind is InsufficientFundsError:
        return f"{action}: insufficient funds: {error}"
    if kind is OrderRejectedError:
        return f"{action}: order rejected: {error}"
    if isinstance(error, ccxt.BadSymbol):
        return f"{action}: unknown symbol ({error}); use a ccxt symbol such as BTC/USDT:USDT"
    return f"{action}: {name}: {error}"


@contextmanager
def translated(action: str, secrets: tuple[str, ...] = (), *, is_order: bool = False) -> Iterator[None]:
    """Translate ccxt errors raised inside the block to :mod:`bot.errors`, naming the action, secrets redacted.

    The ccxt error stays chained (``raise ... from e``) with its own message redacted too, so that no traceback
    shows the key either.

    :param action: what was being done (``create buy 0.1 BTC/USDT:USDT (bot1-65f0-0)``).
    :param secrets: the API key and secret to redact.
    :param is_order: the block places an order (see :func:`classify`).
    """
    try:
        yield
    except ccxt.BaseError as e:
        e.args = tuple(redact(str(a), secrets) for a in e.args)
        kind = classify(e, is_order)
        raise kind(redact(_explain(kind, action, e), secrets)) from e
