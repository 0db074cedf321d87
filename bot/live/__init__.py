"""Paper trading: the broker protocol, the Bybit (ccxt) and dry-run brokers, the SQLite state, the reconciliation
with the exchange's history and the trading loop.

The names below load on first use (PEP 562), so a light submodule (``bot.live.state_reader``, which the control API
reads the paper account with) does not pull in ccxt, pandas and the trading loop with the package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.lazy import lazy_exports

if TYPE_CHECKING:
    from bot.live.broker import (
        AccountState,
        Broker,
        Candle,
        ExecutionPlan,
        MarketRules,
        MarketSource,
        OrderRequest,
        OrderState,
        run_tag,
    )
    from bot.live.ccxt_broker import CcxtBroker, live_exchange
    from bot.live.credentials import Credentials, load_credentials
    from bot.live.dry_run import DryRunBroker
    from bot.live.observation import ObservationBuilder
    from bot.live.reconcile import Reconciler, ReconcileReport
    from bot.live.reports import BarReport, RunSummary
    from bot.live.state import StateStore
    from bot.live.state_reader import PaperState, PaperStateError, read_paper_state
    from bot.live.trader import Trader

_HOMES = {
    "state_reader": ("PaperState", "PaperStateError", "read_paper_state"),
    "broker": (
        "AccountState", "Broker", "Candle", "ExecutionPlan", "MarketRules", "MarketSource", "OrderRequest",
        "OrderState", "run_tag",
    ),
    "ccxt_broker": ("CcxtBroker", "live_exchange"),
    "credentials": ("Credentials", "load_credentials"),
    "dry_run": ("DryRunBroker",),
    "observation": ("ObservationBuilder",),
    "reconcile": ("ReconcileReport", "Reconciler"),
    "reports": ("BarReport", "RunSummary"),
    "state": ("StateStore",),
    "trader": ("Trader",),
}
__all__ = [
    "AccountState", "BarReport", "Broker", "Candle", "CcxtBroker", "Credentials", "DryRunBroker", "ExecutionPlan",
    "MarketRules", "MarketSource", "ObservationBuilder", "OrderRequest", "OrderState", "PaperState", "PaperStateError",
    "ReconcileReport", "Reconciler", "RunSummary", "StateStore", "Trader", "live_exchange", "load_credentials",
    "read_paper_state", "run_tag",
]
__getattr__ = lazy_exports(__name__, _HOMES)
