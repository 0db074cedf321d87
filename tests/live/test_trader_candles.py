"""The trader records each processed bar with its candle (the dashboard draws the candles); a bar it skips for
stale data, which has no candle of its own, keeps its close only."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.support.bybit_candles import make_candles
from tests.support.bybit_emulator import BybitEmulator
from tests.support.bybit_trading import FixedPolicy, SignPolicy, make_trader


@pytest.fixture
def candles() -> pd.DataFrame:
    return make_candles(1200, seed=3)


def test_each_decided_bar_is_recorded_with_its_candle(emu: BybitEmulator, candles: pd.DataFrame,
                                                      tmp_path: Path) -> None:
    trader = make_trader(emu, candles, tmp_path / "s.sqlite", SignPolicy())
    trader.run(3)
    rows = trader.state.bars()
    assert len(rows) == 3
    by_open_ms = candles.set_axis(candles.index.as_unit("ms").asi8)
    for row in rows:
        expected = by_open_ms.loc[row["open_ms"], ["open", "high", "low", "close", "volume"]].tolist()
        assert [row["open"], row["high"], row["low"], row["close"], row["volume"]] == pytest.approx(expected)


def test_a_bar_skipped_for_stale_data_keeps_its_close_only(emu: BybitEmulator, candles: pd.DataFrame,
                                                           tmp_path: Path) -> None:
    trader = make_trader(emu, candles, tmp_path / "s.sqlite", FixedPolicy(2), stale_after_s=60)
    emu.set_time(emu.bar_open_ms(len(candles) - 1) + 20 * 300_000)  # candles stop: the exchange feed went quiet
    trader.run(1)
    (row,) = trader.state.bars()
    assert row["status"] == "skipped" and row["close"] == pytest.approx(candles["close"].iloc[-1])
    assert (row["open"], row["high"], row["low"], row["volume"]) == (None, None, None, None)
