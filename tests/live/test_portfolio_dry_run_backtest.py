"""A portfolio dry run (the portfolio trader over :class:`~bot.live.portfolio_dry_run.DryRunSymbolBroker`, candles
from the emulator) against the env stepping the same policy over the same real BTC and ETH 5m bars: the weights
decided at a bar's close fill inside the next bar in both, so the account's equity and positions agree bar for bar."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.config import BotConfig
from bot.data import load_ohlcv
from bot.data.universe import build_universe
from bot.env.portfolio_env import PortfolioEnv
from bot.exchange import RetryPolicy
from bot.live import ObservationBuilder, StateStore, live_exchange, run_tag
from bot.live.ccxt_broker import CcxtBroker
from bot.live.portfolio_dry_run import DryRunBasket, DryRunSymbolBroker
from bot.live.portfolio_symbol import PortfolioBar, PortfolioSymbol
from bot.live.portfolio_trader import PortfolioTrader
from tests.data.ohlcv_files import write_ohlcv
from tests.live.test_portfolio_trader import Weights, close
from tests.support.bybit_emulator import BybitEmulator
from tests.support.bybit_trading import emulator_sleep, fit_scaler, small_config

NAMES = {"BTC/USDT:USDT": "BTCUSDT", "ETH/USDT:USDT": "ETHUSDT"}
START = 400
#: the policy's weights, decision after decision (gross below the margin cap, so the trader does not scale them)
WEIGHTS = ([0.3, -0.2], [0.3, 0.4], [-0.5, 0.1], [0.0, 0.2], [0.2, 0.2], [0.4, -0.4]) * 4


def _cfg(url: str, state: Path, symbol: str, paths: list[Path] | None = None) -> BotConfig:
    cfg = small_config(exchange_url=url, state_path=str(state), symbol=symbol, max_position_notional=1e9)
    data: dict[str, object] = {}
    if paths is not None:
        data = {
            "source": "file",
            "symbols": [{"symbol": s, "path": str(p)} for s, p in zip(("BTC/USDT", "ETH/USDT"), paths, strict=True)],
        }
    raw = cfg.model_dump()
    raw["env"].update(action_type="continuous", mode="portfolio")
    # tight stops that trigger within these bars, and streaks of one trade that switch the engines' modes
    raw["dbe"].update(
        base_stop_loss=0.002,
        base_take_profit=0.003,
        stop_loss={"low": 0.001, "high": 0.01},
        take_profit={"low": 0.001, "high": 0.01},
        loss_streak_defensive=1,
        win_streak_aggressive=1,
    )
    raw["data"].update(data)
    return BotConfig.model_validate(raw)


def test_a_portfolio_dry_run_matches_the_env_on_the_same_bars(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "binance_spot_2023"
    frames = {
        symbol: load_ohlcv(folder / f"{symbol[:3]}_USDT-5m.csv.gz").loc["2023-03-01":"2023-03-02"]  # type: ignore[misc]
        for symbol in NAMES
    }
    state = tmp_path / "dry.sqlite"
    with BybitEmulator() as emu:
        for symbol, frame in frames.items():
            emu.feed(NAMES[symbol], frame)
        emu.set_bar(START)
        sleep = emulator_sleep(emu)
        url = emu.url
        cfg = _cfg(url, state, "BTC/USDT:USDT")
        basket = DryRunBasket(cfg.portfolio, ["BTC/USDT", "ETH/USDT"])
        parts = []
        for i, (symbol, frame) in enumerate(frames.items()):
            own = _cfg(url, state, symbol)
            source = CcxtBroker(live_exchange(own.live), own.live, own.portfolio, RetryPolicy(3, 0.01, sleep))
            broker = DryRunSymbolBroker(source, basket, i, own.portfolio)
            builder = ObservationBuilder(own, fit_scaler(own, frame), None, None)
            parts.append(
                PortfolioSymbol(symbol, broker, builder, StateStore(state, symbol), run_tag("d", symbol, "5m"))
            )
        trader = PortfolioTrader(cfg, parts, Weights(*WEIGHTS), sleep, clock=lambda: emu.now_ms / 1000.0)
        bars = []
        engines: list[list[tuple[float, float, float, int, int]]] = []

        def seen(bar: PortfolioBar) -> None:
            bars.append(bar)
            assert trader.dbe is not None
            engines.append(
                [
                    (*e, st.win_streak, st.loss_streak)
                    for e, st in zip(trader.dbe.engine, trader.dbe.states, strict=True)
                ]
            )

        trader.run(len(WEIGHTS) + 1, on_bar=seen)
        close(trader)
    # the env over the same candles, observed first at the close of the trader's first bar
    paths = [
        write_ohlcv(f.iloc[: START + len(WEIGHTS) + 2], tmp_path / f"{s[:3]}_USDT-5m.csv") for s, f in frames.items()
    ]
    env_cfg = _cfg(url, state, "BTC/USDT", paths)
    universe = build_universe(env_cfg)
    env = PortfolioEnv(env_cfg, universe, split="all")
    first = int(np.searchsorted(universe.clock_ms, bars[0].open_ms))
    env.reset(options={"start_index": first})
    assert [b.status for b in bars[1:]] == ["traded"] * len(WEIGHTS)
    for k, weights in enumerate(WEIGHTS):
        _, _, _, _, info = env.step(np.array(weights, np.float32))
        bar = bars[k + 1]
        assert universe.clock_ms[first + k + 1] == bar.open_ms
        # the trader's equity at this close is the simulated account's after it filled the decision inside the bar
        assert bar.equity == pytest.approx(info["equity"], rel=1e-12), k
        qty = [bar.reports[s].position_qty for s in NAMES]
        np.testing.assert_allclose(qty, env.portfolio.qty, rtol=1e-12)
        # each symbol's engine saw the trades closed in the bar (stops included) at the same close as the env's
        assert env.dbe is not None
        assert engines[k + 1] == [
            (e.stop_loss_pct, e.take_profit_pct, e.size_fraction, e.win_streak, e.loss_streak) for e in env.dbe.engines
        ], k
    exits = {t.exit_reason for trades in env.portfolio.trades for t in trades}
    assert {"stop_loss", "take_profit"} <= exits, exits
