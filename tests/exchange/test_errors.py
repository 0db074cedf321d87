"""Translation of ccxt / Bybit errors to the bot's errors: classification by class and retCode, key redaction."""

from __future__ import annotations

import ccxt
import pytest

from bot.errors import (
    AuthenticationError,
    BrokerError,
    InsufficientFundsError,
    OrderRejectedError,
    TransientBrokerError,
)
from bot.exchange import (
    bybit_ret_code,
    classify,
    is_order_not_found,
    is_post_only_refusal,
    is_stop_refusal,
    is_unreachable,
    redact,
    root_cause,
    translated,
)

KEY, SECRET = "K3yVa1ue", "S3cretVa1ue"


def _body(code: int) -> str:
    return f'bybit {{"retCode":{code},"retMsg":"x"}}'


@pytest.mark.parametrize(
    ("error", "is_order", "kind"),
    [
        (ccxt.AuthenticationError(_body(10003)), False, AuthenticationError),
        (ccxt.PermissionDenied("no"), False, AuthenticationError),
        (ccxt.RequestTimeout("slow"), False, TransientBrokerError),
        (ccxt.RateLimitExceeded(_body(10006)), False, TransientBrokerError),
        (ccxt.ExchangeNotAvailable("503"), False, TransientBrokerError),
        (ccxt.InvalidNonce(_body(10002)), True, TransientBrokerError),
        (ccxt.ExchangeError(_body(10016)), True, TransientBrokerError),  # HTTP 200 + a server-error retCode
        (ccxt.InsufficientFunds(_body(110007)), True, InsufficientFundsError),
        (ccxt.InvalidOrder(_body(110017)), False, OrderRejectedError),
        (ccxt.BadRequest(_body(10001)), True, OrderRejectedError),
        (ccxt.BadRequest(_body(10001)), False, BrokerError),  # a params error outside an order is no refusal
        (ccxt.ExchangeError(_body(110013)), True, OrderRejectedError),
        (ccxt.BadSymbol("bybit does not have market symbol X"), False, BrokerError),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_classify(error: ccxt.BaseError, is_order: bool, kind: type[BrokerError]) -> None:
    assert classify(error, is_order) is kind


def test_translated_names_the_action_chains_the_cause_and_redacts_both() -> None:
    with (
        pytest.raises(AuthenticationError, match=r"fetch balance: .*BYBIT_API_KEY") as info,
        translated("fetch balance", (KEY, SECRET)),
    ):
        raise ccxt.AuthenticationError(f'bybit {{"retCode":10004,"retMsg":"origin_string[{KEY}..."}}')
    assert isinstance(info.value.__cause__, ccxt.AuthenticationError)
    for error in (info.value, info.value.__cause__):
        assert KEY not in str(error) and "[REDACTED]" in str(error)


def test_translated_lets_other_errors_through() -> None:
    with pytest.raises(KeyError), translated("x"):
        raise KeyError("bug")


def _translated_error(error: ccxt.BaseError, *, is_order: bool = False) -> BrokerError:
    with pytest.raises(BrokerError) as info, translated("act", is_order=is_order):
        raise error
    return info.value


def test_predicates_on_the_ccxt_cause() -> None:
    assert is_unreachable(_translated_error(ccxt.NetworkError("refused")))
    assert is_unreachable(_translated_error(ccxt.RequestTimeout("slow")))
    assert not is_unreachable(_translated_error(ccxt.ExchangeNotAvailable("503: an answer")))
    assert not is_unreachable(TransientBrokerError("no cause"))
    assert is_order_not_found(_translated_error(ccxt.OrderNotFound(_body(110001)), is_order=True))
    assert not is_order_not_found(_translated_error(ccxt.InvalidOrder(_body(110017)), is_order=True))
    assert is_post_only_refusal(_translated_error(ccxt.OrderImmediatelyFillable("would take"), is_order=True))
    assert is_post_only_refusal(OrderRejectedError("rejectReason EC_PostOnlyWillTakeLiquidity"))
    assert not is_post_only_refusal(OrderRejectedError("qty invalid"))
    assert is_stop_refusal('bybit {"retCode":10001,"retMsg":"StopLoss:300 set for Buy position should lower"}')
    assert not is_stop_refusal('bybit {"retCode":10001,"retMsg":"qty invalid"}')


def test_helpers() -> None:
    assert bybit_ret_code(Exception('bybit {"retCode":10016,"retMsg":"x"}')) == 10016
    assert bybit_ret_code(Exception("no code")) is None
    assert redact("a KEY b SECRET", ("KEY", "SECRET", "")) == "a [REDACTED] b [REDACTED]"
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError as inner:
            raise RuntimeError("bybit GET http://x") from inner
    except RuntimeError as outer:
        assert root_cause(outer) == "ConnectionRefusedError: [Errno 111] Connection refused"
