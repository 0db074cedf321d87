"""The exchange's own record of what was traded: Bybit V5 order history and executions, read through ccxt.

Part of the Bybit order logic of ``bot.live`` (ccxt's errors are translated by :mod:`bot.exchange`). Bybit answers
``/v5/order/history`` and ``/v5/execution/list`` for at most 7 days per request (a lone ``startTime`` means the 7 days
after it) and pages with ``nextPageCursor``; the history may lag the fills, so executions are the truth for filled
quantities. :func:`fetch_history` walks both in 7-day windows and merges them per order. Orders without an
``orderLinkId`` (position stop-loss / take-profit triggered by the exchange, liquidations, trades made by hand) get
the client id ``exchange-<order id>``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from bot.exchange import POST_ONLY_REASON, Exchange, translated
from bot.live.broker import EXCHANGE_PREFIX, OrderState, OrderStatus

#: Bybit's widest order-history / execution-list window, less 1 ms so both ends fit.
WINDOW_MS = 7 * 86_400_000 - 1
#: Rows per request (Bybit's maxima: 50 orders, 100 executions).
ORDER_PAGE = 50
TRADE_PAGE = 100
#: Pages read per window before giving up on completeness (50 x 20 = 1000 orders a week is far beyond a bar bot).
MAX_PAGES = 20


def order_state(order: dict[str, Any]) -> OrderState:
    """A ccxt order structure as an :class:`OrderState` (creation time in ``time_ms``)."""
    info = order.get("info") or {}
    raw_status = str(order.get("status") or "open")
    status: OrderStatus = raw_status if raw_status in ("open", "closed", "canceled", "rejected") else "open"  # type: ignore[assignment]
    fee = order.get("fee") or {}
    filled = float(order.get("filled") or 0.0)
    is_limit = str(order.get("type") or info.get("orderType") or "").lower() == "limit"
    # Bybit's reason for a refusal or a cancel by the exchange (a post-only order that would have taken liquidity)
    reason = str(info.get("rejectReason") or "")
    if reason == POST_ONLY_REASON and status == "rejected":
        status = "canceled"  # unfilled, whether Bybit reports it Cancelled or Rejected: not a refused order
    return OrderState(
        client_id=str(order.get("clientOrderId") or ""),
        order_id=str(order.get("id") or ""),
        side="buy" if order.get("side") == "buy" else "sell",
        qty=float(order.get("amount") or info.get("qty") or filled),
        filled=filled,
        average_price=float(order.get("average") or 0.0),
        status=status,
        fee=float(fee.get("cost") or info.get("cumExecFee") or 0.0),
        reduce_only=bool(order.get("reduceOnly")),
        error="" if reason in ("", "EC_NoError") else reason,
        time_ms=int(order.get("timestamp") or 0),
        trigger=_trigger(info),
        order_type="limit" if is_limit else "market",
        price=float(order.get("price") or 0.0) if is_limit else 0.0,
    )


def _trigger(info: dict[str, Any]) -> str:
    """Bybit's ``stopOrderType`` (``StopLoss``, ``TakeProfit`` ...); '' for a plain order (Bybit: '' or UNKNOWN)."""
    kind = str(info.get("stopOrderType") or "")
    return "" if kind == "UNKNOWN" else kind


def trigger_words(trigger: str) -> str:
    """Log words for an exchange-placed order; 'stop loss' / 'take profit' are SmartLogger critical keywords."""
    return {"StopLoss": "stop loss", "TakeProfit": "take profit"}.get(trigger, trigger or "exchange order")


