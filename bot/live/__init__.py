"""Paper trading: the broker protocol, the Bybit (ccxt) and dry-run brokers, the SQLite state, the reconciliation
with the exchange's history and the trading loop.

The names below load on first use (PEP 562), so a light submodule (``bot.live.state_reader``, which the control API
reads the paper account with) does not pull in ccxt, pandas and the trading loop with the package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
    )
    from bot.live.ccxt_broker import CcxtBroker, live_exchange
    from bot.live.credentials import Credentials, load_credentials
    from bot.live.dry_run import DryRunBroker
    from bot.live.observation import ObservationBuilder
    from bot.live.policy import CheckpointPolicy, Policy
    from bot.live.reconcile import Reconciler, ReconcileReport
    from bot.live.reports import BarReport, RunSummary
    from bot.live.state import StateStore
    from bot.live.trader import Trader, run_tag

_HOMES = {
    "broker": (
        "AccountState",
        "Broker",
        "Candle",
        "ExecutionPlan",
        "MarketRules",
        "MarketSource",
        "OrderRequest",
        "OrderState",
    ),
    "ccxt_broker": ("CcxtBroker", "live_exchange"),
    "credentials": ("Credentials", "load_credentials"),
    "dry_run": ("DryRunBroker",),
    "observation": ("ObservationBuilder",),
    "policy": ("CheckpointPolicy", "Policy"),
    "reconcile": ("ReconcileReport", "Reconciler"),
    "reports": ("BarReport", "RunSummary"),
    "state": ("StateStore",),
    "trader": ("Trader", "run_tag"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "AccountState",
    "BarReport",
    "Broker",
    "Candle",
    "CcxtBroker",
    "CheckpointPolicy",
    "Credentials",
    "DryRunBroker",
    "ExecutionPlan",
    "MarketRules",
    "MarketSource",
    "ObservationBuilder",
    "OrderRequest",
    "OrderState",
    "Policy",
    "ReconcileReport",
    "Reconciler",
    "RunSummary",
    "StateStore",
    "Trader",
    "live_exchange",
    "load_credentials",
    "run_tag",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value
