"""Account side of the Bybit V5 emulator: a unified (UTA) USDT wallet, spot coins, linear positions and orders.

Simplifications (documented so tests do not rely on more): one-way position mode; market orders fill at once at the
last price (the forming bar's open) plus ``slippage_bps`` against the trader; the taker fee is charged in USDT on every
fill (spot too); limit orders that are not marketable rest and fill at their price, with ``maker_fee``, when a later
closed bar trades THROUGH it (a buy needs the low strictly below the price, a sell the high strictly above, as the
simulator assumes: at a touch a resting order may still be behind the queue), ``limit_fill_fraction`` of the order's
quantity per such bar (1 = all; less forces partial fills); a ``PostOnly`` limit order that would cross at placement is
accepted and at once cancelled with ``rejectReason`` ``EC_PostOnlyWillTakeLiquidity``, as Bybit does;
position stop-loss / take-profit trigger on closed bars from their high/low (stop first when both), filling at the
trigger price or at the bar open when the bar gapped through it.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.support.bybit_market import BybitApiError, CandleFeed, Instrument, num

OPEN_STATUSES = frozenset({"New", "PartiallyFilled", "Untriggered"})


@dataclass(slots=True)
class Order:
    """One order as the emulator stores it (Bybit field names come from :meth:`row`)."""

    order_id: str
    link_id: str
    category: str
    symbol: str
    side: str
    order_type: str
    qty: float
    price: float
    reduce_only: bool
    created_ms: int
    status: str = "New"
    filled: float = 0.0
    filled_value: float = 0.0
    fee: float = 0.0
    updated_ms: int = 0
    stop_loss: float = 0.0
    take_profit: float = 0.0
    stop_order_type: str = ""
    market_unit: str = ""
    time_in_force: str = ""
    reject_reason: str = "EC_NoError"
    cancel_type: str = "UNKNOWN"

    def row(self) -> dict[str, Any]:
        """The order as ``/v5/order/realtime`` and ``/v5/order/history`` list it."""
        avg = self.filled_value / self.filled if self.filled else 0.0
        row: dict[str, Any] = {
            "orderId": self.order_id,
            "orderLinkId": self.link_id,
            "blockTradeId": "",
            "symbol": self.symbol,
            "price": num(self.price),
            "qty": num(self.qty),
            "side": self.side,
            "isLeverage": "0" if self.category == "spot" else "",
            "positionIdx": 0,
            "orderStatus": self.status,
            "cancelType": self.cancel_type,
            "rejectReason": self.reject_reason,
            "avgPrice": num(avg) if self.filled else "",
            "leavesQty": num(self.qty - self.filled) if self.status in OPEN_STATUSES else "0",
            "leavesValue": "0",
            "cumExecQty": num(self.filled),
            "cumExecValue": num(self.filled_value),
            "cumExecFee": num(self.fee),
            "timeInForce": self.time_in_force or ("IOC" if self.order_type == "Market" else "GTC"),
            "orderType": self.order_type,
            "stopOrderType": self.stop_order_type,
            "orderIv": "",
            "triggerPrice": "",
            "takeProfit": num(self.take_profit) if self.take_profit else "",
            "stopLoss": num(self.stop_loss) if self.stop_loss else "",
            "tpTriggerBy": "",
            "slTriggerBy": "",
            "triggerDirection": 0,
            "triggerBy": "",
            "lastPriceOnCreated": "",
            "reduceOnly": self.reduce_only,
            "closeOnTrigger": self.reduce_only,
            "smpType": "None",
            "placeType": "",
            "createdTime": str(self.created_ms),
            "updatedTime": str(self.updated_ms or self.created_ms),
        }
        if self.category == "spot":
            row["marketUnit"] = self.market_unit
        else:
            row["tpslMode"] = "Full" if (self.stop_loss or self.take_profit) else ""
        return row


@dataclass(slots=True)
class Position:
    """A one-way linear position: signed size (base units), average entry, leverage and attached SL/TP."""

    symbol: str
    size: float = 0.0
    avg_price: float = 0.0
    leverage: float = 10.0
    stop_loss: float = 0.0
    take_profit: float = 0.0
    realised: float = 0.0
    created_ms: int = 0
    updated_ms: int = 0


@dataclass(slots=True)
class Execution:
    """One fill (``/v5/execution/list`` row)."""

    exec_id: str
    order: Order
    price: float
    qty: float
    fee: float
    time_ms: int
    is_maker: bool = False


@dataclass
class Account:
    """The emulated UTA account; every public method is called under the server's lock."""

    instruments: dict[str, dict[str, Instrument]]
    feeds: dict[str, CandleFeed]
    usdt: float = 10_000.0
    taker_fee: float = 0.00055
    maker_fee: float = 0.0002
    slippage_bps: float = 0.0
    #: share of a resting limit order's quantity filled by each bar that trades through its price (tests force
    #: partial fills with less than 1)
    limit_fill_fraction: float = 1.0
    coins: dict[str, float] = field(default_factory=dict)
    positions: dict[str, Position] = field(default_factory=dict)
    orders: list[Order] = field(default_factory=list)
    executions: list[Execution] = field(default_factory=list)
    _ids: int = 0

    # -------------------------------------------------------------------------------------------------- queries
    def instrument(self, category: str, symbol: str) -> Instrument:
        """The instrument, or Bybit's 10001 'Not supported symbols'."""
        found = self.instruments.get(category, {}).get(symbol)
        if found is None:
            raise BybitApiError(10001, f"Not supported symbols: category={category} symbol={symbol}")
        return found

    def price(self, symbol: str, now_ms: int) -> float:
        """Last price of ``symbol`` at ``now_ms``."""
        feed = self.feeds.get(symbol)
        if feed is None:
            raise BybitApiError(10001, f"Not supported symbols: no candles fed for {symbol}")
        return feed.price(now_ms)

    def position(self, symbol: str) -> Position:
        """The (possibly flat) linear position of ``symbol``."""
        return self.positions.setdefault(symbol, Position(symbol))

    def equity_parts(self, now_ms: int) -> tuple[float, float, float]:
        """(unrealised PnL, initial margin, equity) of the USDT wallet with linear positions marked to last price."""
        upnl = im = 0.0
        for pos in self.positions.values():
            if pos.size:
                upnl += pos.size * (self.price(pos.symbol, now_ms) - pos.avg_price)
                im += abs(pos.size) * pos.avg_price / pos.leverage
        return upnl, im, self.usdt + upnl

    # -------------------------------------------------------------------------------------------------- orders
    def create_order(self, body: dict[str, Any], now_ms: int, fill_fraction: float = 1.0) -> Order:
        """Validate and place an order as ``/v5/order/create`` does; market orders fill at once.

        :raises BybitApiError: 10001 bad params, 110072 duplicate orderLinkId, 110017 reduce-only, 110007 / 170131
            insufficient balance, 110094 / 170140 below min notional, 170136 / 170137 quantity rules.
        """
        category, symbol = str(body.get("category", "")), str(body.get("symbol", ""))
        if category not in ("linear", "spot"):
            raise BybitApiError(10001, f"params error: category {category!r} is not emulated (linear, spot)")
        inst = self.instrument(category, symbol)
        link_id = str(body.get("orderLinkId") or "")
        if link_id and any(o.link_id == link_id for o in self.orders):
            raise BybitApiError(110072, "OrderLinkedID is duplicate")
        side, order_type = body.get("side"), body.get("orderType")
        if side not in ("Buy", "Sell") or order_type not in ("Market", "Limit"):
            raise BybitApiError(10001, f"params error: side={side} orderType={order_type}")
        price_now = self.price(symbol, now_ms)
        try:
            qty = float(body["qty"])
            limit_price = float(body["price"]) if order_type == "Limit" else 0.0
        except (KeyError, ValueError) as e:
            raise BybitApiError(10001, f"params error: qty/price {e}") from e
        market_unit = str(body.get("marketUnit") or "")
        if category == "spot" and order_type == "Market" and side == "Buy" and market_unit != "baseCoin":
            market_unit = market_unit or "quoteCoin"
            qty = math.floor(qty / price_now / inst.qty_step + 1e-9) * inst.qty_step
        reduce_only = str(body.get("reduceOnly", "false")).lower() == "true"
        self._check_qty(inst, category, qty, limit_price or price_now)
        if reduce_only:
            qty = self._reduce_only_qty(category, symbol, side, qty)
        # a resting limit order reserves margin at its own price, as Bybit computes its order cost
        self._check_funds(inst, category, side, qty, limit_price or price_now, reduce_only)
        if category == "linear":
            _check_stop_sides(
                side == "Buy", float(body.get("stopLoss") or 0.0), float(body.get("takeProfit") or 0.0), price_now
            )
        self._ids += 1
        order = Order(
            order_id=str(uuid.UUID(int=self._ids)),
            link_id=link_id,
            category=category,
            symbol=symbol,
            side=side,
            order_type=order_type,
            qty=qty,
            price=limit_price,
            reduce_only=reduce_only,
            created_ms=now_ms,
            stop_loss=float(body.get("stopLoss") or 0.0),
            take_profit=float(body.get("takeProfit") or 0.0),
            market_unit=market_unit,
            time_in_force=str(body.get("timeInForce") or ""),
        )
        self.orders.append(order)
        marketable = order_type == "Market" or (side == "Buy") == (limit_price >= price_now)
        if marketable and order.time_in_force == "PostOnly":
            # Bybit accepts the request (retCode 0) and cancels the order at once: it would take liquidity
            order.status, order.reject_reason = "Cancelled", "EC_PostOnlyWillTakeLiquidity"
            return order
        if marketable:
            fill_qty = math.floor(qty * fill_fraction / inst.qty_step + 1e-9) * inst.qty_step
            self._fill(order, fill_qty, self._slipped(side, price_now), now_ms)
            if order_type == "Market":
                order.status = "Filled" if fill_qty >= qty - 1e-12 else "PartiallyFilledCanceled"
        return order

    def cancel_order(self, body: dict[str, Any], now_ms: int) -> Order:
        """Cancel an open order by orderId or orderLinkId, or raise 110001."""
        order = self.find_order(str(body.get("orderId") or ""), str(body.get("orderLinkId") or ""))
        if order is None or order.status not in OPEN_STATUSES:
            raise BybitApiError(110001, "Order does not exist.")
        order.status, order.cancel_type = "Cancelled", "CancelByUser"
        order.updated_ms = now_ms
        return order

    def find_order(self, order_id: str, link_id: str) -> Order | None:
        """The order with that id (or orderLinkId), None when unknown."""
        for order in self.orders:
            if (order_id and order.order_id == order_id) or (link_id and order.link_id == link_id):
                return order
        return None

    def set_trading_stop(self, body: dict[str, Any], now_ms: int) -> None:
        """``/v5/position/trading-stop``: attach stop-loss / take-profit prices to the open position."""
        pos = self.position(str(body.get("symbol", "")))
        if not pos.size:
            raise BybitApiError(10001, "can not set tp/sl/ts for zero position")
        stop, take = (float(body.get(k) or 0.0) for k in ("stopLoss", "takeProfit"))
        _check_stop_sides(pos.size > 0, stop, take, self.price(pos.symbol, now_ms))
        if "stopLoss" in body:
            pos.stop_loss = float(body["stopLoss"] or 0.0)
        if "takeProfit" in body:
            pos.take_profit = float(body["takeProfit"] or 0.0)
        pos.updated_ms = now_ms

    def set_leverage(self, body: dict[str, Any]) -> None:
        """``/v5/position/set-leverage``; 110043 when the leverage is unchanged, as Bybit."""
        pos = self.position(str(body.get("symbol", "")))
        leverage = float(body.get("buyLeverage") or 0)
        if not 1 <= leverage <= 100:
            raise BybitApiError(10001, f"buyLeverage {leverage} must lie in [1, 100]")
        if leverage == pos.leverage:
            raise BybitApiError(110043, "leverage not modified")
        pos.leverage = leverage

    # -------------------------------------------------------------------------------------------------- clock
    def on_bars_closed(self, symbol: str, bars: range, feed: CandleFeed) -> None:
        """Trigger position SL/TP and resting limit orders on bars that just closed."""
        for i in bars:
            o, h, lo = float(feed.open[i]), float(feed.high[i]), float(feed.low[i])
            t = int(feed.open_ms[i] + feed.base_ms - 1)
            self._trigger_stops(symbol, o, h, lo, t)
            for order in [x for x in self.orders if x.symbol == symbol and x.status in OPEN_STATUSES]:
                if (order.side == "Buy" and lo < order.price) or (order.side == "Sell" and h > order.price):
                    self._fill_resting(order, t)

    def _trigger_stops(self, symbol: str, o: float, h: float, lo: float, t: int) -> None:
        pos = self.positions.get(symbol)
        if pos is None or not pos.size:
            return
        long = pos.size > 0
        hit_sl = pos.stop_loss and (lo <= pos.stop_loss if long else h >= pos.stop_loss)
        hit_tp = pos.take_profit and (h >= pos.take_profit if long else lo <= pos.take_profit)
        if not (hit_sl or hit_tp):
            return
        trigger = pos.stop_loss if hit_sl else pos.take_profit
        gapped = (o <= trigger) if long == bool(hit_sl) else (o >= trigger)
        price = o if gapped else trigger
        self._ids += 1
        order = Order(
            order_id=str(uuid.UUID(int=self._ids)),
            link_id="",
            category="linear",
            symbol=symbol,
            side="Sell" if long else "Buy",
            order_type="Market",
            qty=abs(pos.size),
            price=0.0,
            reduce_only=True,
            created_ms=t,
            stop_order_type="StopLoss" if hit_sl else "TakeProfit",
        )
        self.orders.append(order)
        self._fill(order, order.qty, price, t)
        order.status = "Filled"

    def _fill_resting(self, order: Order, now_ms: int) -> None:
        """A resting limit order traded through: ``limit_fill_fraction`` of its quantity (at least one step, at
        most what is left) fills at its price as a maker."""
        step = self.instrument(order.category, order.symbol).qty_step
        left = order.qty - order.filled
        part = math.floor(order.qty * self.limit_fill_fraction / step + 1e-9) * step
        self._fill(order, min(left, max(part, step)), order.price, now_ms, is_maker=True)

    # -------------------------------------------------------------------------------------------------- helpers
    def _slipped(self, side: str, price: float) -> float:
        sign = 1.0 if side == "Buy" else -1.0
        return price * (1.0 + sign * self.slippage_bps / 10_000.0)

    @staticmethod
    def _check_qty(inst: Instrument, category: str, qty: float, price: float) -> None:
        steps = qty / inst.qty_step
        if abs(steps - round(steps)) > 1e-6:
            code = 170137 if category == "spot" else 10001
            raise BybitApiError(code, f"Order quantity has too many decimals: qty={num(qty)} step={num(inst.qty_step)}")
        if qty < inst.min_qty - 1e-12 or qty > inst.max_qty + 1e-12:
            code = 170136 if category == "spot" else 10001
            raise BybitApiError(code, f"Order quantity {num(qty)} outside [{num(inst.min_qty)}, {num(inst.max_qty)}]")
        if qty * price < inst.min_notional:
            code = 170140 if category == "spot" else 110094
            raise BybitApiError(code, f"Order does not meet minimum order value {num(inst.min_notional)}USDT")

    def _reduce_only_qty(self, category: str, symbol: str, side: str, qty: float) -> float:
        if category != "linear":
            raise BybitApiError(10001, "reduceOnly is only supported for derivatives")
        pos = self.position(symbol)
        if not pos.size or (pos.size > 0) == (side == "Buy"):
            raise BybitApiError(110017, "current position is zero, cannot fix reduce-only order qty")
        return min(qty, abs(pos.size))

    def _check_funds(self, inst: Instrument, category: str, side: str, qty: float, price: float, reduce: bool) -> None:
        fee = qty * price * self.taker_fee
        if category == "spot":
            if side == "Buy" and qty * price + fee > self.usdt + 1e-9:
                raise BybitApiError(170131, "Insufficient balance.")
            if side == "Sell" and qty > self.coins.get(inst.base, 0.0) + 1e-12:
                raise BybitApiError(170131, "Insufficient balance.")
            return
        pos = self.position(inst.symbol)
        signed = qty if side == "Buy" else -qty
        increase = max(0.0, abs(pos.size + signed) - abs(pos.size)) if not reduce else 0.0
        if increase <= 0:
            return
        _, used, total = self._margin(price, inst.symbol)
        if increase * price / pos.leverage + fee > total - used + 1e-9:
            raise BybitApiError(110007, "ab not enough for new order")

    def _margin(self, price: float, symbol: str) -> tuple[float, float, float]:
        upnl = im = 0.0
        for pos in self.positions.values():
            if pos.size:
                mark = price if pos.symbol == symbol else pos.avg_price
                upnl += pos.size * (mark - pos.avg_price)
                im += abs(pos.size) * pos.avg_price / pos.leverage
        return upnl, im, self.usdt + upnl

    def _fill(self, order: Order, qty: float, price: float, now_ms: int, is_maker: bool = False) -> None:
        if qty <= 0:
            order.updated_ms = now_ms
            return
        fee = qty * price * (self.maker_fee if is_maker else self.taker_fee)
        order.filled += qty
        order.filled_value += qty * price
        order.fee += fee
        order.updated_ms = now_ms
        order.status = "Filled" if order.filled >= order.qty - 1e-12 else "PartiallyFilled"
        self._ids += 1
        self.executions.append(Execution(str(uuid.UUID(int=self._ids)), order, price, qty, fee, now_ms, is_maker))
        self.usdt -= fee
        if order.category == "spot":
            base = self.instrument("spot", order.symbol).base
            sign = 1.0 if order.side == "Buy" else -1.0
            self.coins[base] = self.coins.get(base, 0.0) + sign * qty
            self.usdt -= sign * qty * price
            return
        self._apply_linear(order, qty, price, now_ms)

    def _apply_linear(self, order: Order, qty: float, price: float, now_ms: int) -> None:
        pos = self.position(order.symbol)
        signed = qty if order.side == "Buy" else -qty
        if not pos.size:
            pos.created_ms = now_ms
        if pos.size == 0 or (pos.size > 0) == (signed > 0):
            total = abs(pos.size) + qty
            pos.avg_price = (abs(pos.size) * pos.avg_price + qty * price) / total
            pos.size += signed
        else:
            closing = min(qty, abs(pos.size))
            pnl = closing * (price - pos.avg_price) * (1.0 if pos.size > 0 else -1.0)
            pos.realised += pnl
            self.usdt += pnl
            remaining = pos.size + signed
            if abs(remaining) < 1e-12:
                pos.size, pos.avg_price, pos.stop_loss, pos.take_profit = 0.0, 0.0, 0.0, 0.0
            elif (remaining > 0) != (pos.size > 0):
                pos.size, pos.avg_price, pos.stop_loss, pos.take_profit = remaining, price, 0.0, 0.0
            else:
                pos.size = remaining
        if order.stop_loss or order.take_profit:
            pos.stop_loss = order.stop_loss or pos.stop_loss
            pos.take_profit = order.take_profit or pos.take_profit
        pos.updated_ms = now_ms


def _check_stop_sides(long: bool, stop_loss: float, take_profit: float, price: float) -> None:
    """Bybit's 10001 for a stop-loss or take-profit on the wrong side of the last price (0 = not set)."""
    side, base = ("Buy" if long else "Sell"), f"base_price:{num(price)}??LastPrice"
    if stop_loss and (stop_loss >= price if long else stop_loss <= price):
        relation = "lower" if long else "higher"
        raise BybitApiError(10001, f"StopLoss:{num(stop_loss)} set for {side} position should {relation} than {base}")
    if take_profit and (take_profit <= price if long else take_profit >= price):
        relation = "higher" if long else "lower"
        raise BybitApiError(
            10001, f"TakeProfit:{num(take_profit)} set for {side} position should {relation} than {base}"
        )