def _pages(fetch: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every row of a cursor-paged request (ccxt puts ``nextPageCursor`` in the first row's ``info``)."""
    rows: list[dict[str, Any]] = []
    params: dict[str, Any] = {}
    for _ in range(MAX_PAGES):
        page = fetch(params)
        rows.extend(page)
        cursor = next((r["info"]["nextPageCursor"] for r in page if (r.get("info") or {}).get("nextPageCursor")), "")
        if not page or not cursor:
            break
        params = {"cursor": cursor}
    return rows


def fetch_history(
    exchange: Exchange, symbol: str, since_ms: int, until_ms: int, secrets: tuple[str, ...] = ()
) -> list[OrderState]:
    """Orders of ``symbol`` created in ``[since_ms, until_ms]``, their fills taken from the executions, oldest first.

    :param exchange: the ``ccxt.bybit`` client.
    :param symbol: ccxt symbol.
    :param since_ms: earliest creation / execution time, UTC ms.
    :param until_ms: latest, UTC ms (the exchange clock now).
    :param secrets: API key and secret, redacted from errors.
    :raises BrokerError: (or a subclass) when the exchange refuses or fails the requests.
    """
    orders: dict[str, OrderState] = {}
    trades: dict[str, list[dict[str, Any]]] = defaultdict(list)
    start = since_ms
    while start <= until_ms:
        end = min(start + WINDOW_MS, until_ms)
        window: dict[str, Any] = {"since": start, "endTime": end}
        with translated(f"fetch the order history of {symbol}", secrets):
            for order in _pages(functools.partial(_orders, exchange, symbol, window)):
                state = order_state(order)
                orders.setdefault(state.order_id, state)
        with translated(f"fetch the executions of {symbol}", secrets):
            for trade in _pages(functools.partial(_trades, exchange, symbol, window)):
                trades[str(trade.get("order") or "")].append(trade)
        start = end + 1
    for order_id, fills in trades.items():
        orders[order_id] = _with_fills(orders.get(order_id), order_id, fills)
    found = [
        o if o.client_id else dataclasses.replace(o, client_id=f"{EXCHANGE_PREFIX}{o.order_id}")
        for o in orders.values()
    ]
    return sorted(found, key=lambda o: (o.time_ms, o.client_id))


def _orders(exchange: Exchange, symbol: str, window: dict[str, Any], page: dict[str, Any]) -> list[dict[str, Any]]:
    # every final status (a market order cut short is PartiallyFilledCanceled, not Filled)
    params = {"endTime": window["endTime"], **page}
    rows: list[dict[str, Any]] = exchange.fetch_canceled_and_closed_orders(
        symbol, since=window["since"], limit=ORDER_PAGE, params=params
    )
    return rows


def _trades(exchange: Exchange, symbol: str, window: dict[str, Any], page: dict[str, Any]) -> list[dict[str, Any]]:
    params = {"endTime": window["endTime"], **page}
    rows: list[dict[str, Any]] = exchange.fetch_my_trades(
        symbol, since=window["since"], limit=TRADE_PAGE, params=params
    )
    return rows


def _with_fills(order: OrderState | None, order_id: str, fills: list[dict[str, Any]]) -> OrderState:
    """``order`` with the filled quantity, average price and fee of its executions (they may be newer than it)."""
    qty = sum(float(t.get("amount") or 0.0) for t in fills)
    value = sum(float(t.get("amount") or 0.0) * float(t.get("price") or 0.0) for t in fills)
    fee = sum(float((t.get("fee") or {}).get("cost") or 0.0) for t in fills)
    if order is not None and order.filled >= qty - 1e-12:
        return order
    info = fills[0].get("info") or {}
    average = value / qty if qty else 0.0
    if order is not None:
        return dataclasses.replace(order, filled=qty, average_price=average, fee=fee)
    return OrderState(
        client_id=str(info.get("orderLinkId") or ""),
        order_id=order_id,
        side="buy" if fills[0].get("side") == "buy" else "sell",
        qty=float(info.get("orderQty") or qty),
        filled=qty,
        average_price=average,
        status="closed",
        fee=fee,
        time_ms=min(int(t.get("timestamp") or 0) for t in fills),
        trigger=_trigger(info),
        order_type="limit" if str(info.get("orderType") or "") == "Limit" else "market",
        price=float(info.get("orderPrice") or 0.0) if str(info.get("orderType") or "") == "Limit" else 0.0,
    )
