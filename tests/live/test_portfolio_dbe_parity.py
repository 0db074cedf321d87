"""The live portfolio's DBE (:class:`~bot.live.portfolio_dbe.LiveBasketDBE`, each symbol's engine rebuilt on its
candle buffer at every bar) against the env's :class:`~bot.env.portfolio_dbe.BasketDBE` (one engine over each
symbol's whole history) on the real BTC and ETH 5m candles of 2023-03-24, where both miss 16 bars and ETH is cut
for 12 more: the same trade history and account drawdown give the same stops, sizes and modes at every bar."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.config import BotConfig, load_config
from bot.data import Universe, load_ohlcv
from bot.data.universe import build_universe
from bot.dbe import AccountMode
from bot.env.portfolio_dbe import BasketDBE
from bot.live.candles import warmup_bars
from bot.live.observation import LiveMarket, ObservationBuilder
from bot.live.portfolio_dbe import LiveBasketDBE
from tests.data.ohlcv_files import write_ohlcv
from tests.support.bybit_trading import FAST_FEATURES

#: bars of ETH removed after 16:00 (BTC keeps them): a gap in one symbol only, next to both symbols' real gap
ETH_CUT = ("2023-03-24 16:00", "2023-03-24 16:55")


@pytest.fixture(scope="module")
def frames(shared_data: Path) -> dict[str, pd.DataFrame]:
    folder = shared_data / "binance_spot_2023"
    out = {}
    for base in ("BTC", "ETH"):
        frame = load_ohlcv(folder / f"{base}_USDT-5m.csv.gz").loc["2023-03-23 22:00":"2023-03-24 23:55"]
        if base == "ETH":
            frame = frame.drop(frame.loc[ETH_CUT[0] : ETH_CUT[1]].index)  # type: ignore[misc]
        out[base] = frame
    return out


@pytest.fixture(scope="module")
def cfg(frames: dict[str, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory) -> BotConfig:
    folder = tmp_path_factory.mktemp("dbe_parity")
    paths = {}
    for base, frame in frames.items():
        paths[base] = write_ohlcv(frame, folder / f"{base}_USDT-5m.csv")
    symbols = f"[{{symbol: BTC/USDT, path: '{paths['BTC']}'}}, {{symbol: ETH/USDT, path: '{paths['ETH']}'}}]"
    features = [f"features.{k}={v}" for k, v in FAST_FEATURES.items() if k != "indicators"]
    return load_config(
        None,
        [
            f"data.symbols={symbols}",
            "data.timeframes=[5m]",
            "features.indicators=[log_return, rsi, atr, ema_slope]",
            *features,
            "env.mode=portfolio",
            "env.window=8",
            "env.action_type=continuous",
            "training.algo=ppo",
            "dbe.enabled=true",
            "dbe.atr_window=50",
            "dbe.trend_window=10",
            "dbe.base_take_profit=0.05",
            "dbe.defensive_drawdown=0.02",
            "dbe.drawdown_halflife_bars=20",
            "dbe.loss_streak_defensive=2",
            "dbe.win_streak_aggressive=2",
        ],
    )


@pytest.fixture(scope="module")
def universe(cfg: BotConfig) -> Universe:
    return build_universe(cfg)


def _history(n_clock: int) -> tuple[dict[tuple[int, int], float], list[float]]:
    """A fixed trade history (clock bar, asset) -> net PnL of a trade closed in that bar, and the account's drawdown
    after each clock bar: runs of wins and losses (streak modes), a drawdown through both account thresholds that
    decays back."""
    rng = np.random.default_rng(7)
    closes = {}
    for t in range(3, n_clock, 5):
        closes[(t, int(rng.integers(2)))] = float(rng.choice([-40.0, -5.0, 12.0, 30.0]))
    equity = 10_000.0 * np.cumprod(1.0 + rng.normal(0.0, 0.006, n_clock))
    drawdown = (1.0 - equity / np.maximum.accumulate(equity)).tolist()
    return closes, drawdown


def test_the_live_dbe_gives_the_envs_stops_sizes_and_modes_on_real_candles_with_gaps(
    cfg: BotConfig, universe: Universe, frames: dict[str, pd.DataFrame]
) -> None:
    env = BasketDBE(cfg, universe)
    live = LiveBasketDBE(cfg, 2, None)
    builders = [ObservationBuilder(cfg, d.scaler, None, None) for d in universe.datasets]  # type: ignore[arg-type]
    raw = [frames["BTC"], frames["ETH"]]
    warmup = warmup_bars(cfg)
    n_clock = len(universe.clock_ms)
    closes, drawdown = _history(n_clock)
    env.reset(0)
    in_gap = False
    modes: set[tuple[int, int]] = set()
    account_modes: set[AccountMode] = set()
    for t in range(n_clock):
        rows = universe.row[:, t].tolist()
        exits: list[tuple[int, float]] = []
        pnl: list[float | None] = [None, None]
        for i in range(2):
            if (t, i) in closes and rows[i] >= 0:
                exits.append((i, closes[(t, i)]))
                pnl[i] = closes[(t, i)]
        markets: list[LiveMarket | None] = []
        for i, row in enumerate(rows):
            # the live buffer: the symbol's newest warmup_bars closed candles, None when it has no bar now
            markets.append(None if row < 0 else builders[i].market(raw[i].iloc[max(0, row + 1 - warmup) : row + 1]))
            in_gap |= row < 0
        if t == 0:
            live.update(builders, markets, [None, None], 0.0, t)  # the env's reset: engines updated at the first bar
        else:
            env.update(t, drawdown[t], exits)
            live.update(builders, markets, pnl, drawdown[t], t)
        for i, engine in enumerate(env.engines):
            assert live.engine[i] == (engine.stop_loss_pct, engine.take_profit_pct, engine.size_fraction), (t, i)
            assert live.states[i].mode == int(engine.mode), (t, i)
            modes.add((i, int(engine.mode)))
        assert (live.account.mode, live.account.scale) == (env.account.mode, env.account.scale), t
        assert live.account.drawdown == env.account.drawdown
        account_modes.add(env.account.mode)
        # a decision at every third bar: the same scaled weights for the same agent weights and positions
        if t % 3 == 0:
            w = np.array([0.6, -0.4]) if t % 2 else np.array([0.3, 0.5])
            tradable = np.asarray(universe.row[:, t] >= 0)
            qty = np.array([float(t % 4 == 0), 0.0])
            np.testing.assert_array_equal(live.weights(w, tradable, qty.tolist()), env.weights(w, tradable, qty))
    # the run went through what it is meant to compare: the gap of both (a new segment of each symbol), ETH's own
    # cut (ETH without a bar on the clock), every engine mode, every account mode
    assert [int(d.market.segment_id[-1]) for d in universe.datasets] == [1, 2] and in_gap
    assert {m for _, m in modes} == {0, 1, 2} and set(account_modes) == set(AccountMode)
