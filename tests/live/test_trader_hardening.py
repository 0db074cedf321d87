"""The trading loop under refusals and odd starts: a refused order or a stop on the wrong side never ends the run,
the schema is checked at start-up, a run of skipped bars reports no PnL."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bot.errors import SchemaMismatchError
from tests.support import bybit_faults as faults
from tests.support.bybit_candles import START_BAR, make_candles
from tests.support.bybit_emulator import BybitEmulator
from tests.support.bybit_trading import FixedPolicy, SignPolicy, make_trader

CREATE = "/v5/order/create"


@pytest.fixture
def candles() -> pd.DataFrame:
    frame = make_candles(1200, seed=3)
    # the bar the first order fills in opens 20 % below the decision's close: a long's stop, set from that close,
    # lies above the fill price, where Bybit refuses it (10001)
    gap = frame["close"].iloc[START_BAR - 1] * 0.8
    frame.iloc[START_BAR, frame.columns.get_loc("open")] = gap
    frame.iloc[START_BAR, frame.columns.get_loc("low")] = min(gap, frame["low"].iloc[START_BAR])
    return frame


def test_a_stop_on_the_wrong_side_is_set_from_the_fill_price(
    emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path
) -> None:
    trader = make_trader(emu, candles, tmp_path / "s.sqlite", FixedPolicy(2))
    summary = trader.run(1)
    assert summary.bars == 1 and summary.rejected == 0
    pos = emu.account.position("BTCUSDT")
    fill = candles["open"].iloc[START_BAR]
    assert pos.size > 0 and pos.avg_price == pytest.approx(fill)
    assert 0 < pos.stop_loss < fill < pos.take_profit  # set from the fill, not from the decision's close
    assert emu.count("/v5/position/trading-stop") == 1
    ((client_id, status),) = {(r["client_id"], r["status"]) for r in trader.state.orders()}
    assert status == "closed" and emu.orders_with_link_id(client_id) == 1
    trader.run(2)  # (bars count over the run) the bar closes through the take-profit set from the fill
    assert any(r["client_id"].startswith("exchange-") and r["side"] == "sell" for r in trader.state.fills())


def test_a_position_left_without_a_stop_gets_one_at_the_next_bar(
    emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path
) -> None:
    trader = make_trader(emu, candles, tmp_path / "s.sqlite", FixedPolicy(2))
    refusal = faults.ret_code(10001, "StopLoss:1 set for Buy position should lower than base_price:1??LastPrice")
    emu.inject("/v5/position/trading-stop", refusal, refusal)  # from the fill price, then from the last price
    trader.run(1)
    pos = emu.account.position("BTCUSDT")
    assert pos.size > 0 and pos.stop_loss == 0.0 and emu.count(CREATE) == 2  # refused with its stops, sent without
    trader.run(2)  # same target: no order, but the held position gets its stop-loss
    assert 0 < pos.stop_loss < candles["close"].iloc[START_BAR] and emu.count(CREATE) == 2


@pytest.mark.parametrize(
    ("refusal", "code"),
    [
        (faults.ret_code(10001, "params error: something in the order"), "10001"),
        (faults.ret_code(110004, "Wallet balance is insufficient"), "110004"),
        (faults.ret_code(110040, "Order will trigger forced liquidation"), "110040"),
    ],
    ids=["10001", "110004", "110040"],
)
def test_a_refused_order_is_recorded_and_the_run_goes_on(
    emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path, refusal: faults.Fault, code: str
) -> None:
    emu.set_bar(START_BAR + 1)  # past the gap
    trader = make_trader(emu, candles, tmp_path / "s.sqlite", FixedPolicy(2))
    emu.inject(CREATE, refusal, faults.ret_code(10016, "System error. Please try again later."))
    summary = trader.run(3)
    assert summary.bars == 3 and summary.rejected == 1
    rows = trader.state.orders()
    assert rows[0]["status"] == "rejected" and code in rows[0]["error"]
    assert rows[-1]["status"] == "closed" and emu.account.position("BTCUSDT").size > 0  # 10016 was retried


def test_the_schema_is_checked_at_start_up(emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path) -> None:
    trader = make_trader(emu, candles, tmp_path / "s.sqlite", FixedPolicy(2))
    trader.builder.market_shape = (8, 99)
    with pytest.raises(SchemaMismatchError, match=r"shape \(8, 99\)"):
        trader.start()
    assert emu.count(CREATE) == 0 and trader.state.bars_processed() == 0


def test_a_run_of_skipped_bars_reports_no_pnl(emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path) -> None:
    trader = make_trader(emu, candles, tmp_path / "s.sqlite", FixedPolicy(2), stale_after_s=60)
    emu.set_time(emu.bar_open_ms(len(candles) - 1) + 20 * 300_000)  # the feed went quiet: every bar is stale
    summary = trader.run(2)
    assert summary.skipped == 2 and summary.equity == pytest.approx(10_000.0) and summary.pnl == 0.0
    snapshot = trader.state.latest_snapshot()
    assert snapshot is not None and snapshot["pnl_total"] == 0.0 and snapshot["daily_pnl"] == 0.0


def test_the_policy_decides_every_decision_every_bars(
    emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path
) -> None:
    emu.set_bar(START_BAR + 1)  # past the gap
    policy = SignPolicy()
    trader = make_trader(emu, candles, tmp_path / "s.sqlite", policy, decision_every=3)
    summary = trader.run(7)
    assert len(policy.observations) == 3  # bars 0, 3 and 6 of the run
    decided = [r["open_ms"] for r in trader.state.bars() if r["action"]]
    assert [b - decided[0] for b in decided] == [0, 900_000, 1_800_000]
    held = [r for i, r in enumerate(summary.reports) if i % 3]
    assert all(not r.orders and r.status == "held" for r in held)
    assert emu.count(CREATE) == sum(len(r.orders) for r in summary.reports)
