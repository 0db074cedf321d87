"""From a target exposure to market-order legs, with the PortfolioManager's rebalance rule and the exchange's rules.

Same rule as :mod:`bot.portfolio.manager` so that live trading, the dry run and the backtest agree: an order is
considered only when the requested exposure ``target * size_fraction * leverage`` (spot: ``clip(target, 0, 1) *
size_fraction``) differs from the previous bar's, or when the account is flat and the request is not 0; the target
quantity is ``exposure * equity / price`` rounded toward zero to the quantity step; an order below the minimum
notional or quantity is skipped except a full close; a reversal is a reduce-only close, then an opening leg.
Live trading adds two caps: the position notional never exceeds ``live.max_position_notional``, and on perpetuals
it stays within ``equity / (1 / leverage + FEE_RESERVE * taker_fee)`` because the exchange reserves the opening and
closing fees on top of the margin (a reversal also pays the old position's closing fee first).
With ``plan.limit_offset`` set (``portfolio.order_type: limit``) the legs are post-only limit orders at the decision
close minus (buys) or plus (sells) the offset, on the tick, sized at that price as the simulator sizes them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from bot.live.broker import ExecutionPlan, MarketRules, OrderRequest, OrderSide
from bot.portfolio import floor_to_step

#: Taker fees reserved per unit of notional on perpetuals (open + close of the new position, close of the old one).
FEE_RESERVE = 3.0


@dataclass(frozen=True, slots=True)
class SizingInputs:
    """What sizing needs besides the plan.

    :param equity: account equity, quote.
    :param position_qty: current signed position, base.
    :param leverage: ``portfolio.leverage`` (1 on spot).
    :param max_notional: ``live.max_position_notional``, quote.
    :param last_exposure: the exposure requested at the previous bar (rebalance rule).
    :param cash: free quote balance (spot buys never spend more than it, fees included).
    :param taker_fee: fee fraction reserved on spot buys.
    """

    equity: float
    position_qty: float
    leverage: float
    max_notional: float
    last_exposure: float
    cash: float = float("inf")
    taker_fee: float = 0.0


def requested_exposure(plan: ExecutionPlan, rules: MarketRules, leverage: float) -> float:
    """Signed exposure the plan asks for (fraction of equity, leverage included)."""
    if rules.is_spot:
        return min(max(plan.target_exposure, 0.0), 1.0) * plan.size_fraction
    return plan.target_exposure * plan.size_fraction * leverage


def round_price(price: float, tick: float) -> float:
    """Round a price to the tick size (nearest tick)."""
    return round(round(price / tick) * tick, 12)


def limit_price(reference: float, side: OrderSide, offset: float, tick: float) -> float:
    """Price of a post-only limit order ``offset`` (fraction) below (buy) or above (sell) ``reference``, rounded
    away from the market to the tick, so the rounding never brings it closer than the offset."""
    raw = reference * (1.0 - offset) if side == "buy" else reference * (1.0 + offset)
    steps = raw / tick
    # the epsilon keeps a price already on the tick where it is (float division leaves 12345.999999)
    rounded = math.floor(steps + 1e-9) if side == "buy" else math.ceil(steps - 1e-9)
    return round(rounded * tick, 12)


def protection_prices(plan: ExecutionPlan, rules: MarketRules, long: bool) -> tuple[float | None, float | None]:
    """Stop-loss and take-profit trigger prices around the plan's reference price (None when disabled)."""
    ref = plan.reference_price
    sign = 1.0 if long else -1.0
    sl = round_price(ref * (1.0 - sign * plan.stop_loss_pct), rules.tick_size) if plan.stop_loss_pct > 0 else None
    tp = round_price(ref * (1.0 + sign * plan.take_profit_pct), rules.tick_size) if plan.take_profit_pct > 0 else None
    return sl, tp


def plan_legs(plan: ExecutionPlan, rules: MarketRules, inputs: SizingInputs, first_leg: int = 0) -> list[OrderRequest]:
    """The market orders that move the position to the plan's target (empty when nothing is to be done).

    :param plan: the decision.
    :param rules: the market's quantity and notional rules.
    :param inputs: equity, position, leverage, cap and the previous exposure.
    :param first_leg: index of the first leg (legs already sent for this bar keep theirs).
    :return: at most two legs: a reduce-only close or reduction, then an opening leg.
    """
    exposure = requested_exposure(plan, rules, inputs.leverage)
    qty = inputs.position_qty
    if exposure == inputs.last_exposure and not (exposure != 0.0 and qty == 0.0):
        return []
    price = plan.reference_price
    equity = inputs.equity if inputs.equity > 0 else 0.0
    if plan.limit_offset is not None and price > 0:
        side: OrderSide = "buy" if exposure * equity / price > qty else "sell"
        price = limit_price(price, side, plan.limit_offset, rules.tick_size)
    limit = price if plan.limit_offset is not None else None
    target = floor_to_step(exposure * equity / price, rules.qty_step) if price > 0 else 0.0
    max_notional = inputs.max_notional
    if not rules.is_spot:
        max_notional = min(max_notional, equity / (1.0 / inputs.leverage + FEE_RESERVE * inputs.taker_fee))
    cap = floor_to_step(max_notional / price, rules.qty_step) if price > 0 else 0.0
    target = math.copysign(min(abs(target), cap), target)
    if rules.is_spot and target > qty and math.isfinite(inputs.cash):
        room = floor_to_step(inputs.cash / (price * (1.0 + inputs.taker_fee)) * (1.0 - 1e-9), rules.qty_step)
        target = min(target, qty + max(room, 0.0))
    if target == qty:
        return []
    legs: list[OrderRequest] = []
    prefix = plan.client_prefix
    crosses = qty != 0.0 and (target == 0.0 or (target > 0.0) != (qty > 0.0))
    if crosses or (qty != 0.0 and abs(target) < abs(qty)):
        close_qty = abs(qty) if crosses else floor_to_step(abs(qty) - abs(target), rules.qty_step)
        if crosses or _tradeable(close_qty, price, rules):
            side = "sell" if qty > 0 else "buy"
            legs.append(
                OrderRequest(f"{prefix}-{first_leg}", side, close_qty, reduce_only=not rules.is_spot, limit_price=limit)
            )
    opening = abs(target) - (0.0 if crosses else abs(qty))
    if target != 0.0 and opening > 0.0:
        open_qty = floor_to_step(opening, rules.qty_step)
        if _tradeable(open_qty, price, rules):
            long = target > 0
            # a limit order fills at its price: stops around it are the stops around the fill, attached on the fill
            stops_at = dataclasses.replace(plan, reference_price=price) if limit is not None else plan
            sl, tp = (None, None) if rules.is_spot else protection_prices(stops_at, rules, long)
            leg = f"{prefix}-{first_leg + len(legs)}"
            legs.append(OrderRequest(leg, "buy" if long else "sell", open_qty, False, sl, tp, limit))
    return legs


def _tradeable(qty: float, price: float, rules: MarketRules) -> bool:
    return qty >= rules.min_qty and qty * price >= rules.min_notional
