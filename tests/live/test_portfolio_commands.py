"""``bot paper`` with a real ``env.mode: portfolio`` checkpoint (a tiny PPO run on the real BTC and ETH 5m candles of
March 2023), paper-traded on the emulator fed the same candles: one process, both symbols, one state file, each
symbol's position the policy's target weight within lot rounding; and every unsupported input refused before
anything is written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from bot.api.paper import read_paper_view
from bot.cli import build_parser, main
from bot.config import load_config
from bot.data import load_ohlcv
from bot.errors import ConfigError
from bot.live import run_tag
from bot.live.basket_commands import paper_command
from bot.live.portfolio_commands import live_symbol, run_portfolio_paper
from bot.live.state_reader import read_paper_state
from tests.support.bybit_emulator import BybitEmulator, serving
from tests.support.bybit_trading import FAST_FEATURES, emulator_sleep
from tests.support.training import only_run

KEYS = {"BYBIT_API_KEY": "testkey", "BYBIT_API_SECRET": "testsecret"}
LIVE = {"BTCUSDT": "BTC/USDT:USDT", "ETHUSDT": "ETH/USDT:USDT"}
#: the emulator's clock: bar 1500 of the slice (a week of 5m bars, inside the validation split) forms
START = 1500


def train_config(data_dir: Path) -> dict[str, Any]:
    """A tiny env.mode portfolio PPO run over the real BTC/USDT and ETH/USDT candles of one week."""
    return {
        "seed": 2,
        "run_name": "pf",
        "data": {
            "source": "file",
            "dir": str(data_dir),
            "pattern": "{base}_{quote}-{timeframe}.csv.gz",
            "symbols": ["BTC/USDT", "ETH/USDT"],
            "base_timeframe": "5m",
            "timeframes": ["5m"],
            "start": "2023-03-01",
            "end": "2023-03-08",
        },
        "features": FAST_FEATURES,
        "env": {"mode": "portfolio", "action_type": "continuous", "window": 8, "episode_length": 32},
        # ETH's own fee (portfolio.assets): its broker trades with it
        "portfolio": {"order_type": "market", "assets": {"ETH/USDT": {"taker_fee": 0.0007}}},
        "dbe": {"atr_window": 50, "trend_window": 10},
        "training": {
            "algo": "ppo",
            "n_workers": 1,
            "n_envs_per_worker": 1,
            "total_timesteps": 64,
            "checkpoint_freq": 0,
            "eval_freq": 0,
            "device": "cpu",
            "torch_threads": 1,
            "vecnormalize": True,
            "ppo": {"n_steps": 32, "batch_size": 32, "n_epochs": 1, "net_arch": [8]},
        },
        "logging": {"console": False},
    }


@pytest.fixture(scope="module")
def candles(shared_data: Path) -> dict[str, pd.DataFrame]:
    folder = shared_data / "binance_spot_2023"
    return {
        name: load_ohlcv(folder / f"{name[:3]}_USDT-5m.csv.gz").loc["2023-03-01":"2023-03-07"]  # type: ignore[misc]
        for name in LIVE
    }


@pytest.fixture(scope="module")
def checkpoint(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("portfolio")
    (folder / "train.yaml").write_text(yaml.safe_dump(train_config(shared_data / "binance_spot_2023")))
    argv = ["train", "--config", str(folder / "train.yaml"), "--checkpoint-dir", str(folder), "--no-progress"]
    assert main(argv) == 0
    return only_run(folder)


@pytest.fixture
def emu(candles: dict[str, pd.DataFrame]) -> Iterator[BybitEmulator]:
    with serving(candles, START) as emu:
        yield emu


def args(checkpoint: Path, url: str, state: Path, *extra: str) -> Any:
    argv = ["paper", "--checkpoint", str(checkpoint), "--exchange-url", url, "--state", str(state)]
    return build_parser().parse_args([*argv, *extra])


def test_bot_paper_trades_the_portfolio_checkpoint_on_both_symbols(
    checkpoint: Path,
    emu: BybitEmulator,
    candles: dict[str, pd.DataFrame],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = tmp_path / "paper" / "portfolio.sqlite"
    parsed = args(
        checkpoint, emu.url, state, "--testnet", "--max-bars", "3", "--symbols", "ETH/USDT:USDT,BTC/USDT:USDT"
    )
    assert run_portfolio_paper(parsed, sleep=emulator_sleep(emu), environ=KEYS) == 0
    out = capsys.readouterr().out
    assert "paper trading the portfolio BTC/USDT:USDT, ETH/USDT:USDT 5m (testnet)" in out
    assert out.count("account equity") == 3
    saved = read_paper_state(state)
    assert saved.symbols == ("BTC/USDT:USDT", "ETH/USDT:USDT") and len(saved.bars) == 6
    for name, symbol in LIVE.items():
        bars = read_paper_state(state, symbol=symbol).bars
        # decided on each symbol's own closes, one bar after the other on one clock
        assert [b.close for b in bars] == pytest.approx(candles[name]["close"].iloc[START - 1 : START + 2].tolist())
        # the newest decision's weight x account equity / close is the position, within a lot
        last = bars[-1]
        lot = {"BTCUSDT": 0.001, "ETHUSDT": 0.01}[name]
        equity = json.loads((state.parent / f"portfolio.sqlite.{name}.account.json").read_text())["equity"]
        expected = last.target_exposure * equity / candles[name]["close"].iloc[START + 1]
        assert emu.account.position(name).size == pytest.approx(expected, abs=lot + abs(expected) * 5e-3)
    tags = {name: run_tag(checkpoint, symbol, "5m") for name, symbol in LIVE.items()}
    assert emu.account.orders and all(o.link_id.startswith(f"{tags[o.symbol]}-") for o in emu.account.orders)
    assert {o.client_id for o in saved.orders} == {o.link_id for o in emu.account.orders}
    # the control API shows the portfolio's state file like a basket's: each symbol's rows
    view = read_paper_view(state, 1e9, 100)
    assert set(view["symbols"]) == set(LIVE.values()) and all(len(v["bars"]) == 3 for v in view["symbols"].values())
    assert (checkpoint / "vecnormalize.pkl").is_file()  # the policy normalised its observations as in training


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (("--symbols", "BTC/USDT:USDT,SOL/USDT:USDT"), "missing ETH/USDT:USDT; not in the checkpoint SOL/USDT:USDT"),
        (("--symbols", "BTC/USDT:USDT"), "missing ETH/USDT:USDT"),
        (("--symbol", "BTC/USDT:USDT"), "--symbol 'BTC/USDT:USDT' trades one symbol"),
        (("--set", "training.algo=recurrent_ppo"), "does not carry a recurrent policy's state"),
    ],
)
def test_unsupported_inputs_are_refused_before_anything_is_written(
    checkpoint: Path, tmp_path: Path, extra: tuple[str, ...], named: str
) -> None:
    state = tmp_path / "paper" / "p.sqlite"
    with pytest.raises(ConfigError, match=named.replace("(", r"\(")):
        paper_command(args(checkpoint, "http://127.0.0.1:9", state, *extra))
    assert not state.parent.exists()


def test_the_live_market_of_a_training_symbol_follows_the_model_market() -> None:
    perpetual, spot = load_config(None, []), load_config(None, ["portfolio.market=spot"])
    assert live_symbol("BTC/USDT", perpetual) == "BTC/USDT:USDT"
    assert live_symbol("ETH/USDT:USDT", perpetual) == "ETH/USDT:USDT"
    assert live_symbol("BTC/USDT", spot) == "BTC/USDT"


def test_a_dry_run_fills_in_one_simulated_account_without_keys(
    checkpoint: Path, emu: BybitEmulator, candles: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    state = tmp_path / "dry" / "portfolio.sqlite"
    parsed = args(checkpoint, emu.url, state, "--dry-run", "--max-bars", "3")
    assert run_portfolio_paper(parsed, sleep=emulator_sleep(emu), environ={}) == 0
    assert emu.count("/v5/order/create") == 0  # nothing reaches the exchange
    for name, symbol in LIVE.items():
        saved = read_paper_state(state, symbol=symbol)
        bars = sorted(saved.bars, key=lambda b: b.open_ms)
        fills = sorted(saved.fills, key=lambda f: f.bar_open_ms)
        # the first decision filled inside the next bar, at its open (with slippage against the trader)
        assert len(bars) == 3 and fills, symbol
        first = fills[0]
        open_ = candles[name]["open"].iloc[START]
        assert first.price == pytest.approx(open_, rel=2e-3) and first.bar_open_ms == bars[1].open_ms
        assert first.side == ("buy" if bars[0].target_exposure > 0 else "sell")
