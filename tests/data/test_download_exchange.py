"""Tests of the downloader's exchange calls: timeframe check and page size."""

from __future__ import annotations

import pytest

from bot.data.download_exchange import check_timeframe, page_limit
from bot.errors import ConfigError
from bot.exchange import make_exchange


def test_check_timeframe() -> None:
    ex = make_exchange("bybit")
    assert check_timeframe(ex, "1h") == 3_600_000
    with pytest.raises(ConfigError, match=r"--timeframe='1w' is not supported for bybit; use one of 1m, 5m.*, 1d$"):
        check_timeframe(ex, "1w")  # bybit has it, the bot does not


def test_page_limit_follows_ccxt_features() -> None:
    bybit = make_exchange("bybit")
    assert page_limit(bybit, {"type": "spot"}) == 1_000
    assert page_limit(bybit, {"type": "swap", "linear": True}) == 1_000
    assert page_limit(make_exchange("kraken"), {"type": "spot"}) == 720
    assert page_limit(make_exchange("gemini"), {"type": "spot"}) == 500  # no published limit: the fallback
