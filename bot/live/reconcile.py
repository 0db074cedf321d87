"""Reconciliation of the state file with the exchange's own record, at start-up and when an outage ends.

A bar's orders are recorded in one transaction after they went out, so a kill between the two leaves orders on the
exchange that the state does not know; a stop-loss or take-profit may also fill on the exchange while the bot is down.
The deterministic client ids make the redo of the same bar adopt its orders, but a restart in a later bar never redoes
that bar. So the reconciler reads the exchange's order history and executions since the last bar decided on (since
the first start of the state file before any) and records every order of this run (client id ``<run tag>-...``) and
every exchange-placed fill (``exchange-<order id>``) that is missing or out of date, under the bar it belongs to.
Resting post-only limit orders of this run whose bar ended while the bot was down are cancelled (what filled stays
recorded), so a restart never leaves one resting unwatched nor posts a second one for it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

from bot.live.broker import EXCHANGE_PREFIX, Broker, OrderState
from bot.live.state import StateStore

logger = logging.getLogger(__name__)

_QTY_EPS = 1e-12


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """What one reconciliation changed in the state.

    :param refreshed: orders last seen open, refreshed from the exchange.
    :param adopted: open orders of this run the state did not know.
    :param recovered: filled or closed orders from the history that the state missed (the lost fills).
    """

    refreshed: int
    adopted: int
    recovered: tuple[OrderState, ...]


def bar_of(order: OrderState, tag: str, base_ms: int) -> int:
    """OPEN time (ms) of the bar an order belongs to: from the client id ``<tag>-<bar open s, hex>-<leg>`` of the
    bot's orders, else the bar in which the exchange created it."""
    bar_ms = posted_bar(order.client_id, tag)
    return order.time_ms // base_ms * base_ms if bar_ms is None else bar_ms


def posted_bar(client_id: str, tag: str) -> int | None:
    """OPEN time (ms) of the bar at whose close the bot posted the order ``<tag>-<bar open s, hex>-<leg>``; None for
    a client id of another run or of the exchange."""
    if client_id.startswith(f"{tag}-"):
        try:
            return int(client_id[len(tag) + 1 :].split("-")[0], 16) * 1000
        except ValueError:
            return None
    return None


class Reconciler:
    """Brings the state's orders and fills in line with the exchange.

    :param broker: the broker (the dry run has no exchange history: it finds nothing).
    :param state: the state store.
    :param tag: this run's client-id prefix (:func:`bot.live.trader.run_tag`).
    :param base_ms: the base timeframe, ms.
    """

    def __init__(self, broker: Broker, state: StateStore, tag: str, base_ms: int) -> None:
        self.broker = broker
        self.state = state
        self.tag = tag
        self.base_ms = base_ms

    def run(self) -> ReconcileReport:
        """Refresh unfinished orders, adopt open ones, recover missing fills from the history, check the position."""
        refreshed = [o for cid in self.state.unfinished_orders() if (o := self.broker.find_order(cid)) is not None]
        known = {row["client_id"]: (float(row["filled"]), str(row["status"])) for row in self.state.orders()}
        adopted = [
            o for o in self.broker.open_orders() if o.client_id.startswith(f"{self.tag}-") and o.client_id not in known
        ]
        refreshed, adopted = self._end_stale(refreshed), self._end_stale(adopted)
        recovered = self._missing(known, {o.client_id for o in refreshed + adopted})
        by_bar: dict[int, list[OrderState]] = defaultdict(list)
        for order in refreshed + adopted + recovered:
            by_bar[bar_of(order, self.tag, self.base_ms)].append(order)
        for bar_ms, orders in sorted(by_bar.items()):
            self.state.record_orders(orders, bar_ms)
        if recovered:
            logger.warning(
                "Recovered %d order(s) missing from the state from the exchange's history (sent or filled while the"
                " bot was down): %s",
                len(recovered),
                "; ".join(_describe(o) for o in recovered),
            )
        if refreshed or adopted:
            logger.info(
                "Reconciled %d order(s) with the exchange (%d adopted)", len(refreshed) + len(adopted), len(adopted)
            )
        self._check_position(recovered)
        return ReconcileReport(len(refreshed), len(adopted), tuple(recovered))

    def _end_stale(self, orders: list[OrderState]) -> list[OrderState]:
        """``orders`` with this run's resting limit orders whose bar ended while the bot was down cancelled (their
        final state, fills included, replaces them): a limit order rests through one bar only. An order posted at
        the last bar close still rests: the redo of that bar adopts it, or the next bar close ends it."""
        resting = [o for o in orders if o.status == "open" and posted_bar(o.client_id, self.tag) is not None]
        if not resting:
            return orders
        now_ms = self.broker.fetch_time_ms()
        ended: dict[str, OrderState] = {}
        for order in resting:
            posted = posted_bar(order.client_id, self.tag)
            if posted is not None and posted + 2 * self.base_ms <= now_ms:
                final = self.broker.finish_limit_order(order.client_id, None)
                if final is not None:
                    ended[order.client_id] = final
        if ended:
            logger.warning(
                "Cancelled %d resting order(s) of this run whose bar ended while the bot was down: %s",
                len(ended),
                "; ".join(_describe(o) for o in ended.values()),
            )
        return [ended.get(o.client_id, o) for o in orders]

    def _missing(self, known: dict[str, tuple[float, str]], handled: set[str]) -> list[OrderState]:
        # skipped bars (stale data, outages) neither sent orders nor looked for exchange fills: look back past them
        since = self.state.last_decided_bar_ms
        if since < 0:
            since = self.state.get("started_ms", -1)
        if since is None or since < 0:
            return []
        missing = []
        for order in self.broker.history(int(since)):
            ours = order.client_id.startswith(f"{self.tag}-")
            exchange_fill = order.client_id.startswith(EXCHANGE_PREFIX) and order.filled > 0
            if not (ours or exchange_fill) or order.client_id in handled:
                continue
            filled, status = known.get(order.client_id, (-1.0, ""))
            if filled < order.filled - _QTY_EPS or (status == "open" and order.status != "open"):
                missing.append(order)
        return missing

    def _check_position(self, recovered: list[OrderState]) -> None:
        last = self.state.last_position()
        if last is None:
            return
        qty = self.broker.fetch_account(last[1]).position_qty
        if abs(qty - last[0]) <= _QTY_EPS:
            return
        expected = last[0] + sum((o.filled if o.side == "buy" else -o.filled) for o in recovered)
        if recovered and abs(qty - expected) <= 1e-9:
            logger.info("%s position %.8g matches the recorded one plus the recovered fills", self.broker.name, qty)
            return
        logger.warning(
            "%s position is %.8g but %.8g was recorded last (a stop triggered or a manual trade while the bot"
            " was stopped, or a dry run that starts afresh); trading goes on from %.8g",
            self.broker.name,
            qty,
            last[0],
            qty,
        )


def _describe(order: OrderState) -> str:
    what = {"StopLoss": "stop loss", "TakeProfit": "take profit"}.get(order.trigger, order.trigger or "order")
    return (
        f"{what} {order.client_id} {order.side} {order.filled:.8g}/{order.qty:.8g} at {order.average_price:.8g}"
        f" ({order.status})"
    )
