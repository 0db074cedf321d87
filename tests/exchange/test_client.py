"""The one ccxt client factory: exchange id check, sandbox, URL override, credentials, timeout, market loading."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from bot.errors import BrokerError, ConfigError
from bot.exchange import listed_symbols, load_market, make_exchange, market_category, probe
from tests.support import bybit_faults as faults
from tests.support.bybit_candles import make_candles
from tests.support.bybit_emulator import BybitEmulator


@pytest.fixture
def emu() -> Iterator[BybitEmulator]:
    with BybitEmulator() as emulator:
        emulator.feed("BTCUSDT", make_candles())
        emulator.set_bar(300)
        yield emulator


def test_unknown_exchange_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"--exchange='bybitt' is not a ccxt exchange id.*close matches: .*bybit"):
        make_exchange("bybitt")


def test_exchange_url_overrides_every_url_live_and_sandbox() -> None:
    ex = make_exchange("bybit", testnet=True, exchange_url="http://127.0.0.1:9/")
    assert set(ex.urls["api"].values()) == {"http://127.0.0.1:9"}
    assert set(ex.urls["test"].values()) == {"http://127.0.0.1:9"}
    assert ex.isSandboxModeEnabled


def test_testnet_switches_to_the_sandbox() -> None:
    ex = make_exchange("bybit", testnet=True)
    assert ex.urls["api"]["public"].startswith("https://api-testnet.")


def test_testnet_without_sandbox_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="--testnet: kraken has no sandbox in ccxt; drop --testnet"):
        make_exchange("kraken", testnet=True)


def test_credentials_timeout_and_rate_limiter() -> None:
    keyed = make_exchange("bybit", api_key="k", api_secret="s", timeout_ms=2_000)
    assert (keyed.apiKey, keyed.secret, keyed.timeout, keyed.enableRateLimit) == ("k", "s", 2_000, True)
    public = make_exchange("bybit", api_key="k")  # a key without its secret signs nothing: public client
    assert not public.apiKey and not public.secret and public.timeout == 10_000


def test_bybit_unified_account_options() -> None:
    ex = make_exchange("bybit")
    assert ex.options["enableUnifiedAccount"] is True and ex.options["enableUnifiedMargin"] is False
    assert ex.has["fetchCurrencies"] is False
    assert "enableUnifiedAccount" not in make_exchange("binance").options


@pytest.mark.parametrize(
    ("symbol", "default_type", "category"),
    [("BTC/USDT", "spot", "spot"), ("BTC/USDT:USDT", "swap", "linear"), ("BTC/USD:BTC", "swap", "inverse")],
)
def test_symbol_sets_the_market_type_and_the_one_category_loaded(symbol: str, default_type: str, category: str) -> None:
    ex = make_exchange("bybit", symbol=symbol)
    assert market_category(symbol) == category
    assert ex.options["defaultType"] == default_type
    assert ex.options["fetchMarkets"]["types"] == [category]


def test_load_market_loads_only_the_symbols_category(emu: BybitEmulator) -> None:
    ex = make_exchange("bybit", exchange_url=emu.url)
    market = load_market(ex, "BTC/USDT:USDT")
    assert market is not None and market["linear"] and market["id"] == "BTCUSDT"
    categories = [r.query.get("category") for r in emu.requests if r.path == "/v5/market/instruments-info"]
    assert set(categories) == {"linear"}
    assert load_market(ex, "DOGE/USDT:USDT") is None
    assert listed_symbols(ex, "BTC/") == ["BTC/USDT:USDT"]


def test_probe_passes_an_exchange_that_answers_even_5xx(emu: BybitEmulator) -> None:
    ex = make_exchange("bybit", exchange_url=emu.url)
    probe(ex)
    emu.inject("/v5/market/time", faults.http_error(503))
    probe(ex)


def test_probe_names_the_url_and_cause_of_an_unreachable_exchange() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    ex = make_exchange("bybit", exchange_url=url, api_key="K3y", api_secret="S3cret", timeout_ms=2_000)
    with pytest.raises(BrokerError, match=rf"cannot reach the exchange at {url} \(.*refused.*live.exchange_url"):
        probe(ex, ("K3y", "S3cret"))
