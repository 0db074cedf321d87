"""The start-up protocol of a paper-trading session, before the first bar: refuse a tripped state, reach the
exchange, prepare the broker, reconcile the state with the exchange's order history and check the observation
schema on the warm-up candles. A wrong URL, key or checkpoint fails here, before anything is traded."""

from __future__ import annotations

import logging

from bot.errors import BrokerError, DataError, KillSwitchError
from bot.live.broker import Broker
from bot.live.candles import CandleBuffer
from bot.live.observation import ObservationBuilder
from bot.live.reconcile import Reconciler
from bot.live.state import StateStore

logger = logging.getLogger(__name__)


def open_session(
    broker: Broker, state: StateStore, reconciler: Reconciler, buffer: CandleBuffer, builder: ObservationBuilder
) -> int:
    """Run the start-up protocol.

    :return: the exchange clock (ms) at the start.
    :raises KillSwitchError: when an earlier run tripped the kill switch in this state file.
    :raises BrokerError: when the exchange cannot be reached (at once, with the cause).
    :raises SchemaMismatchError: when the live features differ from the checkpoint's.
    """
    tripped = state.get("kill_switch")
    if tripped:
        _refuse_tripped(broker, state, reconciler, tripped)
    broker.probe()
    rules = broker.rules
    logger.info(
        "Paper trading %s on %s (%s): qty step %g, min notional %g, %d warm-up bars",
        rules.symbol,
        broker.name,
        buffer.timeframe,
        rules.qty_step,
        rules.min_notional,
        buffer.warmup,
    )
    now = broker.fetch_time_ms()
    if state.get("started_ms") is None:
        # before any order: the history reconciliation of a state without bars starts here
        state.put(started_ms=now)
    broker.prepare()
    reconciler.run()
    # the schema at start-up rather than at the first decision: a wrong checkpoint fails before anything is traded
    broker.sync(buffer.update(now))
    try:
        builder.market(buffer.frame())
    except DataError as e:
        logger.warning("Observation schema not checked at start-up (%s); it is checked at the first bar", e)
    return now


def _refuse_tripped(broker: Broker, state: StateStore, reconciler: Reconciler, tripped: str) -> None:
    """Refuse to trade on a state whose kill switch tripped, after recording what its flattening order did (a kill
    while it was sent must not lose its fill either)."""
    try:
        broker.probe()
        reconciler.run()
    except BrokerError as e:
        logger.warning("Could not reconcile the state with the exchange: %s", e)
    raise KillSwitchError(
        f"the kill switch tripped earlier ({tripped}); trading stays stopped for {state.path}. Check the account"
        " (close any position still open), then start with a new --state file to trade again"
    )
