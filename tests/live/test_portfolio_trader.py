"""The live portfolio trader on the emulator (BTCUSDT and ETHUSDT, one account): target weights become positions on
both symbols within lot rounding, one state file, a restart that sends nothing twice, a symbol without a fresh bar
masked, and the account kill switch flattening both."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bot.config import BotConfig
from bot.errors import CheckpointError, KillSwitchError
from bot.exchange import RetryPolicy
from bot.live import ObservationBuilder, StateStore, live_exchange, run_tag
from bot.live.broker import ExecutionPlan, OrderState
from bot.live.portfolio_account import AccountBroker
from bot.live.portfolio_symbol import PortfolioSymbol
from bot.live.portfolio_trader import PortfolioTrader
from bot.live.state_reader import read_paper_state
from tests.support import bybit_faults as faults
from tests.support.bybit_candles import START_BAR, make_candles
from tests.support.bybit_emulator import BybitEmulator, serving
from tests.support.bybit_trading import emulator_sleep, fit_scaler, small_config

LOTS = {"BTCUSDT": 0.001, "ETHUSDT": 0.01}


class Weights:
    """A continuous portfolio policy: the given weights, in turn (the last one repeats); records its observations."""

    def __init__(self, *weights: list[float]) -> None:
        self.weights = [np.array(w, np.float32) for w in weights]
        self.observations: list[dict[str, Any]] = []

    def act(self, obs: dict[str, Any], row: int) -> Any:
        self.observations.append(obs)
        return self.weights[min(len(self.observations), len(self.weights)) - 1]

    def reset(self) -> None:
        """Nothing to forget."""


def _markets(gap_at: int | None = None) -> dict[str, pd.DataFrame]:
    eth = make_candles(1200, seed=11)
    eth[["open", "high", "low", "close"]] *= 0.06  # an ETH-like price level, another random walk
    if gap_at is not None:
        eth = eth.drop(eth.index[gap_at])
    return {"BTC/USDT:USDT": make_candles(1200, seed=3), "ETH/USDT:USDT": eth}


@pytest.fixture
def markets() -> dict[str, pd.DataFrame]:
    return _markets()


@pytest.fixture
def emu(markets: dict[str, pd.DataFrame]) -> Iterator[BybitEmulator]:
    with serving(markets, START_BAR) as emu:
        yield emu


def portfolio_config(
    emu: BybitEmulator, state_path: Path, symbol: str, action_type: str = "continuous", **live: Any
) -> BotConfig:
    cfg = small_config(exchange_url=emu.url, state_path=str(state_path), symbol=symbol, **live)
    env = cfg.env.model_copy(update={"action_type": action_type, "mode": "portfolio"})
    return cfg.model_copy(update={"env": env})


def make_trader(
    emu: BybitEmulator,
    markets: dict[str, pd.DataFrame],
    state_path: Path,
    policy: Any,
    after_execute: Any = None,
    action_type: str = "continuous",
    **live: Any,
) -> PortfolioTrader:
    """A portfolio trader over both symbols on the emulator, each with its own scaler, on one state file."""
    sleep = emulator_sleep(emu)
    parts = []
    cfg = portfolio_config(emu, state_path, "BTC/USDT:USDT", action_type, max_position_notional=1e9, **live)
    for symbol, frame in markets.items():
        own = portfolio_config(emu, state_path, symbol, action_type, max_position_notional=1e9, **live)
        exchange = live_exchange(own.live, emu.api_key, emu.api_secret)
        exchange.enableRateLimit = False
        broker = AccountBroker(exchange, own.live, own.portfolio, RetryPolicy(3, 0.01, sleep))
        builder = ObservationBuilder(own, fit_scaler(own, frame), None, None)
        parts.append(
            PortfolioSymbol(symbol, broker, builder, StateStore(state_path, symbol), run_tag("pf", symbol, "5m"))
        )
    return PortfolioTrader(cfg, parts, policy, sleep, after_execute, clock=lambda: emu.now_ms / 1000.0)


def close(trader: PortfolioTrader) -> None:
    for part in trader.symbols:
        part.state.close()


def account_equity(emu: BybitEmulator) -> float:
    return emu.account.equity_parts(emu.now_ms)[2]


def assert_positions_match(emu: BybitEmulator, weights: list[float], closes: list[float], equity: float) -> None:
    """Each position is ``weight x equity / decision close`` within one lot (and the fees' drift of the equity)."""
    for (name, lot), weight, close in zip(LOTS.items(), weights, closes, strict=True):
        expected = weight * equity / close
        got = emu.account.position(name).size
        assert got == pytest.approx(expected, abs=lot + abs(expected) * 2e-3), name
        assert math.copysign(1.0, got) == math.copysign(1.0, weight)


def test_weights_become_positions_on_both_symbols_in_one_state_file(
    emu: BybitEmulator, markets: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    path = tmp_path / "portfolio.sqlite"
    policy = Weights([0.5, -0.3], [-0.2, 0.6])
    trader = make_trader(emu, markets, path, policy)
    bars = []
    trader.run(1, on_bar=bars.append)
    closes = [markets[s]["close"].iloc[START_BAR - 1] for s in markets]
    # each symbol's DBE sizes the agent's weight (ETH's engine is defensive here: half size) and sets its stops
    dbe = trader.dbe
    assert dbe is not None and sorted(dbe.size) == [0.5, 1.0]
    executed = [0.5 * dbe.size[0], -0.3 * dbe.size[1]]
    assert bars[0].weights == pytest.approx(executed)
    assert_positions_match(emu, executed, closes, 10_000.0)
    for name, close_, (stop, take, _) in zip(LOTS, closes, dbe.engine, strict=True):
        side = 1.0 if emu.account.position(name).size > 0 else -1.0
        assert emu.account.position(name).stop_loss == pytest.approx(close_ * (1.0 - side * stop), rel=1e-4)
        assert emu.account.position(name).take_profit == pytest.approx(close_ * (1.0 + side * take), rel=1e-4)
    obs = policy.observations[0]
    assert obs["market"].shape == (2, 8, 4) and obs["assets"][:, 0].tolist() == [1.0, 1.0]
    assert not (obs["market"][0] == obs["market"][1]).all()  # each symbol's own candles and scaler
    assert obs["assets"][:, 1].tolist() == [0.0, 0.0] and obs["account"][0] == pytest.approx(1.0)
    equity = account_equity(emu)
    trader.run(2, on_bar=bars.append)
    # the second decision saw the first one's positions, and moved both symbols to its own weights
    seen = policy.observations[1]["assets"][:, 1]
    assert seen == pytest.approx(executed, abs=0.01)
    closes = [markets[s]["close"].iloc[START_BAR] for s in markets]
    # a changed weight takes its engine's size again
    assert bars[1].weights == pytest.approx((-0.2 * dbe.size[0], 0.6 * dbe.size[1]))
    assert_positions_match(emu, list(bars[1].weights), closes, equity)
    assert all(set(b.reports) == set(markets) for b in bars)
    # each reversal closed a trade: its net PnL (both fills and fees) waits for the symbol's DBE at the next bar
    for part in trader.symbols:
        first, close_leg = part.state.fills()[:2]
        sign = 1.0 if first["side"] == "buy" else -1.0
        pnl = sign * first["qty"] * (close_leg["price"] - first["price"]) - first["fee"] - close_leg["fee"]
        assert part.closed_pnl == pytest.approx(pnl)
    close(trader)
    state = read_paper_state(path)
    assert state.symbols == ("BTC/USDT:USDT", "ETH/USDT:USDT") and len(state.bars) == 4
    for symbol in markets:
        tag = run_tag("pf", symbol, "5m")
        ids = [o.client_id for o in read_paper_state(path, symbol=symbol).orders]
        assert ids and all(i.startswith(f"{tag}-") for i in ids)
    assert len(state.orders) == emu.count("/v5/order/create")
    assert {o.link_id for o in emu.account.orders} == {o.client_id for o in state.orders}


def test_a_restart_redoes_the_bar_with_its_stored_weights_and_sends_nothing_twice(
    emu: BybitEmulator, markets: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    class CrashError(Exception):
        pass

    sent: list[ExecutionPlan] = []

    def crash(plan: ExecutionPlan, orders: list[OrderState]) -> None:
        sent.append(plan)
        if len(sent) == 3:  # the second bar's first symbol went out; the process dies before recording it
            raise CrashError

    path = tmp_path / "portfolio.sqlite"
    first = make_trader(emu, markets, path, Weights([0.5, -0.3], [-0.2, 0.6]), after_execute=crash)
    with pytest.raises(CrashError):
        first.run(2)
    close(first)
    creates = emu.count("/v5/order/create")
    crashed = sent[2]
    # a policy that would decide otherwise: the redo must execute the weights stored before the crash
    other = Weights([0.9, 0.0])
    second = make_trader(emu, markets, path, other)
    equity = account_equity(emu)
    second.run(1)
    assert other.observations == []  # the policy was not asked again for the redone bar
    new = [o for o in emu.account.orders[creates:]]
    assert all(not o.link_id.startswith(crashed.client_prefix) for o in new)  # the crashed symbol's legs adopted
    for part in second.symbols:
        for row in part.state.orders():
            assert emu.orders_with_link_id(row["client_id"]) == 1
        assert part.state.bars_processed() == 2
    closes = [markets[s]["close"].iloc[START_BAR] for s in markets]
    assert_positions_match(emu, second.account.get_account("decision")["weights"], closes, equity)
    close(second)
    # a policy that gives a NaN weight stops the run naming the symbol, before anything is sent
    creates = emu.count("/v5/order/create")
    broken = make_trader(emu, markets, path, Weights([float("nan"), 0.1]))
    with pytest.raises(CheckpointError, match="weight for BTC/USDT:USDT is NaN.*nothing was sent"):
        broken.run(1)
    assert emu.count("/v5/order/create") == creates
    close(broken)


class Levels:
    """A MultiDiscrete portfolio policy (levels -1, 0, 1): the given level indices in turn; records the masks the
    trader offered at each decision, as MaskablePPO reads them."""

    def __init__(self, *levels: list[int]) -> None:
        self.levels = levels
        self.observations: list[dict[str, Any]] = []
        self.masks: list[Any] = []
        self.trader: PortfolioTrader | None = None

    def act(self, obs: dict[str, Any], row: int) -> Any:
        self.observations.append(obs)
        assert self.trader is not None
        self.masks.append(self.trader.action_masks().copy())
        return np.array(self.levels[min(len(self.observations), len(self.levels)) - 1])

    def reset(self) -> None:
        """Nothing to forget."""


def test_a_symbol_without_a_fresh_bar_is_masked_and_not_traded(tmp_path: Path) -> None:
    markets = _markets(gap_at=START_BAR)  # ETH has no bar START_BAR: it is missing at the second decision
    with serving(markets, START_BAR) as emu:
        # long BTC, short ETH (1/2 each); then short BTC, ETH kept short (its mask allows nothing else)
        policy = Levels([2, 0], [0, 0])
        trader = make_trader(emu, markets, tmp_path / "p.sqlite", policy, action_type="discrete")
        policy.trader = trader
        bars = []
        trader.run(1, on_bar=bars.append)
        # a gross of 1 is scaled into the margin with its fee reserve: no order is refused for margin
        assert trader.dbe is not None
        raw = [0.5 * trader.dbe.size[0], -0.5 * trader.dbe.size[1]]
        assert bars[0].weights == pytest.approx(raw, rel=2e-3)
        assert all(o.status != "rejected" for r in bars[0].reports.values() for o in r.orders)
        eth = emu.account.position("ETHUSDT").size
        assert eth < 0
        creates = emu.count("/v5/order/create")
        trader.run(2, on_bar=bars.append)
        obs = policy.observations[1]
        assert obs["assets"][:, 0].tolist() == [1.0, 0.0] and not obs["market"][1].any()
        # the masked symbol may only keep its last level (short), the tradable one any level
        assert policy.masks[1].tolist() == [True, True, True, True, False, False]
        assert emu.account.position("ETHUSDT").size == eth  # masked: not traded
        assert emu.account.position("BTCUSDT").size < 0
        assert [o.symbol for o in emu.account.orders[creates:]] == ["BTCUSDT", "BTCUSDT"]  # close long, open short
        assert "masked" in bars[1].reports["ETH/USDT:USDT"].reason
        close(trader)


def test_the_account_kill_switch_flattens_every_symbol_and_a_restart_refuses(
    emu: BybitEmulator, markets: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    path = tmp_path / "portfolio.sqlite"
    trader = make_trader(emu, markets, path, Weights([0.5, -0.3]), max_daily_loss=0.01)
    trader.run(1)
    assert emu.account.position("BTCUSDT").size > 0 > emu.account.position("ETHUSDT").size
    emu.account.usdt -= 500.0  # a 5 % loss of the account
    with pytest.raises(KillSwitchError, match="account kill switch: account daily loss"):
        trader.run(3)
    assert emu.account.position("BTCUSDT").size == 0.0 and emu.account.position("ETHUSDT").size == 0.0
    assert "daily loss" in trader.account.get_account("kill_switch")
    assert all(p.state.get("kill_switch") for p in trader.symbols)
    assert [s.reports[-1].status for s in trader.summaries.values()] == ["killed", "killed"]
    close(trader)
    creates = emu.count("/v5/order/create")
    again = make_trader(emu, markets, path, Weights([0.5, -0.3]), max_daily_loss=0.01)
    with pytest.raises(KillSwitchError, match="every symbol"):
        again.run(1)
    assert emu.count("/v5/order/create") == creates
    close(again)


def test_weights_are_held_between_decisions_and_an_outage_past_max_outage_s_flattens_every_symbol(
    emu: BybitEmulator, markets: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    path = tmp_path / "portfolio.sqlite"
    policy = Weights([0.5, -0.3], [-0.2, 0.6])
    trader = make_trader(emu, markets, path, policy, max_outage_s=60, decision_every=2)
    trader.run(1)
    creates = emu.count("/v5/order/create")
    bars = []
    trader.run(2, on_bar=bars.append)  # env.decision_every=2: the second bar holds the first decision
    assert len(policy.observations) == 1 and emu.count("/v5/order/create") == creates
    assert bars[0].status == "held" and bars[0].weights == ()
    assert emu.account.position("BTCUSDT").size > 0 > emu.account.position("ETHUSDT").size
    emu.inject("/v5/market/time", *[faults.http_error(503)] * 1000)  # the clock fails, orders still go through
    trader.outage.poll_s = 30.0
    with pytest.raises(KillSwitchError, match="account kill switch \\(outage\\).*was flattened"):
        trader.run(100)
    assert emu.account.position("BTCUSDT").size == 0.0 and emu.account.position("ETHUSDT").size == 0.0
    assert "outage" in trader.account.get_account("kill_switch")
    close(trader)
