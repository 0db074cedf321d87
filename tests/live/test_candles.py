"""The candle buffer: paginated warm-up, incremental updates, only closed bars, trimming."""

from __future__ import annotations

import pandas as pd
import pytest

from bot.config import BotConfig
from bot.errors import DataError
from bot.exchange import RetryPolicy
from bot.live.candles import PAGE_LIMIT, CandleBuffer, warmup_bars
from bot.live.ccxt_broker import CcxtBroker, live_exchange
from tests.support.bybit_candles import make_candles
from tests.support.bybit_emulator import BybitEmulator
from tests.support.bybit_trading import small_config


def source(emu: BybitEmulator) -> CcxtBroker:
    cfg = small_config(exchange_url=emu.url)
    return CcxtBroker(live_exchange(cfg.live, None, None), cfg.live, cfg.portfolio, RetryPolicy(0, 0.0))


def test_warmup_covers_the_slowest_timeframe() -> None:
    default = warmup_bars(BotConfig())
    assert default > 48 * 50 * 4  # 4h bars over 5m, volume window 50, four periods to converge
    assert warmup_bars(small_config()) < default


def test_paginated_warmup_then_only_new_closed_bars() -> None:
    candles = make_candles(3000, seed=2)
    with BybitEmulator() as emu:
        emu.feed("BTCUSDT", candles)
        emu.set_bar(2600)
        buffer = CandleBuffer(source(emu), "5m", warmup=2500)
        first = buffer.update(emu.now_ms)
        assert len(first) == 2500 and emu.count("/v5/market/kline") == 3 > 2500 // PAGE_LIMIT
        assert first[-1].open_ms == emu.bar_open_ms(2599)  # the forming bar 2600 is not taken
        assert [c.open_ms for c in first] == [emu.bar_open_ms(i) for i in range(100, 2600)]
        emu.advance(2)
        new = buffer.update(emu.now_ms)
        assert [c.open_ms for c in new] == [emu.bar_open_ms(2600), emu.bar_open_ms(2601)]
        assert new[0].close == pytest.approx(candles["close"].iloc[2600])
        frame = buffer.frame()
        assert isinstance(frame.index, pd.DatetimeIndex) and len(frame) == 2502 and frame.index.name == "open_time"


def test_buffer_is_trimmed_once_it_doubles() -> None:
    with BybitEmulator() as emu:
        emu.feed("BTCUSDT", make_candles(400, seed=2))
        emu.set_bar(50)
        buffer = CandleBuffer(source(emu), "5m", warmup=20)
        buffer.update(emu.now_ms)
        emu.advance(30)
        buffer.update(emu.now_ms)
        assert len(buffer.candles) == 20 and buffer.last_open_ms == emu.bar_open_ms(79)


def test_no_candles_is_a_data_error() -> None:
    with BybitEmulator() as emu:
        emu.feed("ETHUSDT", make_candles(100))
        emu.set_bar(50)
        buffer = CandleBuffer(source(emu), "5m", warmup=20)  # the source trades BTC/USDT:USDT: nothing fed
        with pytest.raises(DataError, match="returned no 5m candles"):
            buffer.update(emu.now_ms)
