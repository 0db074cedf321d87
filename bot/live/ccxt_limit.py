"""End of the ccxt broker's post-only limit orders: cancel what a bar left resting, stops on what filled.

A post-only order that the exchange refuses because it would take liquidity is an unfilled order, not an error.
A limit order posted at a decision close rests through the next bar (``portfolio.order_type: limit``). At that bar's
close the trader ends it here: an order still open is cancelled (a partial fill keeps its filled part; the exchange
reports the order ``Cancelled`` with its executed quantity), and the final state comes back from the exchange. An
opening leg carries its stop-loss and take-profit, which Bybit attaches to the position on the fill; should the
position have none after the fill (the stops were refused), they are set on it from the fill price.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

from bot.errors import BrokerError, OrderRejectedError
from bot.exchange import is_post_only_refusal
from bot.live.broker import ExecutionPlan, OrderRequest, OrderState
from bot.live.sizing import protection_prices

if TYPE_CHECKING:
    from bot.live.ccxt_broker import CcxtBroker

logger = logging.getLogger(__name__)


def refused_order(request: OrderRequest, error: BrokerError) -> OrderState:
    """The state of an order the exchange refused: ``rejected`` (logged as a warning), or for a post-only order
    that would have taken liquidity ``canceled`` and unfilled, as a limit order that did not fill."""
    post_only = request.limit_price is not None and is_post_only_refusal(error)
    if post_only:
        logger.info("Post-only order %s not placed (it would have taken liquidity): unfilled", request.client_id)
    else:
        logger.warning("Order %s %s %.8g refused: %s", request.client_id, request.side, request.qty, error)
    return OrderState(
        request.client_id,
        "",
        request.side,
        request.qty,
        0.0,
        0.0,
        "canceled" if post_only else "rejected",
        reduce_only=request.reduce_only,
        error=str(error),
        order_type="market" if request.limit_price is None else "limit",
        price=request.limit_price or 0.0,
    )


def finish_limit_order(broker: CcxtBroker, client_id: str, plan: ExecutionPlan | None) -> OrderState | None:
    """Cancel the order ``client_id`` when it is still open and return its final state (None when unknown); when
    it opened or added to a position that has no stop-loss, set ``plan``'s stops from its fill price."""
    found = broker.find_order(client_id)
    if found is None:
        return None
    if found.status == "open":
        found = broker.cancel_order(found)
        logger.info(
            "Limit order %s %s %.8g at %.8g ended after its bar: filled %.8g, the rest cancelled",
            found.client_id,
            found.side,
            found.qty,
            found.price,
            found.filled,
        )
    if plan is not None and found.filled > 0 and not found.reduce_only:
        _protect_fill(broker, plan, found)
    return found


def _protect_fill(broker: CcxtBroker, plan: ExecutionPlan, order: OrderState) -> None:
    if broker.rules.is_spot or (plan.stop_loss_pct <= 0 and plan.take_profit_pct <= 0):
        return
    account = broker.fetch_account(order.average_price)
    if not account.position_qty or account.stop_loss:
        return
    fill_plan = dataclasses.replace(plan, reference_price=order.average_price)
    stop, take = protection_prices(fill_plan, broker.rules, account.position_qty > 0)
    try:
        broker.set_protection(stop, take)
        logger.info("Stop loss %s / take profit %s set on the %s position after its fill", stop, take, broker.symbol)
    except OrderRejectedError as e:
        logger.warning("Stop loss %s / take profit %s after the limit fill refused (%s)", stop, take, e)
