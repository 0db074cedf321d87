"""Helpers for portfolio tests: cost-free configs and a one-line bar driver."""

from __future__ import annotations

from typing import Any

from bot.config import PortfolioConfig
from bot.portfolio import PortfolioManager

BAR_MS = 300_000


def free_config(**overrides: Any) -> PortfolioConfig:
    """A config without fees, slippage, funding or exchange minimums; ``overrides`` set the rest."""
    base: dict[str, Any] = {
        "market": "perpetual",
        "initial_cash": 10_000.0,
        "taker_fee": 0.0,
        "maker_fee": 0.0,
        "slippage_bps": 0.0,
        "slippage_range_frac": 0.0,
        "leverage": 1.0,
        "max_leverage": 5.0,
        "maintenance_margin": 0.005,
        "funding_rate_8h": 0.0,
        "lot_step": 1e-8,
        "min_notional": 0.0,
        "max_holding_bars": 0,
        "order_type": "market",
    }
    base.update(overrides)
    return PortfolioConfig(**base)


def step(
    pm: PortfolioManager,
    i: int,
    open_: float,
    high: float | None = None,
    low: float | None = None,
    close: float | None = None,
    target: float = 0.0,
    sl: float = 0.0,
    tp: float = 0.0,
    size: float = 1.0,
    time_ms: int | None = None,
) -> None:
    """Process bar ``i`` (open time ``i * 5m`` unless given); missing high/low/close default to the open."""
    close = open_ if close is None else close
    high = max(open_, close) if high is None else high
    low = min(open_, close) if low is None else low
    pm.process_bar(i * BAR_MS if time_ms is None else time_ms, open_, high, low, close, target, sl, tp, size)
