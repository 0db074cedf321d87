"""``bot paper --symbols``: a checkpoint of a short real ``env.mode: universe`` run on two symbols' candles,
paper-traded on the emulator for both at once; and every bad input refused before the state file exists."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from bot.cli import build_parser
from bot.errors import BrokerError, ConfigError
from bot.live import run_tag
from bot.live.basket_commands import parse_symbols, run_basket_paper
from bot.live.state_reader import read_paper_state
from tests.support.bybit_candles import make_candles
from tests.support.bybit_emulator import BybitEmulator, serving
from tests.support.bybit_market import default_instruments
from tests.support.bybit_trading import FAST_FEATURES, emulator_sleep

REPO = Path(__file__).resolve().parents[2]
KEYS = {"BYBIT_API_KEY": "testkey", "BYBIT_API_SECRET": "testsecret"}
BASKET = "BTC/USDT:USDT,ETH/USDT:USDT"


def train_config(folder: Path) -> dict[str, Any]:
    """A tiny env.mode universe run over the symbols' CSV files in ``folder``."""
    return {
        "seed": 1,
        "run_name": "uni",
        "data": {"source": "file", "dir": str(folder), "pattern": "{base}_{quote}-{timeframe}.csv",
                 "symbols": ["BTC/USDT", "ETH/USDT"], "base_timeframe": "5m", "timeframes": ["5m"]},
        "features": FAST_FEATURES,
        "env": {"mode": "universe", "window": 8, "episode_length": 64},
        "dbe": {"atr_window": 50, "trend_window": 10},
        "training": {"algo": "ppo", "n_workers": 1, "n_envs_per_worker": 1, "total_timesteps": 128,
                     "checkpoint_freq": 0, "eval_freq": 0, "device": "cpu",
                     "ppo": {"n_steps": 64, "batch_size": 64, "n_epochs": 1, "net_arch": [8]}},
        "logging": {"console": False},
    }


