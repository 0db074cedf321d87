"""Helpers for paper-trading tests: a small fast config, a scaler fit on candles and simple fixed policies."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd

from bot.config import BotConfig
from bot.data import FeatureScaler, market_from_frame
from bot.live.observation import Obs
from tests.support.bybit_emulator import BybitEmulator

#: Four indicators with short periods: a short warm-up, so tests need few candles.
FAST_FEATURES: dict[str, Any] = {
    "indicators": ["log_return", "rsi", "atr", "ema_slope"],
    "rsi_period": 7,
    "atr_period": 7,
    "ema_period": 10,
    "adx_period": 7,
    "volume_window": 10,
    "macd_fast": 5,
    "macd_slow": 10,
    "macd_signal": 3,
    "bbands_period": 10,
}


def small_config(decision_every: int = 1, portfolio: dict[str, Any] | None = None, **live: Any) -> BotConfig:
    """A config whose warm-up is short (one timeframe, short periods) so tests need few candles; the policy decides
    every ``decision_every`` bars; ``portfolio`` overrides keys of the portfolio section (e.g. ``order_type``)."""
    raw: dict[str, Any] = {
        "data": {"timeframes": ["5m"], "base_timeframe": "5m"},
        "features": FAST_FEATURES,
        "env": {"window": 8, "episode_length": 64, "decision_every": decision_every},
        # the DBE as these tests were written for (pinned: the project defaults may change)
        "dbe": {
            "enabled": True,
            "atr_window": 50,
            "trend_window": 10,
            "base_stop_loss": 0.02,
            "base_take_profit": 0.04,
            "stop_loss": {"low": 0.005, "high": 0.05},
            "take_profit": {"low": 0.01, "high": 0.10},
            "drawdown_halflife_bars": 0,
        },
        # market orders, as the exchange broker sends them (pinned: the project default may change)
        "portfolio": {
            "initial_cash": 10_000.0,
            "lot_step": 0.001,
            "min_notional": 5.0,
            "order_type": "market",
            **(portfolio or {}),
        },
        "live": {"max_retries": 3, "retry_backoff_s": 0.01, **live},
    }
    return BotConfig.model_validate(raw)


def fit_scaler(cfg: BotConfig, candles: pd.DataFrame) -> FeatureScaler:
    """A scaler fit on every valid row of ``candles`` (stands in for a checkpoint's saved scaler)."""
    market = market_from_frame(candles, cfg)
    return FeatureScaler.fit(
        market.features, market.valid, market.feature_names, cfg.features.normalize, cfg.features.clip
    )


class SignPolicy:
    """Long (action 2) when the newest normalised log return is > 0, short (action 0) otherwise; records its calls."""

    def __init__(self) -> None:
        self.observations: list[Obs] = []
        self.resets = 0

    def act(self, obs: Obs, row: int) -> Any:
        self.observations.append(obs)
        return 2 if float(obs["market"][-1, 0]) > 0 else 0

    def reset(self) -> None:
        """Counted: the trader resets its policy once, when it starts."""
        self.resets += 1


class FixedPolicy:
    """Always the same action."""

    def __init__(self, action: int) -> None:
        self.action = action

    def act(self, obs: Obs, row: int) -> Any:
        return self.action

    def reset(self) -> None:
        """Nothing to forget."""


def emulator_sleep(emu: BybitEmulator) -> Any:
    """A sleep function that advances the emulator's clock instead of waiting; records the requested delays."""
    calls: list[float] = []

    def sleep(seconds: float) -> None:
        calls.append(seconds)
        emu.set_time(emu.now_ms + int(seconds * 1000))

    sleep.calls = calls  # type: ignore[attr-defined]
    return sleep


def make_trader(
    emu: BybitEmulator,
    candles: pd.DataFrame,
    state_path: Any,
    policy: Any,
    *,
    dry_run: bool = False,
    after_execute: Any = None,
    portfolio: dict[str, Any] | None = None,
    **live: Any,
) -> Any:
    """A :class:`bot.live.Trader` on the emulator with :func:`small_config` and a scaler fit on ``candles``."""
    return build_trader(
        emu.url,
        (emu.api_key, emu.api_secret),
        candles,
        state_path,
        policy,
        emulator_sleep(emu),
        dry_run=dry_run,
        after_execute=after_execute,
        clock=lambda: emu.now_ms / 1000.0,
        portfolio=portfolio,
        **live,
    )


def build_trader(
    url: str,
    keys: tuple[str, str],
    candles: pd.DataFrame,
    state_path: Any,
    policy: Any,
    sleep: Any,
    *,
    dry_run: bool = False,
    after_execute: Any = None,
    clock: Any = None,
    portfolio: dict[str, Any] | None = None,
    **live: Any,
) -> Any:
    """:func:`make_trader` from the emulator's URL and keys only (usable in a child process); ``clock`` defaults to
    ``time.monotonic``."""
    from bot.exchange import RetryPolicy
    from bot.live import CcxtBroker, DryRunBroker, ObservationBuilder, StateStore, Trader, live_exchange

    # decision_every travels in live
    cfg = small_config(portfolio=portfolio, exchange_url=url, state_path=str(state_path), **live)
    exchange = live_exchange(cfg.live, None if dry_run else keys[0], None if dry_run else keys[1])
    exchange.enableRateLimit = False
    exchange.timeout = 500  # ms: keeps the timeout faults of tests short
    broker: Any = CcxtBroker(exchange, cfg.live, cfg.portfolio, RetryPolicy(3, 0.01, sleep))
    if dry_run:
        broker = DryRunBroker(broker, cfg.portfolio)
    builder = ObservationBuilder(cfg, fit_scaler(cfg, candles), None, None)
    return Trader(
        cfg, broker, policy, builder, StateStore(state_path), "bottest", sleep, after_execute, clock or time.monotonic
    )
