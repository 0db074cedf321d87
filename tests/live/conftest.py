"""Fixtures of the live-trading tests: synthetic candles and a running loopback Bybit V5 emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from tests.support.bybit_candles import START_BAR, make_candles
from tests.support.bybit_emulator import BybitEmulator


@pytest.fixture
def candles() -> pd.DataFrame:
    return make_candles()


@pytest.fixture
def emulator(candles: pd.DataFrame) -> Iterator[BybitEmulator]:
    """An emulator serving ``candles`` as BTCUSDT with the clock at bar 300 (bars 0..299 closed)."""
    with BybitEmulator() as emu:
        emu.feed("BTCUSDT", candles)
        emu.set_bar(300)
        yield emu


@pytest.fixture
def emu(candles: pd.DataFrame) -> Iterator[BybitEmulator]:
    """An emulator serving the module's ``candles`` as BTCUSDT with the clock at ``START_BAR`` (the trader tests)."""
    with BybitEmulator() as emu:
        emu.feed("BTCUSDT", candles)
        emu.set_bar(START_BAR)
        yield emu