def _markets() -> dict[str, pd.DataFrame]:
    eth = make_candles(2000, seed=11)
    eth[["open", "high", "low", "close"]] *= 0.06
    return {"BTCUSDT": make_candles(2000, seed=3), "ETHUSDT": eth}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real checkpoint of `bot train` with env.mode universe on BTC/USDT and ETH/USDT (every symbol's scaler)."""
    folder = tmp_path_factory.mktemp("universe")
    for name, frame in _markets().items():
        out = frame.reset_index()
        out.insert(0, "timestamp", out["open_time"].astype("int64") // 1_000_000)
        out = out.rename(columns={"open_time": "date"})
        out.to_csv(folder / f"{name[:3]}_USDT-5m.csv", index=False)
    (folder / "train.yaml").write_text(yaml.safe_dump(train_config(folder)))
    command = [sys.executable, "-m", "bot", "train", "--config", str(folder / "train.yaml")]
    subprocess.run([*command, "--checkpoint-dir", str(folder), "--no-progress"], cwd=REPO, check=True, timeout=240)
    return folder / "uni"


@pytest.fixture
def emu() -> Iterator[BybitEmulator]:
    with serving(_markets(), 1500) as emu:
        yield emu


def paper_args(checkpoint: Path, url: str, state: Path, symbols: str, *extra: str) -> list[str]:
    return ["paper", "--checkpoint", str(checkpoint), "--symbols", symbols, "--exchange-url", url, "--state",
            str(state), "--testnet", *extra]


def run(checkpoint: Path, emu: BybitEmulator, state: Path, symbols: str = BASKET, *extra: str) -> int:
    args = build_parser().parse_args(paper_args(checkpoint, emu.url, state, symbols, *extra))
    return run_basket_paper(args, sleep=emulator_sleep(emu), environ=KEYS)


def test_paper_trades_every_symbol_of_a_universe_checkpoint(
    checkpoint: Path, emu: BybitEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    state = tmp_path / "paper" / "basket.sqlite"
    assert run(checkpoint, emu, state, BASKET, "--max-bars", "3") == 0
    out = capsys.readouterr().out
    assert "paper trading BTC/USDT:USDT, ETH/USDT:USDT 5m (testnet)" in out
    assert out.count(" BTC/USDT:USDT close ") == out.count(" ETH/USDT:USDT close ") == 3
    saved = read_paper_state(state)
    assert saved.symbols == ("BTC/USDT:USDT", "ETH/USDT:USDT") and len(saved.bars) == 6
    # each symbol decided on its own candles (the untrained policy may hold one of them flat) ...
    markets = _markets()
    for symbol in ("BTC", "ETH"):
        closes = [b.close for b in read_paper_state(state, symbol=f"{symbol}/USDT:USDT").bars]
        assert closes == pytest.approx(markets[f"{symbol}USDT"]["close"].iloc[1499:1502].tolist())
    # ... and every order on the exchange carries its own symbol's run tag
    tags = {f"{s}USDT": run_tag(checkpoint, f"{s}/USDT:USDT", "5m") for s in ("BTC", "ETH")}
    assert emu.account.orders and all(o.link_id.startswith(f"{tags[o.symbol]}-") for o in emu.account.orders)
    assert {o.client_id for o in saved.orders} == {o.link_id for o in emu.account.orders}


@pytest.mark.parametrize(
    ("symbols", "error", "named"),
    [
        ("BTC/USDT:USDT,ETH/USDT:USDT,BTC/USDT:USDT", ConfigError, "'BTC/USDT:USDT' twice"),
        ("BTC/USDT:USDT,SOL/USDT:USDT", ConfigError, "no scaler for symbol 'SOL/USDT:USDT'"),
        ("BTC/USDT:USDT,ETH/USDT", ConfigError, "'ETH/USDT' is a spot market"),
        (" , ", ConfigError, "lists no symbol"),
    ],
)
def test_bad_symbols_are_named_and_nothing_is_written(
    checkpoint: Path, tmp_path: Path, symbols: str, error: type[Exception], named: str
) -> None:
    state = tmp_path / "paper" / "basket.sqlite"
    args = build_parser().parse_args(paper_args(checkpoint, "http://127.0.0.1:9", state, symbols))
    with pytest.raises(error, match=named):
        run_basket_paper(args, environ=KEYS)
    assert not state.parent.exists()


def test_a_market_the_exchange_does_not_list_is_named_before_anything_is_written(
    checkpoint: Path, tmp_path: Path
) -> None:
    only_btc = {category: {"BTCUSDT": listed["BTCUSDT"]} for category, listed in default_instruments().items()}
    state = tmp_path / "paper" / "basket.sqlite"
    with BybitEmulator(instruments=only_btc) as emu:
        emu.feed("BTCUSDT", _markets()["BTCUSDT"])
        emu.set_bar(1500)
        with pytest.raises(BrokerError, match="--symbols 'ETH/USDT:USDT'.*not listed"):
            run(checkpoint, emu, state)
        assert emu.count("/v5/order/create") == 0
    assert not state.parent.exists()


def test_symbol_with_symbols_and_a_portfolio_checkpoint_are_refused(checkpoint: Path, tmp_path: Path) -> None:
    state = tmp_path / "paper" / "s.sqlite"
    argv = paper_args(checkpoint, "http://127.0.0.1:9", state, BASKET, "--symbol", "BTC/USDT:USDT")
    with pytest.raises(ConfigError, match="either --symbol or --symbols"):
        run_basket_paper(build_parser().parse_args(argv), environ=KEYS)
    portfolio = tmp_path / "portfolio_run"
    shutil.copytree(checkpoint, portfolio)
    config = portfolio / "config.yaml"
    config.write_text(config.read_text().replace("mode: universe", "mode: portfolio"))
    with pytest.raises(ConfigError, match="env.mode portfolio"):
        run_basket_paper(build_parser().parse_args(paper_args(portfolio, "http://127.0.0.1:9", state, BASKET)))
    assert not state.parent.exists()
    assert parse_symbols(" BTC/USDT:USDT , ETH/USDT:USDT ") == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
