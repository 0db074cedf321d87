"""The trader's book of post-only limit orders between their posting and the close of the bar they rested through.

With ``portfolio.order_type: limit`` a decision goes out as post-only limit orders at the decision close -/+
``portfolio.limit_offset`` (:func:`bot.live.sizing.plan_legs`). They rest through the next bar; at its close the
trader ends them (:meth:`bot.live.broker.Broker.finish_limit_order`: what is left open is cancelled, a partial fill
keeps its filled part) and this book decides, as the simulator does (:mod:`bot.portfolio.manager`):

- every leg filled in full: the plan's exposure is reached and becomes the one the rebalance rule compares with;
- anything less (unfilled, partly filled, refused as post-only): the exposure asked before the plan stays the
  reference, so the next decision tries again from the position that resulted; with ``portfolio.limit_unfilled:
  repost`` the plan is re-posted at every following bar's close -/+ the offset (new client ids: that bar's) until the
  next decision.

The book survives restarts through the state's meta table (:meth:`to_dict`). A run that ends (``--max-bars``,
Ctrl-C, the kill switch) cancels its resting orders (:meth:`end_all`); after a crash the next start does.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from bot.config import PortfolioConfig
from bot.errors import BrokerError
from bot.live.broker import AccountState, Broker, ExecutionPlan, OrderState
from bot.live.reconcile import bar_of, posted_bar
from bot.live.state import StateStore

logger = logging.getLogger(__name__)

_QTY_EPS = 1e-12


class LimitBook:
    """The plan whose limit orders rest, and the plan left unfilled at the last bar close.

    :param portfolio: the model's portfolio section (``order_type``, ``limit_offset``, ``limit_unfilled``).
    :param broker: ends the resting orders.
    :param state: the state store (the book's own state is its meta key ``limit_book``, see :meth:`to_dict`).
    :param tag: this run's client-id prefix.
    :param base_ms: the base timeframe, ms.
    """

    def __init__(self, portfolio: PortfolioConfig, broker: Broker, state: StateStore, tag: str, base_ms: int) -> None:
        self.offset: float | None = float(portfolio.limit_offset) if portfolio.order_type == "limit" else None
        self.repost = portfolio.limit_unfilled == "repost"
        self.broker, self.state, self.tag, self.base_ms = broker, state, tag, base_ms
        #: (bar OPEN time, final state) of the orders ended since the last bar was recorded
        self.settled: list[tuple[int, OrderState]] = []
        saved = state.get("limit_book") or {}
        self.pending: ExecutionPlan | None = _plan(saved.get("pending"))
        #: the exposure requested before the pending plan: the rebalance rule's reference until the plan fills
        self.exposure_before = float(saved.get("exposure_before", 0.0))
        self.unfilled: ExecutionPlan | None = None

    def posted(self, plan: ExecutionPlan, orders: list[OrderState], exposure_before: float, requested: float) -> float:
        """Note the orders a plan sent; return the exposure the rebalance rule compares the next plan with.

        :param plan: the plan just executed.
        :param orders: its orders as the broker returned them.
        :param exposure_before: the reference exposure before the plan.
        :param requested: the exposure the plan asks for.
        :return: ``requested`` when the plan sent no limit order or they all filled at once; else
            ``exposure_before`` (the plan is pending until the next bar close ends its orders).
        """
        limits = [o for o in orders if o.order_type == "limit"]
        if not limits or all(_complete(o.filled, o.qty) for o in limits):
            self.pending = None
            return requested
        self.pending, self.exposure_before = plan, exposure_before
        return exposure_before

    def is_pending_leg(self, client_id: str) -> bool:
        """True for a client id of the pending plan's legs."""
        return self.pending is not None and client_id.startswith(f"{self.pending.client_prefix}-")

    def end_resting(self, bar_ms: int, requested: Callable[[ExecutionPlan], float]) -> float | None:
        """End this run's orders posted before ``bar_ms`` (they rested through a bar that closed; a redo of bar
        ``bar_ms`` leaves its own orders alone) into :attr:`settled`, then settle the pending plan on them.

        :param bar_ms: OPEN time of the bar being handled.
        :param requested: the exposure a plan asks for.
        :return: the exposure the rebalance rule compares with from now on; None when no plan was settled.
        """
        for client_id in self.state.unfinished_orders():
            posted = posted_bar(client_id, self.tag)
            if posted is None or posted >= bar_ms:
                continue
            plan = self.pending if self.is_pending_leg(client_id) else None
            final = self.broker.finish_limit_order(client_id, plan)
            if final is not None:
                self.settled.append((bar_of(final, self.tag, self.base_ms), final))
        plan = self.pending
        if plan is None or plan.bar_open_ms >= bar_ms:
            return None
        legs = self.state.order_fills(f"{plan.client_prefix}-")
        legs |= {o.client_id: (o.filled, o.qty) for _, o in self.settled if self.is_pending_leg(o.client_id)}
        return self.settle(legs, requested(plan))

    def end_all(self) -> None:
        """End every resting order of this run (the run stops) and record their final states under their bars; an
        exchange that fails meanwhile leaves them to the next start's reconciliation."""
        ended: dict[int, list[OrderState]] = {}
        try:
            for client_id in self.state.unfinished_orders():
                if posted_bar(client_id, self.tag) is None:
                    continue
                plan = self.pending if self.is_pending_leg(client_id) else None
                final = self.broker.finish_limit_order(client_id, plan)
                if final is not None:
                    ended.setdefault(bar_of(final, self.tag, self.base_ms), []).append(final)
            # what filled meanwhile moved the position: recorded with the last bar's orders
            last = self.state.last_position()
            filled = any(o.filled > 0 for orders in ended.values() for o in orders)
            account = self.broker.fetch_account(last[1]) if filled and last is not None else None
        except BrokerError as e:
            logger.warning("Resting orders not cancelled at the end of the run (%s); the next start ends them", e)
            account = None
        for i, (bar_ms, orders) in enumerate(sorted(ended.items())):
            self.state.record_orders(orders, bar_ms, account if i == len(ended) - 1 else None)

    def settle(self, legs: dict[str, tuple[float, float]], requested: float) -> float | None:
        """Close the book on the pending plan once its orders ended.

        :param legs: (filled, quantity) of the pending plan's legs by client id, final.
        :param requested: the exposure the pending plan asked for.
        :return: ``requested`` when every leg filled in full, else ``exposure_before`` (the plan is kept as
            :attr:`unfilled` for a re-post); None when no plan was pending.
        """
        plan = self.pending
        if plan is None:
            return None
        self.pending = None
        if legs and all(_complete(filled, qty) for filled, qty in legs.values()):
            return requested
        self.unfilled = plan
        return self.exposure_before

    def take_repost(self, bar_ms: int, close: float, prefix: str) -> ExecutionPlan | None:
        """The unfilled plan re-priced at this bar's close, when ``limit_unfilled`` is ``repost``; the unfilled plan
        is forgotten either way (it expires, or its re-post becomes the pending plan)."""
        plan, self.unfilled = self.unfilled, None
        if plan is None or not self.repost:
            return None
        return dataclasses.replace(plan, bar_open_ms=bar_ms, reference_price=close, client_prefix=prefix)

    def counts(self, account: AccountState, orders: list[OrderState]) -> tuple[int, int]:
        """(placed, filled) limit orders of this run so far, ``orders`` (this bar's) and the ones just ended
        included; the dry run's simulator counts its own (``account.has_trade_stats``)."""
        if account.has_trade_stats:
            return account.limit_orders, account.limit_fills
        return self.state.limit_counts(f"{self.tag}-", orders + [o for _, o in self.settled])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state for the state file's meta table."""
        pending = None if self.pending is None else dataclasses.asdict(self.pending)
        return {"pending": pending, "exposure_before": self.exposure_before}


def _complete(filled: float, qty: float) -> bool:
    return qty > 0 and filled >= qty - _QTY_EPS


def _plan(saved: dict[str, Any] | None) -> ExecutionPlan | None:
    return None if not saved else ExecutionPlan(**saved)
