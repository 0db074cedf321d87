"""The paper-trading loop on the emulator with fixed policies: orders follow the policy, crashes, stale data, kill."""

from __future__ import annotations

import logging
import math
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.errors import KillSwitchError, SchemaMismatchError
from bot.live.broker import ExecutionPlan, OrderState
from tests.support import bybit_faults as faults
from tests.support.bybit_candles import make_candles
from tests.support.bybit_emulator import BybitEmulator
from tests.support.bybit_trading import FixedPolicy, SignPolicy, make_trader


@pytest.fixture
def candles() -> pd.DataFrame:
    return make_candles(1200, seed=3)


def test_positions_follow_the_policy_bar_by_bar(emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path) -> None:
    policy = SignPolicy()
    trader = make_trader(emu, candles, tmp_path / "s.sqlite", policy)
    summary = trader.run(8)
    assert summary.bars == 8 and summary.skipped == 0 and len(policy.observations) == 8
    assert policy.resets == 1  # the live stream is one episode for the policy
    obs = policy.observations[0]
    assert obs["market"].shape == (8, 4) and obs["portfolio"].shape == (12,)
    closes = candles["close"].to_numpy()
    for report in summary.reports:
        bar = int(report.open_ms // 300_000 - candles.index[0].value // 300_000_000_000)
        assert report.close == pytest.approx(closes[bar])
    # after the orders of each bar, the position has the sign of that bar's decision
    for report in summary.reports:
        assert math.copysign(1, report.position_qty) == math.copysign(1, report.target_exposure)
    rows = trader.state.orders()
    assert len(rows) == summary.orders == emu.count("/v5/order/create")
    assert all(r["client_id"].startswith("bottest-") for r in rows)
    assert trader.state.last_bar_ms == summary.reports[-1].open_ms


def test_restart_after_crash_between_create_and_record_sends_nothing_twice(
    emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path
) -> None:
    class CrashError(Exception):
        pass

    sent: list[ExecutionPlan] = []

    def crash(plan: ExecutionPlan, orders: list[OrderState]) -> None:
        if orders:
            sent.append(plan)
            raise CrashError

    state = tmp_path / "s.sqlite"
    first = make_trader(emu, candles, state, FixedPolicy(2), after_execute=crash)
    with pytest.raises(CrashError):
        first.run(5)
    first.state.close()
    assert first.state.path.exists() and first.state.path.stat().st_size > 0
    creates = emu.count("/v5/order/create")
    link = f"{sent[0].client_prefix}-0"
    assert emu.orders_with_link_id(link) == 1
    second = make_trader(emu, candles, state, FixedPolicy(2))
    emu.set_time(emu.now_ms - 1_000 + 1)  # same bar, still unrecorded: the redo must adopt the order
    summary = second.run(1)
    assert emu.count("/v5/order/create") == creates
    assert emu.orders_with_link_id(link) == 1
    assert [r["client_id"] for r in second.state.orders()] == [link]
    assert summary.reports[0].open_ms == sent[0].bar_open_ms


def test_observation_references_survive_a_restart(emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path) -> None:
    state = tmp_path / "s.sqlite"
    first = make_trader(emu, candles, state, SignPolicy())
    first.run(6)
    saved = first.refs.to_dict()
    first.state.close()
    assert saved is not None and saved["peak"] >= saved["reference"] > 0
    second = make_trader(emu, candles, state, SignPolicy())
    # the peak and reference equity of the drawdown the policy sees continue; they are not restarted at the new run
    assert second.refs.started and second.refs.to_dict() == saved
    second.run(2)
    assert second.refs.to_dict()["since"] == saved["since"]


def test_stale_candles_skip_the_bar(emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path) -> None:
    trader = make_trader(emu, candles, tmp_path / "s.sqlite", FixedPolicy(2), stale_after_s=60)
    emu.set_time(emu.bar_open_ms(len(candles) - 1) + 20 * 300_000)  # candles stop: the exchange feed went quiet
    summary = trader.run(1)
    assert summary.skipped == 1 and "stale data" in summary.reports[0].reason
    assert emu.count("/v5/order/create") == 0
    assert [r["status"] for r in trader.state.bars()] == ["skipped"]


def test_kill_switch_still_trips_while_the_data_is_stale(
    emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path
) -> None:
    trader = make_trader(
        emu, candles, tmp_path / "s.sqlite", FixedPolicy(2), stale_after_s=60, max_position_notional=4e3
    )
    emu.set_time(emu.bar_open_ms(len(candles) - 1) + 20 * 300_000)  # the feed went quiet ...
    _open_position_above_the_cap(emu)  # ... while the position grew past the cap
    with pytest.raises(KillSwitchError, match="max_position_notional"):
        trader.run(1)
    assert emu.account.position("BTCUSDT").size == 0.0
    assert trader.state.get("kill_switch")


def test_rejected_orders_leave_consistent_state(emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path) -> None:
    trader = make_trader(emu, candles, tmp_path / "s.sqlite", FixedPolicy(2))
    emu.inject("/v5/order/create", faults.insufficient_funds(), faults.rejected())
    summary = trader.run(3)
    rows = trader.state.orders()
    assert [r["status"] for r in rows[:2]] == ["rejected", "rejected"] and summary.rejected == 2
    assert rows[2]["status"] == "closed" and summary.reports[-1].status == "traded"


def test_transient_faults_during_a_bar_are_retried(emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path) -> None:
    trader = make_trader(emu, candles, tmp_path / "s.sqlite", FixedPolicy(2))
    emu.inject("/v5/market/kline", faults.http_error(503))
    emu.inject("/v5/order/create", faults.rate_limit(), faults.forbidden())
    emu.inject("/v5/position/list", faults.timeout(1.0))
    summary = trader.run(1)
    assert summary.orders == 1 and emu.count("/v5/order/create") == 3


def _open_position_above_the_cap(emu: BybitEmulator) -> None:
    """A manual deposit and a manual 1 BTC long, far above a 4,000 USDT position cap."""
    emu.account.usdt = 1_000_000.0
    emu.account.create_order(
        {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "1"}, emu.now_ms
    )


def test_kill_switch_flattens_and_stops(emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path) -> None:
    state = tmp_path / "s.sqlite"
    trader = make_trader(emu, candles, state, FixedPolicy(2), max_position_notional=4_000.0)
    _open_position_above_the_cap(emu)
    with pytest.raises(KillSwitchError, match="max_position_notional"):
        trader.run(3)
    assert emu.account.position("BTCUSDT").size == 0.0
    assert trader.state.get("kill_switch")
    again = make_trader(emu, candles, state, FixedPolicy(2))
    with pytest.raises(KillSwitchError, match="new --state file"):
        again.run(1)


def test_kill_switch_stays_tripped_when_flattening_fails(
    emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path
) -> None:
    state = tmp_path / "s.sqlite"
    trader = make_trader(emu, candles, state, FixedPolicy(2), max_position_notional=4_000.0)
    _open_position_above_the_cap(emu)
    emu.inject("/v5/order/create", *[faults.http_error(503)] * 4)  # the exchange is down for every retry
    with pytest.raises(KillSwitchError, match="could not be flattened"):
        trader.run(1)  # the one bar allowed is skipped in the outage
    assert emu.account.position("BTCUSDT").size == 1.0
    assert "max_position_notional" in trader.state.get("kill_switch")
    again = make_trader(emu, candles, state, FixedPolicy(2))
    with pytest.raises(KillSwitchError, match="tripped earlier"):
        again.run(1)
    assert emu.count("/v5/order/create") == 4


def test_killed_bar_reports_the_flattened_position(emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path) -> None:
    trader = make_trader(emu, candles, tmp_path / "s.sqlite", FixedPolicy(2), max_position_notional=4_000.0)
    _open_position_above_the_cap(emu)
    with pytest.raises(KillSwitchError):
        trader.run(1)
    (report,) = trader.summary.reports
    assert report.status == "killed" and report.position_qty == 0.0
    snapshot = trader.state.latest_snapshot()
    assert snapshot is not None and snapshot["position_qty"] == 0.0 and snapshot["kill_switch"]


def test_daily_loss_kill_switch(emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path) -> None:
    trader = make_trader(emu, candles, tmp_path / "s.sqlite", FixedPolicy(1), max_daily_loss=0.01)
    trader.run(1)
    emu.account.usdt -= 500.0  # a 5 % loss
    with pytest.raises(KillSwitchError, match="daily loss"):
        trader.run(2)


def test_account_snapshot_json_and_table(emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path) -> None:
    trader = make_trader(emu, candles, tmp_path / "s.sqlite", FixedPolicy(2))
    trader.run(2)
    snap = trader.state.latest_snapshot()
    assert snap is not None and snap["symbol"] == "BTC/USDT:USDT" and snap["bars_processed"] == 2
    text = (tmp_path / "s.sqlite.account.json").read_text()
    assert '"equity"' in text and "testsecret" not in text
    with sqlite3.connect(tmp_path / "s.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_model_shape_mismatch_is_a_schema_error(emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path) -> None:
    trader = make_trader(emu, candles, tmp_path / "s.sqlite", FixedPolicy(2))
    trader.builder.market_shape = (8, 99)
    with pytest.raises(SchemaMismatchError, match=r"shape \(8, 99\)"):
        trader.run(1)


CHILD = """
import os, sys
from tests.support.bybit_candles import make_candles
from tests.support.bybit_trading import FixedPolicy, build_trader

def die(plan, orders):
    if orders:
        os._exit(9)  # killed after the exchange took the order, before the state write

trader = build_trader(sys.argv[1], ("testkey", "testsecret"), make_candles(1200, seed=3), sys.argv[2], FixedPolicy(2),
                      lambda s: None, after_execute=die)
trader.run(1)
"""


def test_process_killed_after_create_then_restarted_sends_exactly_one_order(
    emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path
) -> None:
    state = tmp_path / "s.sqlite"
    repo = Path(__file__).resolve().parents[2]
    child = subprocess.run(
        [sys.executable, "-c", CHILD, emu.url, str(state)], cwd=repo, timeout=120, capture_output=True, text=True
    )
    assert child.returncode == 9, child.stderr
    (order,) = emu.account.orders
    assert emu.count("/v5/order/create") == 1
    restarted = make_trader(emu, candles, state, FixedPolicy(2))
    summary = restarted.run(1)
    assert emu.count("/v5/order/create") == 1 and len(emu.account.orders) == 1
    assert [r["client_id"] for r in restarted.state.orders()] == [order.link_id]
    assert summary.reports[0].position_qty > 0


def test_restart_reconciles_a_position_changed_while_stopped(
    emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "s.sqlite"
    first = make_trader(emu, candles, state, FixedPolicy(2))
    first.run(1)
    first.state.close()
    held = emu.account.position("BTCUSDT").size
    emu.account.create_order(
        {
            "category": "linear",
            "symbol": "BTCUSDT",
            "side": "Sell",
            "orderType": "Market",
            "qty": str(held),
            "reduceOnly": True,
        },
        emu.now_ms,
    )  # closed by hand meanwhile
    emu.advance()
    second = make_trader(emu, candles, state, FixedPolicy(2))
    caplog.set_level(logging.INFO)
    summary = second.run(1)
    # the hand-made close carries no orderLinkId: recorded from the exchange's history as an exchange order
    assert "Recovered 1 order(s)" in caplog.text and "matches the recorded one plus the recovered fills" in caplog.text
    assert any(r["client_id"].startswith("exchange-") and r["side"] == "sell" for r in second.state.fills())
    assert summary.reports[0].status == "traded" and summary.reports[0].position_qty == pytest.approx(held, rel=0.05)


class _RecurrentRecorder(SignPolicy):
    """A recurrent policy (the trader re-warms it after every start) that records its calls and resets."""

    recurrent = True


def test_a_recurrent_policy_is_rewarmed_over_the_last_window_after_a_restart(
    emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path
) -> None:
    state = tmp_path / "s.sqlite"
    first_policy = _RecurrentRecorder()
    first = make_trader(emu, candles, state, first_policy)
    first.run(8)
    first.state.close()
    window = 8  # small_config's env.window, decisions every bar
    # the first start warmed up too: window past bars, then the 8 decisions
    assert first_policy.resets == 1 and len(first_policy.observations) == window + 8
    second_policy = _RecurrentRecorder()
    second = make_trader(emu, candles, state, second_policy)
    second.run(1)
    assert second_policy.resets == 1 and len(second_policy.observations) == window + 1
    # the warm-up replays the market windows the first run decided on at the last `window` bars, oldest first (up to
    # float32 rounding: the restarted trader's indicators start on a later first candle)
    replayed = [o["market"] for o in second_policy.observations[:window]]
    decided = [o["market"] for o in first_policy.observations[-window:]]
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(replayed, decided, strict=True))
    # ... with the account as it is now, and the decision itself comes after them
    now = second_policy.observations[-1]["portfolio"]
    assert all(np.array_equal(o["portfolio"], now) for o in second_policy.observations[:window])
    assert not np.array_equal(second_policy.observations[-1]["market"], replayed[-1])
