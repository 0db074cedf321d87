"""Paper trading a basket (BTCUSDT and ETHUSDT fed different candles) on the emulator: one state file, per-symbol
client ids, a restart that sends nothing twice and the account-level kill switch flattening both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bot.api.paper import read_paper_view
from bot.errors import KillSwitchError
from bot.exchange import RetryPolicy
from bot.live import CcxtBroker, ObservationBuilder, StateStore, Trader, live_exchange, run_tag
from bot.live.basket import Basket, snapshot_path
from bot.live.broker import ExecutionPlan, OrderState
from bot.live.state_reader import read_paper_state
from tests.support.bybit_candles import START_BAR, make_candles
from tests.support.bybit_emulator import BybitEmulator, bybit_id, serving
from tests.support.bybit_trading import FixedPolicy, SignPolicy, emulator_sleep, fit_scaler, small_config


@pytest.fixture
def markets() -> dict[str, pd.DataFrame]:
    eth = make_candles(1200, seed=11)
    eth[["open", "high", "low", "close"]] *= 0.06  # an ETH-like price level, another random walk
    return {"BTC/USDT:USDT": make_candles(1200, seed=3), "ETH/USDT:USDT": eth}


@pytest.fixture
def emu(markets: dict[str, pd.DataFrame]) -> Iterator[BybitEmulator]:
    with serving(markets, START_BAR) as emu:
        yield emu


def make_basket(
    emu: BybitEmulator,
    markets: dict[str, pd.DataFrame],
    state_path: Path,
    policies: dict[str, Any],
    after_execute: Any = None,
    **live: Any,
) -> Basket:
    """One trader per symbol on the emulator, each with its own scaler, all on one state file."""
    sleep = emulator_sleep(emu)
    traders = []
    for symbol, frame in markets.items():
        cfg = small_config(exchange_url=emu.url, state_path=str(state_path), symbol=symbol, **live)
        exchange = live_exchange(cfg.live, emu.api_key, emu.api_secret)
        exchange.enableRateLimit = False
        broker = CcxtBroker(exchange, cfg.live, cfg.portfolio, RetryPolicy(3, 0.01, sleep))
        broker.wallet_share = 1.0 / len(markets)
        builder = ObservationBuilder(cfg, fit_scaler(cfg, frame), None, None)
        state = StateStore(state_path, symbol)
        tag = run_tag("ckpt", symbol, "5m")
        trader = Trader(cfg, broker, policies[symbol], builder, state, tag, sleep, after_execute)
        trader.snapshot_path = snapshot_path(state_path, symbol)
        traders.append(trader)
    return Basket(traders, sleep)


def close(basket: Basket) -> None:
    for trader in basket.traders:
        trader.state.close()


def test_both_symbols_trade_with_their_own_client_ids_in_one_state_file(
    emu: BybitEmulator, markets: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    path = tmp_path / "basket.sqlite"
    policies = {s: SignPolicy() for s in markets}
    basket = make_basket(emu, markets, path, policies)
    summaries = basket.run(4)
    assert [s.bars for s in summaries.values()] == [4, 4]
    # each symbol's policy saw its own candles: the two observation streams differ
    btc, eth = (p.observations for p in policies.values())
    assert len(btc) == len(eth) == 4 and not (btc[0]["market"] == eth[0]["market"]).all()
    for trader in basket.traders:
        position = emu.account.position(bybit_id(trader.live.symbol)).size
        assert position != 0.0 and position == pytest.approx(summaries[trader.live.symbol].reports[-1].position_qty)
    ids = {t.live.symbol: [r["client_id"] for r in t.state.orders()] for t in basket.traders}
    tags = {t.live.symbol: t.tag for t in basket.traders}
    assert tags["BTC/USDT:USDT"] != tags["ETH/USDT:USDT"]
    for symbol, client_ids in ids.items():
        assert client_ids and all(c.startswith(f"{tags[symbol]}-") for c in client_ids)
    assert sum(len(c) for c in ids.values()) == emu.count("/v5/order/create")
    close(basket)
    state = read_paper_state(path)
    assert state.symbols == ("BTC/USDT:USDT", "ETH/USDT:USDT") and len(state.bars) == 8
    view = read_paper_view(path, 1e9, 100)
    assert set(view["symbols"]) == set(markets)
    assert [len(v["bars"]) for v in view["symbols"].values()] == [4, 4]
    assert {o["client_id"] for o in view["symbols"]["ETH/USDT:USDT"]["orders"]} == set(ids["ETH/USDT:USDT"])
    assert snapshot_path(path, "ETH/USDT:USDT").name == "basket.sqlite.ETHUSDT.account.json"
    assert all(snapshot_path(path, s).is_file() for s in markets)


def test_a_restart_resumes_every_symbol_and_sends_nothing_twice(
    emu: BybitEmulator, markets: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    class CrashError(Exception):
        pass

    sent: list[ExecutionPlan] = []

    def crash(plan: ExecutionPlan, orders: list[OrderState]) -> None:
        if orders:
            sent.append(plan)
        if len(sent) == 2:  # ETH's first orders went out after BTC's; the process dies before recording them
            raise CrashError

    path = tmp_path / "basket.sqlite"
    long_short = {"BTC/USDT:USDT": FixedPolicy(2), "ETH/USDT:USDT": FixedPolicy(0)}
    first = make_basket(emu, markets, path, long_short, after_execute=crash)
    with pytest.raises(CrashError):
        first.run(3)
    close(first)
    creates = emu.count("/v5/order/create")
    second = make_basket(emu, markets, path, long_short)
    emu.set_time(emu.now_ms - 1_000 + 1)  # the same bar: ETH's redo must adopt what it sent
    summaries = second.run(1)
    # BTC had recorded the bar and goes on with the next; ETH redoes it, adopting its order
    btc, eth = (s.reports[0] for s in summaries.values())
    assert eth.open_ms == sent[1].bar_open_ms and btc.open_ms == eth.open_ms + 300_000
    assert emu.count("/v5/order/create") == creates  # fixed targets reached: nothing is sent again
    assert [r["client_id"] for r in second.traders[1].state.orders()] == [f"{sent[1].client_prefix}-0"]
    for trader in second.traders:
        for row in trader.state.orders():
            assert emu.orders_with_link_id(row["client_id"]) == 1
        assert trader.state.bars_processed() == 2 - (trader is second.traders[1])
    assert emu.account.position("BTCUSDT").size > 0 > emu.account.position("ETHUSDT").size
    close(second)


def test_the_account_kill_switch_flattens_every_symbol(
    emu: BybitEmulator, markets: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    path = tmp_path / "basket.sqlite"
    long_short = {"BTC/USDT:USDT": FixedPolicy(2), "ETH/USDT:USDT": FixedPolicy(0)}
    basket = make_basket(emu, markets, path, long_short, max_daily_loss=0.01)
    basket.run(1)
    assert emu.account.position("BTCUSDT").size > 0 > emu.account.position("ETHUSDT").size
    emu.account.usdt -= 500.0  # a 5 % loss of the account the symbols share
    with pytest.raises(KillSwitchError, match="account kill switch.*daily loss"):
        basket.run(3)
    assert emu.account.position("BTCUSDT").size == 0.0 and emu.account.position("ETHUSDT").size == 0.0
    assert "daily loss" in basket.traders[0].state.get_account("kill_switch")
    assert all(t.state.get("kill_switch") for t in basket.traders)
    assert [t.summary.reports[-1].status for t in basket.traders] == ["killed", "killed"]
    close(basket)
    creates = emu.count("/v5/order/create")
    again = make_basket(emu, markets, path, long_short, max_daily_loss=0.01)
    with pytest.raises(KillSwitchError, match="every symbol"):
        again.run(1)
    assert emu.count("/v5/order/create") == creates
    close(again)
