"""Endpoint handlers of the Bybit V5 emulator: ``(emulator, params, fill_fraction) -> result`` for each route.

``params`` is the query (GET) or the JSON body (POST); handlers run under the emulator lock and raise
:class:`~tests.support.bybit_market.BybitApiError` for Bybit error envelopes. Numbers go out as strings, as Bybit's do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from tests.support.bybit_account import OPEN_STATUSES, Order
from tests.support.bybit_market import BybitApiError, num

if TYPE_CHECKING:
    from tests.support.bybit_emulator import BybitEmulator

Params = dict[str, Any]


def _int(params: Params, key: str, default: int | None = None) -> int | None:
    value = params.get(key)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as e:
        raise BybitApiError(10001, f"params error: {key}={value!r} is not an integer") from e


#: Bybit answers at most 7 days of order history and executions per request.
HISTORY_WINDOW_MS = 7 * 86_400_000


def history_window(params: Params, now_ms: int) -> tuple[int, int]:
    """(start, end) ms of an order-history or execution-list request, by Bybit's rules: neither given = the last 7
    days, only ``startTime`` = the 7 days after it, only ``endTime`` = the 7 days before it; wider is 10001."""
    start, end = _int(params, "startTime"), _int(params, "endTime")
    if start is None:
        end = now_ms if end is None else end
        start = end - HISTORY_WINDOW_MS
    elif end is None:
        end = start + HISTORY_WINDOW_MS
    if end - start > HISTORY_WINDOW_MS:
        raise BybitApiError(10001, "The time range between startTime and endTime cannot exceed 7 days")
    return start, end


def _page(rows: Sequence[dict[str, Any]], params: Params, default: int, maximum: int) -> dict[str, Any]:
    limit = min(_int(params, "limit", default) or default, maximum)
    offset = _int(params, "cursor", 0) or 0
    page = list(rows[offset : offset + limit])
    more = offset + limit < len(rows)
    return {"list": page, "nextPageCursor": str(offset + limit) if more else ""}


def market_time(emu: BybitEmulator, params: Params, _: float) -> Params:
    return {"timeSecond": str(emu.now_ms // 1000), "timeNano": str(emu.now_ms * 1_000_000)}


def instruments_info(emu: BybitEmulator, params: Params, _: float) -> Params:
    category = params.get("category", "")
    if params.get("status") == "PreLaunch" or category not in ("spot", "linear"):
        return {"category": category, "list": [], "nextPageCursor": ""}
    rows = [
        inst.spot_row() if category == "spot" else inst.linear_row()
        for symbol, inst in emu.account.instruments.get(category, {}).items()
        if params.get("symbol") in (None, "", symbol)
    ]
    return {"category": category, "list": rows, "nextPageCursor": ""}


def kline(emu: BybitEmulator, params: Params, _: float) -> Params:
    category, symbol = params.get("category", "linear"), params.get("symbol", "")
    emu.account.instrument(category, symbol)
    feed = emu.account.feeds.get(symbol)
    rows = (
        []
        if feed is None
        else feed.klines(
            str(params.get("interval", "")),
            emu.now_ms,
            _int(params, "start"),
            _int(params, "end"),
            _int(params, "limit", 200) or 200,
        )
    )
    return {"category": category, "symbol": symbol, "list": rows}


def tickers(emu: BybitEmulator, params: Params, _: float) -> Params:
    category = params.get("category", "linear")
    rows = []
    for symbol in emu.account.instruments.get(category, {}):
        if params.get("symbol") not in (None, "", symbol) or symbol not in emu.account.feeds:
            continue
        price = num(emu.account.price(symbol, emu.now_ms))
        row = {
            "symbol": symbol,
            "lastPrice": price,
            "bid1Price": price,
            "bid1Size": "1",
            "ask1Price": price,
            "ask1Size": "1",
            "prevPrice24h": price,
            "price24hPcnt": "0",
            "highPrice24h": price,
            "lowPrice24h": price,
            "turnover24h": "0",
            "volume24h": "0",
        }
        if category == "linear":
            row |= {
                "markPrice": price,
                "indexPrice": price,
                "openInterest": "0",
                "openInterestValue": "0",
                "fundingRate": "0.0001",
                "nextFundingTime": str(emu.now_ms // 28_800_000 * 28_800_000 + 28_800_000),
            }
        rows.append(row)
    return {"category": category, "list": rows}


def query_api(emu: BybitEmulator, params: Params, _: float) -> Params:
    return {
        "id": "1",
        "note": "emulator",
        "apiKey": emu.api_key,
        "readOnly": 0,
        "secret": "",
        "uta": 1,
        "permissions": {"ContractTrade": ["Order", "Position"], "Spot": ["SpotTrade"], "Wallet": ["AccountTransfer"]},
        "ips": ["*"],
        "type": 1,
        "deadlineDay": 90,
        "expiredAt": "",
        "createdAt": "",
        "unified": 0,
        "isMaster": True,
        "parentUid": "0",
        "userID": 1,
        "inviterID": 0,
        "vipLevel": "No VIP",
        "mktMakerLevel": "0",
        "affiliateID": 0,
        "rsaPublicKey": "",
        "kycLevel": "LEVEL_DEFAULT",
        "kycRegion": "",
    }


def account_info(emu: BybitEmulator, params: Params, _: float) -> Params:
    return {
        "unifiedMarginStatus": 6,
        "marginMode": "REGULAR_MARGIN",
        "isMasterTrader": False,
        "spotHedgingStatus": "OFF",
        "updatedTime": str(emu.now_ms),
        "dcpStatus": "OFF",
        "timeWindow": 10,
        "smpGroup": 0,
    }


def coin_query_info(emu: BybitEmulator, params: Params, _: float) -> Params:
    coins = sorted({i.base for cat in emu.account.instruments.values() for i in cat.values()} | {"USDT"})
    return {"rows": [{"name": c, "coin": c, "remainAmount": "1000000", "chains": []} for c in coins]}


def wallet_balance(emu: BybitEmulator, params: Params, _: float) -> Params:
    if params.get("accountType", "UNIFIED") != "UNIFIED":
        raise BybitApiError(10001, f"accountType {params.get('accountType')} is not emulated (UNIFIED only)")
    acct = emu.account
    upnl, im, equity = acct.equity_parts(emu.now_ms)
    coins: list[dict[str, Any]] = [
        {
            "coin": "USDT",
            "walletBalance": num(acct.usdt),
            "equity": num(equity),
            "usdValue": num(equity),
            "unrealisedPnl": num(upnl),
            "cumRealisedPnl": num(sum(p.realised for p in acct.positions.values())),
            "availableToWithdraw": num(max(0.0, equity - im)),
            "totalPositionIM": num(im),
            "totalOrderIM": "0",
            "locked": "0",
            "borrowAmount": "0",
            "accruedInterest": "0",
            "bonus": "0",
            "marginCollateral": True,
            "collateralSwitch": True,
        }
    ]
    for coin, amount in sorted(acct.coins.items()):
        value = amount * acct.price(coin + "USDT", emu.now_ms) if coin + "USDT" in acct.feeds else 0.0
        coins.append(
            {
                "coin": coin,
                "walletBalance": num(amount),
                "equity": num(amount),
                "usdValue": num(value),
                "unrealisedPnl": "0",
                "cumRealisedPnl": "0",
                "availableToWithdraw": num(amount),
                "totalPositionIM": "0",
                "totalOrderIM": "0",
                "locked": "0",
                "borrowAmount": "0",
                "accruedInterest": "0",
                "bonus": "0",
                "marginCollateral": True,
                "collateralSwitch": True,
            }
        )
    total = equity + sum(float(c["usdValue"]) for c in coins[1:])
    row = {
        "accountType": "UNIFIED",
        "totalEquity": num(total),
        "totalWalletBalance": num(acct.usdt),
        "totalMarginBalance": num(equity),
        "totalAvailableBalance": num(max(0.0, equity - im)),
        "totalPerpUPL": num(upnl),
        "totalInitialMargin": num(im),
        "totalMaintenanceMargin": num(im * 0.05),
        "accountIMRate": "0",
        "accountMMRate": "0",
        "accountLTV": "0",
        "coin": coins,
    }
    return {"list": [row]}


def order_create(emu: BybitEmulator, params: Params, fill_fraction: float) -> Params:
    order = emu.account.create_order(params, emu.now_ms, fill_fraction)
    return {"orderId": order.order_id, "orderLinkId": order.link_id}


def order_cancel(emu: BybitEmulator, params: Params, _: float) -> Params:
    order = emu.account.cancel_order(params, emu.now_ms)
    return {"orderId": order.order_id, "orderLinkId": order.link_id}


def _select(
    emu: BybitEmulator, params: Params, keep: Callable[[Order], bool], window: tuple[int | None, int | None]
) -> list[dict[str, Any]]:
    category, symbol = params.get("category", ""), params.get("symbol")
    order_id, link_id = params.get("orderId"), params.get("orderLinkId")
    start, end = window
    rows = []
    for order in reversed(emu.account.orders):  # newest first
        if order.category != category or symbol not in (None, "", order.symbol):
            continue
        if (order_id and order.order_id != order_id) or (link_id and order.link_id != link_id):
            continue
        if (start is not None and order.created_ms < start) or (end is not None and order.created_ms > end):
            continue
        if keep(order):
            rows.append(order.row())
    return rows


def order_realtime(emu: BybitEmulator, params: Params, _: float) -> Params:
    by_id = bool(params.get("orderId") or params.get("orderLinkId"))
    window = (_int(params, "startTime"), _int(params, "endTime"))
    rows = _select(emu, params, lambda o: by_id or o.status in OPEN_STATUSES, window)
    return {"category": params.get("category", ""), **_page(rows, params, 20, 50)}


def order_history(emu: BybitEmulator, params: Params, _: float) -> Params:
    wanted = params.get("orderStatus")
    rows = _select(emu, params, lambda o: wanted in (None, "", o.status), history_window(params, emu.now_ms))
    return {"category": params.get("category", ""), **_page(rows, params, 20, 50)}


def execution_list(emu: BybitEmulator, params: Params, _: float) -> Params:
    category, symbol = params.get("category", ""), params.get("symbol")
    start, end = history_window(params, emu.now_ms)
    rows = []
    if params.get("execType") not in (None, "", "Trade"):
        return {"category": category, "list": [], "nextPageCursor": ""}  # only trades are emulated (no funding)
    for ex in reversed(emu.account.executions):
        o = ex.order
        if o.category != category or symbol not in (None, "", o.symbol) or not start <= ex.time_ms <= end:
            continue
        if params.get("orderId") not in (None, "", o.order_id) or params.get("orderLinkId") not in (
            None,
            "",
            o.link_id,
        ):
            continue
        rows.append(
            {
                "symbol": o.symbol,
                "orderId": o.order_id,
                "orderLinkId": o.link_id,
                "side": o.side,
                "orderPrice": num(o.price),
                "orderQty": num(o.qty),
                "leavesQty": num(o.qty - o.filled),
                "orderType": o.order_type,
                "stopOrderType": o.stop_order_type,
                "execFee": num(ex.fee),
                "feeCurrency": "USDT",
                "execId": ex.exec_id,
                "execPrice": num(ex.price),
                "execQty": num(ex.qty),
                "execType": "Trade",
                "execValue": num(ex.qty * ex.price),
                "execTime": str(ex.time_ms),
                "isMaker": ex.is_maker,
                "feeRate": num(emu.account.maker_fee if ex.is_maker else emu.account.taker_fee),
                "markPrice": num(ex.price),
                "closedSize": "0",
                "seq": 1,
            }
        )
    return {"category": category, **_page(rows, params, 50, 100)}


def position_list(emu: BybitEmulator, params: Params, _: float) -> Params:
    if params.get("category") != "linear":
        raise BybitApiError(10001, f"category {params.get('category')} is not emulated for positions (linear only)")
    symbol = params.get("symbol")
    symbols = [symbol] if symbol else [s for s, p in emu.account.positions.items() if p.size]
    rows = []
    for name in symbols:
        emu.account.instrument("linear", name)
        pos = emu.account.position(name)
        mark = emu.account.price(name, emu.now_ms) if name in emu.account.feeds else pos.avg_price
        value = abs(pos.size) * pos.avg_price
        rows.append(
            {
                "symbol": name,
                "positionIdx": 0,
                "riskId": 1,
                "riskLimitValue": "2000000",
                "side": "" if not pos.size else ("Buy" if pos.size > 0 else "Sell"),
                "size": num(abs(pos.size)),
                "avgPrice": num(pos.avg_price),
                "positionValue": num(value),
                "tradeMode": 0,
                "positionStatus": "Normal",
                "autoAddMargin": 0,
                "adlRankIndicator": 0,
                "leverage": num(pos.leverage),
                "positionBalance": num(value / pos.leverage),
                "markPrice": num(mark),
                "liqPrice": "",
                "bustPrice": "",
                "positionIM": num(value / pos.leverage),
                "positionMM": num(value * 0.005),
                "tpslMode": "Full",
                "takeProfit": num(pos.take_profit),
                "stopLoss": num(pos.stop_loss),
                "trailingStop": "0",
                "unrealisedPnl": num(pos.size * (mark - pos.avg_price)),
                "curRealisedPnl": num(pos.realised),
                "cumRealisedPnl": num(pos.realised),
                "seq": 1,
                "isReduceOnly": False,
                "createdTime": str(pos.created_ms),
                "updatedTime": str(pos.updated_ms),
            }
        )
    return {"category": "linear", **_page(rows, params, 20, 200)}


def set_leverage(emu: BybitEmulator, params: Params, _: float) -> Params:
    emu.account.set_leverage(params)
    return {}


def trading_stop(emu: BybitEmulator, params: Params, _: float) -> Params:
    emu.account.set_trading_stop(params, emu.now_ms)
    return {}


ROUTES: dict[tuple[str, str], Callable[[Any, Params, float], Any]] = {
    ("GET", "/v5/market/time"): market_time,
    ("GET", "/v5/market/instruments-info"): instruments_info,
    ("GET", "/v5/market/kline"): kline,
    ("GET", "/v5/market/tickers"): tickers,
    ("GET", "/v5/user/query-api"): query_api,
    ("GET", "/v5/account/info"): account_info,
    ("GET", "/v5/asset/coin/query-info"): coin_query_info,
    ("GET", "/v5/account/wallet-balance"): wallet_balance,
    ("POST", "/v5/order/create"): order_create,
    ("POST", "/v5/order/cancel"): order_cancel,
    ("GET", "/v5/order/realtime"): order_realtime,
    ("GET", "/v5/order/history"): order_history,
    ("GET", "/v5/execution/list"): execution_list,
    ("GET", "/v5/position/list"): position_list,
    ("POST", "/v5/position/set-leverage"): set_leverage,
    ("POST", "/v5/position/trading-stop"): trading_stop,
}
