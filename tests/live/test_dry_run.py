"""Dry run == backtest: the DryRunBroker on live candles and the env over the same candles, same policy, same trades."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bot.data import Dataset, market_from_frame
from bot.env import TradingEnv
from tests.support.bybit_candles import START_BAR, make_candles
from tests.support.bybit_emulator import BybitEmulator
from tests.support.bybit_trading import SignPolicy, make_trader


@pytest.fixture
def candles() -> pd.DataFrame:
    return make_candles(1000, seed=11)


@pytest.mark.parametrize(
    ("decision_every", "n_bars", "portfolio"),
    # 80 bars: past the observation references' span (env.episode_length=64); 41 bars: 11 decisions 4 bars apart;
    # post-only limit orders that expire, and that are re-posted between decisions
    [
        (1, 80, {}),
        (4, 41, {}),
        (1, 60, {"order_type": "limit", "limit_offset": 0.0005}),
        (4, 41, {"order_type": "limit", "limit_offset": 0.001, "limit_unfilled": "repost"}),
    ],
    ids=["market", "market-every-4", "limit-expire", "limit-repost-every-4"],
)
def test_dry_run_and_backtest_agree_trade_for_trade(
    candles: pd.DataFrame, tmp_path: Path, decision_every: int, n_bars: int, portfolio: dict[str, Any]
) -> None:
    live_policy = SignPolicy()
    with BybitEmulator() as emu:
        emu.feed("BTCUSDT", candles)
        emu.set_bar(START_BAR)
        trader = make_trader(
            emu,
            candles,
            tmp_path / "dry.sqlite",
            live_policy,
            dry_run=True,
            decision_every=decision_every,
            portfolio=portfolio,
            max_daily_loss=0.5,  # no kill switch on the way
        )
        summary = trader.run(n_bars)
        assert emu.count("/v5/order/create") == 0 and emu.count("/v5/account/wallet-balance") == 0
    buffer = trader.buffer.candles
    first = int(np.searchsorted(pd.DatetimeIndex(candles.index).as_unit("ms").asi8, buffer[0].open_ms))
    frame = candles.iloc[first : first + len(buffer)]
    cfg, scaler = trader.cfg, trader.builder.scaler
    market = market_from_frame(frame, cfg)
    dataset = Dataset(market, {"all": range(len(market))}, scaler.transform(market.features, market.valid), "", scaler)
    env = TradingEnv(cfg, dataset, split="all")
    decided = [r.open_ms for r in summary.reports]
    start = int(np.searchsorted(market.open_time_ms, decided[0]))
    stop = int(np.searchsorted(market.open_time_ms, decided[-1])) + 1
    backtest_policy = SignPolicy()
    obs, _ = env.reset(options={"start_index": start, "end_index": stop})
    done = False
    while not done:
        obs, _, terminated, truncated, _ = env.step(backtest_policy.act(obs, env.action_masks()))
        done = terminated or truncated
    backtest_policy.act(obs, env.action_masks())  # the decision at the last bar, as the dry run took it
    assert len(live_policy.observations) == len(backtest_policy.observations) == (n_bars - 1) // decision_every + 1
    for live_obs, bt_obs in zip(live_policy.observations, backtest_policy.observations, strict=True):
        np.testing.assert_array_equal(live_obs["market"], bt_obs["market"])
        np.testing.assert_allclose(live_obs["portfolio"], bt_obs["portfolio"], rtol=1e-6, atol=1e-7)
    dry_trades = trader.broker.portfolio.trades
    assert len(dry_trades) >= 3
    assert dry_trades == env.portfolio.trades
    assert trader.broker.portfolio.equity == pytest.approx(env.portfolio.equity)
    assert len(trader.state.fills()) > 0
    dry, backtest = trader.broker.portfolio, env.portfolio
    assert (dry.limit_orders, dry.limit_fills) == (backtest.limit_orders, backtest.limit_fills)
    if portfolio:
        # some limit orders filled and some did not: both paths were walked
        assert 0 < dry.limit_fills < dry.limit_orders
        last = summary.reports[-1]
        assert (last.limit_orders, last.limit_fills) == (dry.limit_orders, dry.limit_fills)
