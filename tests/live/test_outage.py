"""Exchange outages during a paper-trading run: bars skipped with a status line, reconciliation when the exchange
answers again, and giving up after ``live.max_outage_s`` without leaving a position blind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bot.errors import BrokerError, KillSwitchError
from tests.support import bybit_faults as faults
from tests.support.bybit_candles import make_candles
from tests.support.bybit_emulator import BybitEmulator
from tests.support.bybit_trading import FixedPolicy, build_trader

BAR_MS = 300_000


@pytest.fixture
def candles() -> pd.DataFrame:
    return make_candles(1200, seed=3)


def _sleep_until_up(emu: BybitEmulator, up_at_ms: list[int]) -> Callable[[float], None]:
    """Sleeping moves the emulated clock; an outage ends once it passes ``up_at_ms[0]`` (when set)."""

    def sleep(seconds: float) -> None:
        emu.set_time(emu.now_ms + int(seconds * 1000))
        if up_at_ms and emu.now_ms >= up_at_ms[0]:
            emu.set_down(False)

    return sleep


def _trader(
    emu: BybitEmulator, candles: pd.DataFrame, state: Path, up_at_ms: list[int], action: int = 2, **live: Any
) -> Any:
    return build_trader(
        emu.url,
        (emu.api_key, emu.api_secret),
        candles,
        state,
        FixedPolicy(action),
        _sleep_until_up(emu, up_at_ms),
        clock=lambda: emu.now_ms / 1000.0,
        **live,
    )


def test_an_outage_skips_bars_then_reconciles_and_trades_on(
    emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path
) -> None:
    up_at: list[int] = []
    trader = _trader(emu, candles, tmp_path / "s.sqlite", up_at)
    trader.outage.poll_s = 60.0  # fewer emulated attempts: a faster test
    trader.run(1)  # a long position with its exchange-side stop
    pos = emu.account.position("BTCUSDT")
    assert pos.size > 0
    pos.stop_loss = emu.account.price("BTCUSDT", emu.now_ms)  # ... that fills at the next bar, inside the outage
    emu.set_down(True)
    up_at.append(emu.now_ms + 2 * BAR_MS + BAR_MS // 2)  # 12.5 minutes: within live.max_outage_s=900
    reports = list(trader.run(4).reports)[1:]
    skipped = [r for r in reports if r.status == "skipped"]
    assert len(skipped) >= 2
    assert all("exchange unreachable for" in r.reason for r in skipped)
    assert all("giving up after live.max_outage_s=900" in r.reason for r in skipped)
    assert reports[-1].status == "traded" and reports[-1].position_qty > 0
    stops = [r for r in trader.state.fills() if r["client_id"].startswith("exchange-")]
    assert len(stops) == 1 and stops[0]["side"] == "sell"  # the stop that filled meanwhile is in the state


def test_an_outage_longer_than_max_outage_s_ends_a_flat_run(
    emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path
) -> None:
    trader = _trader(emu, candles, tmp_path / "s.sqlite", up_at_ms=[], action=1, max_outage_s=60)
    trader.run(1)  # flat
    emu.set_down(True)
    with pytest.raises(BrokerError, match=r"longer than live.max_outage_s=60 .*no position was open"):
        trader.run(100)
    assert not trader.state.get("kill_switch")


def test_an_outage_with_a_position_open_trips_the_kill_switch(
    emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path
) -> None:
    state = tmp_path / "s.sqlite"
    trader = _trader(emu, candles, state, up_at_ms=[], max_outage_s=60)
    trader.run(1)
    held = emu.account.position("BTCUSDT").size
    assert held > 0
    emu.set_down(True)
    with pytest.raises(KillSwitchError, match="could not be flattened"):
        trader.run(100)
    assert "outage" in trader.state.get("kill_switch")
    emu.set_down(False)
    again = _trader(emu, candles, state, up_at_ms=[])
    with pytest.raises(KillSwitchError, match="tripped earlier"):
        again.run(1)  # a person checks the account first
    assert emu.account.position("BTCUSDT").size == held


def test_a_position_is_flattened_when_only_the_data_fails(
    emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path
) -> None:
    trader = _trader(emu, candles, tmp_path / "s.sqlite", up_at_ms=[], max_outage_s=60)
    trader.run(1)
    assert emu.account.position("BTCUSDT").size > 0
    emu.inject("/v5/market/time", *[faults.http_error(503)] * 1000)  # the clock endpoint fails, orders still go through
    trader.outage.poll_s = 30.0
    with pytest.raises(KillSwitchError, match="was flattened"):
        trader.run(100)
    assert emu.account.position("BTCUSDT").size == 0
