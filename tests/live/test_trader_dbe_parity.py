"""The single-symbol trader's DBE (:meth:`~bot.live.observation.ObservationBuilder.dbe`: an engine rebuilt on the
candle buffer at every bar, its :class:`~bot.live.observation.DBEState` carried over) against the env's engine (one
:func:`~bot.env.shared_rows.make_dbe` over the whole history, alive for the episode) on the real BTC 5m candles of
2023-03-24 (16 bars missing): the same equity path and closed trades give the same mode, stops and size at every bar,
the drawdown decay (``dbe.drawdown_halflife_bars``) included, also across a restart of the trader."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.config import BotConfig
from bot.data import load_ohlcv, market_from_frame
from bot.env.shared_rows import make_dbe
from bot.live.candles import warmup_bars
from bot.live.observation import DBEState, ObservationBuilder
from bot.live.state import StateStore
from tests.support.bybit_emulator import BybitEmulator
from tests.support.bybit_trading import SignPolicy, fit_scaler, make_trader, small_config

#: bars of decay per half-life, and the drawdown that forces DEFENSIVE mode
HALFLIFE = 20
DEFENSIVE = 0.02


@pytest.fixture(scope="module")
def frame(shared_data: Path) -> pd.DataFrame:
    path = shared_data / "binance_spot_2023" / "BTC_USDT-5m.csv.gz"
    return load_ohlcv(path).loc["2023-03-23 22:00":"2023-03-24 23:55"]


@pytest.fixture(scope="module")
def cfg() -> BotConfig:
    base = small_config()
    dbe = base.dbe.model_copy(
        update={
            "drawdown_halflife_bars": HALFLIFE,
            "defensive_drawdown": DEFENSIVE,
            "loss_streak_defensive": 2,
            "win_streak_aggressive": 2,
        }
    )
    return base.model_copy(update={"dbe": dbe})


def _history(n: int) -> tuple[dict[int, float], list[float]]:
    """Net PnL of the trades closed at some bars (runs of wins and losses) and the account's drawdown after each
    bar: a loss of 4 % at bar 130 the account does not recover from for 80 bars, then a random walk."""
    rng = np.random.default_rng(11)
    closes = {t: float(rng.choice([-30.0, -5.0, 12.0, 25.0])) for t in range(5, n, 9)}
    returns = rng.normal(0.0, 0.003, n)
    returns[130] = -0.04
    returns[131:210] = 0.0
    equity = 10_000.0 * np.cumprod(1.0 + returns)
    return closes, (1.0 - equity / np.maximum.accumulate(equity)).tolist()


def test_the_traders_dbe_keeps_the_envs_drawdown_decay_across_bars_and_a_restart(
    cfg: BotConfig, frame: pd.DataFrame
) -> None:
    env = make_dbe(cfg, market_from_frame(frame, cfg))
    builder = ObservationBuilder(cfg, fit_scaler(cfg, frame), None, None)
    warmup = warmup_bars(cfg)
    n = len(frame)
    closes, drawdown = _history(n)
    state = DBEState()
    env.update(0, 0.0, None)  # the env's reset
    builder.dbe(builder.market(frame.iloc[:1]), state, 0.0, None)
    modes = set()
    decayed = 0
    for t in range(1, n):
        pnl = closes.get(t)
        env.update(t, drawdown[t], pnl)
        # the trader's buffer: the newest warmup_bars closed candles
        live = builder.dbe(builder.market(frame.iloc[max(0, t + 1 - warmup) : t + 1]), state, drawdown[t], pnl)
        got = (int(live.mode), live.stop_loss_pct, live.take_profit_pct, live.size_fraction)
        assert got == (int(env.mode), env.stop_loss_pct, env.take_profit_pct, env.size_fraction), t
        assert state.drawdown_reference == env.drawdown_reference, t
        modes.add(int(env.mode))
        decayed += drawdown[t] >= DEFENSIVE and env.mode != 0
        if t == 170:
            # a restart in the middle of the decay: the state goes through the state file's JSON and back
            state = DBEState(**json.loads(json.dumps(dataclasses.asdict(state))))
    # the run went through what it compares: every mode, and bars where the decay alone lifted DEFENSIVE mode
    assert modes == {0, 1, 2} and decayed > 20


def test_the_trader_saves_the_decayed_reference_and_a_restart_continues_it(
    emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "s.sqlite"
    first = make_trader(emu, candles, path, SignPolicy())
    first.run(3)
    saved = first.state.get("dbe")
    assert saved == dataclasses.asdict(first.dbe_state) and "drawdown_reference" in saved
    # a decay under way: the next run starts from it, not from the account's peak
    first.state.put(dbe={**saved, "drawdown_reference": 0.97})
    first.state.close()
    assert make_trader(emu, candles, path, SignPolicy()).dbe_state.drawdown_reference == 0.97


def test_a_state_file_without_the_reference_restarts_the_decay_at_the_peak(
    emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "s.sqlite"
    old = StateStore(path)
    old.put(dbe={"win_streak": 2, "loss_streak": 0, "mode": 2})  # written before the reference was kept
    old.close()
    trader = make_trader(emu, candles, path, SignPolicy())
    assert trader.dbe_state == DBEState(win_streak=2, loss_streak=0, mode=2, drawdown_reference=1.0)
