"""Faults the loopback Bybit V5 emulator can inject, one per request, queued per path.

Each helper returns a :class:`Fault`; ``BybitEmulator.inject(path, *faults)`` queues them and every request to that
path consumes the next one. What the real ccxt client then raises:

============================  ==========================================  ==================================
helper                        what the emulator does                      ccxt raises
============================  ==========================================  ==================================
``http_error(503)``           HTTP 503 with an HTML body                  ``ExchangeNotAvailable``
``forbidden()``               HTTP 403 (Bybit's IP rate limit)            ``RateLimitExceeded``
``timeout(2.0)``              sleeps 2 s before answering                 ``RequestTimeout`` (client timeout)
``timeout(2.0, after=True)``  processes the request, then sleeps          ``RequestTimeout``, but it happened
``rate_limit()``              retCode 10006                               ``RateLimitExceeded``
``insufficient_funds()``      retCode 110007                              ``InsufficientFunds``
``rejected()``                retCode 110017 (any retCode via ret_code)   ``InvalidOrder``
``partial_fill(0.4)``         /v5/order/create: a market order fills 40 %  (no error; order status
                              and the rest is cancelled                   ``PartiallyFilledCanceled``)
============================  ==========================================  ==================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FaultKind = Literal["http", "timeout", "retcode", "partial_fill"]


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault.

    :param kind: ``http`` (status code + body), ``timeout`` (sleep before or after processing), ``retcode`` (a Bybit
        error envelope with HTTP 200) or ``partial_fill`` (order create fills only ``fill_fraction`` of the quantity).
    :param status: HTTP status for ``http``.
    :param ret_code: Bybit retCode for ``retcode``.
    :param message: retMsg (or HTTP body) sent back.
    :param delay_s: seconds slept for ``timeout``.
    :param after: ``timeout`` only: process the request first (the order exists) and then stall, like a lost response.
    :param fill_fraction: share of the quantity filled for ``partial_fill``.
    """

    kind: FaultKind
    status: int = 200
    ret_code: int = 0
    message: str = ""
    delay_s: float = 0.0
    after: bool = False
    fill_fraction: float = 1.0


def http_error(status: int = 503, body: str = "<html><body>Service Unavailable</body></html>") -> Fault:
    """An HTTP 5xx (or any status) answer with a non-JSON body, as a load balancer sends."""
    return Fault(kind="http", status=status, message=body)


def forbidden() -> Fault:
    """HTTP 403: Bybit's answer when the IP exceeds 600 requests per 5 s."""
    return Fault(kind="http", status=403, message="<html><body>403 Forbidden</body></html>")


def timeout(delay_s: float = 2.0, *, after: bool = False) -> Fault:
    """Answer only after ``delay_s`` seconds (set the client timeout below it).

    :param after: process the request before stalling, so that e.g. an order is created although the client times out.
    """
    return Fault(kind="timeout", delay_s=delay_s, after=after)


def ret_code(code: int, message: str) -> Fault:
    """Any Bybit error envelope ``{"retCode": code, "retMsg": message}`` with HTTP 200."""
    return Fault(kind="retcode", ret_code=code, message=message)


def rate_limit() -> Fault:
    """retCode 10006: too many visits for this UID in the current 1 s window."""
    return ret_code(10006, "Too many visits. Exceeded the API Rate Limit.")


def insufficient_funds() -> Fault:
    """retCode 110007: not enough available balance for the order."""
    return ret_code(110007, "ab not enough for new order")


def rejected(code: int = 110017, message: str = "Reduce-only rule not satisfied") -> Fault:
    """An invalid-order rejection (default 110017, reduce-only rule not satisfied)."""
    return ret_code(code, message)


def partial_fill(fraction: float) -> Fault:
    """The next market order fills only ``fraction`` of its quantity; the rest is cancelled (IOC)."""
    if not 0 < fraction < 1:
        raise ValueError(f"partial_fill fraction={fraction} must lie in (0, 1)")
    return Fault(kind="partial_fill", fill_fraction=fraction)
