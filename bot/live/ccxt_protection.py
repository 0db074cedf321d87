"""Exchange-side stop-loss and take-profit of the ccxt broker's position when an order could not carry them.

Bybit refuses an order whose stop lies on the wrong side of the price (10001), which happens without any fault when
the price moves past the stop between the bar's close and the fill. The leg then goes out without its stops, and they
are set on the position from the fill price; a held position found without a stop-loss gets the plan's stops.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

from bot.errors import OrderRejectedError
from bot.exchange import is_stop_refusal
from bot.live.broker import ExecutionPlan, OrderRequest, OrderState
from bot.live.sizing import protection_prices

if TYPE_CHECKING:
    from bot.live.ccxt_broker import CcxtBroker

logger = logging.getLogger(__name__)


def place_then_protect(broker: CcxtBroker, plan: ExecutionPlan, leg: OrderRequest, refused: OrderState) -> OrderState:
    """An opening leg refused with its stops (e.g. the price moved past the stop since the bar's close): send it
    without them, then attach stops recomputed from the fill price (from the mark price when that is refused too).
    """
    if not is_stop_refusal(refused.error):
        return refused
    logger.warning(
        "Order %s refused with its stop-loss / take-profit (%s); sending it without them and setting them from"
        " the fill price",
        leg.client_id,
        refused.error,
    )
    state = broker.place(dataclasses.replace(leg, stop_loss=None, take_profit=None))
    if state.filled <= 0 or (plan.stop_loss_pct <= 0 and plan.take_profit_pct <= 0):
        return state
    long = leg.side == "buy"
    for reference in (state.average_price, None):
        if reference is None:
            reference = broker.last_price()
        stop, take = protection_prices(dataclasses.replace(plan, reference_price=reference), broker.rules, long)
        try:
            broker.set_protection(stop, take)
            logger.info("Stop loss %s / take profit %s set on the %s position", stop, take, broker.symbol)
            return state
        except OrderRejectedError as e:
            logger.warning("Stop loss %s / take profit %s refused (%s)", stop, take, e)
    logger.warning("The %s position has no exchange-side stop loss until the next bar sets one", broker.symbol)
    return state


def protect_held(broker: CcxtBroker, plan: ExecutionPlan, long: bool) -> None:
    """Give a held position that has no exchange-side stop-loss (its setting was refused earlier, or a kill came
    between its order and its stops) the plan's stops around the bar's close."""
    if broker.rules.is_spot:
        return
    stop, take = protection_prices(plan, broker.rules, long)
    try:
        broker.set_protection(stop, take)
        logger.warning("The %s position had no stop loss; set it at %s (take profit %s)", broker.symbol, stop, take)
    except OrderRejectedError as e:
        logger.warning("The %s position has no stop loss and setting one was refused (%s)", broker.symbol, e)
