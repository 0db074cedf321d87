"""End to end: a checkpoint from a short real `bot train` run, paper-traded through `bot paper` on the emulator."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from bot.cli import build_parser, main
from bot.config import load_config
from bot.data import generate_synthetic
from bot.errors import ConfigError
from bot.live.commands import resolve_config, run_paper
from tests.support.bybit_emulator import BybitEmulator
from tests.support.bybit_trading import emulator_sleep

REPO = Path(__file__).resolve().parents[2]
KEYS = {"BYBIT_API_KEY": "testkey", "BYBIT_API_SECRET": "testsecret"}
TRAIN_CONFIG = """
seed: 1
run_name: tiny
data:
  source: synthetic
  symbol: BTC/USDT
  base_timeframe: 5m
  timeframes: [5m, 1h]
  synthetic: {n_bars: 2000, seed: 5}
features:
  indicators: [log_return, rsi, atr, ema_slope]
  rsi_period: 7
  atr_period: 7
  ema_period: 10
  adx_period: 7
  volume_window: 10
  macd_fast: 5
  macd_slow: 10
  macd_signal: 3
  bbands_period: 10
env: {window: 8, episode_length: 64}
dbe: {atr_window: 50, trend_window: 10}
training:
  algo: ppo
  n_workers: 1
  n_envs_per_worker: 1
  total_timesteps: 256
  checkpoint_freq: 0
  eval_freq: 0
  device: cpu
  ppo: {n_steps: 64, batch_size: 64, n_epochs: 1, net_arch: [16]}
logging: {console: false}
"""


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real checkpoint from `python -m bot train` (256 PPO steps on synthetic candles, 5m + 1h features)."""
    folder = tmp_path_factory.mktemp("train")
    (folder / "train.yaml").write_text(TRAIN_CONFIG)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "train",
            "--config",
            str(folder / "train.yaml"),
            "--checkpoint-dir",
            str(folder),
            "--no-progress",
        ],
        cwd=REPO,
        check=True,
        timeout=240,
        capture_output=True,
    )
    return folder / "tiny"


@pytest.fixture
def market(checkpoint: Path) -> pd.DataFrame:
    cfg = load_config(checkpoint / "config.yaml")
    return generate_synthetic(cfg.data.synthetic, cfg.data.base_timeframe)


def paper_args(checkpoint: Path, emu: BybitEmulator, state: Path, *extra: str) -> list[str]:
    return [
        "paper",
        "--checkpoint",
        str(checkpoint),
        "--symbol",
        "BTC/USDT:USDT",
        "--timeframe",
        "5m",
        "--exchange-url",
        emu.url,
        "--state",
        str(state),
        *extra,
    ]


def test_paper_trades_a_trained_checkpoint_on_the_testnet_emulator(
    checkpoint: Path,
    market: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    state = tmp_path / "paper" / "state.sqlite"
    with BybitEmulator() as emu:
        emu.feed("BTCUSDT", market)
        emu.set_bar(1500)
        args = build_parser().parse_args(paper_args(checkpoint, emu, state, "--testnet", "--max-bars", "6"))
        assert run_paper(args, sleep=emulator_sleep(emu), environ=KEYS) == 0
        creates = emu.count("/v5/order/create")
        exchange_links = sorted(o.link_id for o in emu.account.orders if o.link_id)
    out = capsys.readouterr().out
    assert out.count("BTC/USDT:USDT close") == 6 and "bars 6 (traded" in out
    import sqlite3

    with sqlite3.connect(state) as conn:
        links = sorted(r[0] for r in conn.execute("SELECT client_id FROM orders WHERE status != 'rejected'"))
        assert conn.execute("SELECT COUNT(*) FROM bars").fetchone()[0] == 6
    assert links == exchange_links and len(links) == creates
    for path in (state, state.with_name("state.sqlite.account.json"), state.parent / "paper.log"):
        data = path.read_bytes()
        assert b"testsecret" not in data and b"testkey" not in data, path


def test_dry_run_needs_no_key_and_sends_no_order(
    checkpoint: Path,
    market: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    with BybitEmulator() as emu:
        emu.feed("BTCUSDT", market)
        emu.set_bar(1500)
        args = build_parser().parse_args(
            paper_args(checkpoint, emu, tmp_path / "d.sqlite", "--dry-run", "--max-bars", "3")
        )
        assert run_paper(args, sleep=emulator_sleep(emu), environ={}) == 0
        assert emu.count("/v5/order/create") == 0 and emu.count("/v5/account/wallet-balance") == 0
    assert "(dry run)" in capsys.readouterr().out


def test_bad_keys_stop_with_a_clear_authentication_error(
    checkpoint: Path,
    market: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BYBIT_API_KEY", "not-a-key")
    monkeypatch.setenv("BYBIT_API_SECRET", "wrong-secret")
    with BybitEmulator() as emu:
        emu.feed("BTCUSDT", market)
        emu.set_bar(1500)
        code = main(paper_args(checkpoint, emu, tmp_path / "s.sqlite", "--max-bars", "1"))
        assert emu.count("/v5/order/create") == 0
    err = capsys.readouterr().err
    assert code == 2 and "AuthenticationError" in err and "BYBIT_API_KEY" in err
    assert "wrong-secret" not in err and "wrong-secret" not in (tmp_path / "paper.log").read_text()


def test_missing_keys_name_the_variables_and_the_env_file(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BYBIT_API_KEY", raising=False)
    monkeypatch.delenv("BYBIT_API_SECRET", raising=False)
    code = main(
        [
            "paper",
            "--checkpoint",
            str(checkpoint),
            "--symbol",
            "BTC/USDT:USDT",
            "--exchange-url",
            "http://127.0.0.1:9",
            "--state",
            str(tmp_path / "s.sqlite"),
            "--max-bars",
            "1",
        ]
    )
    assert code == 2 and "BYBIT_API_KEY and BYBIT_API_SECRET not set" in capsys.readouterr().err


def test_a_broken_best_checkpoint_is_an_error_not_a_silent_fallback(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    shutil.copytree(checkpoint, run)
    (run / "best" / "model.zip").unlink()  # a best/ checkpoint that was not written completely
    code = main(["paper", "--checkpoint", str(run), "--dry-run", "--max-bars", "1", "--state", str(tmp_path / "s")])
    assert code == 2 and "CheckpointError" in capsys.readouterr().err


def test_flags_are_checked_against_the_model(checkpoint: Path) -> None:
    parse = build_parser().parse_args
    with pytest.raises(ConfigError, match="differs from the model's data.base_timeframe='5m'"):
        resolve_config(parse(["paper", "--checkpoint", str(checkpoint), "--timeframe", "1h"]), checkpoint)
    with pytest.raises(ConfigError, match="--symbol BTC/USDT:USDT"):
        resolve_config(parse(["paper", "--checkpoint", str(checkpoint), "--symbol", "BTC/USDT"]), checkpoint)
    cfg = resolve_config(parse(["paper", "--checkpoint", str(checkpoint), "--state", "x.sqlite"]), checkpoint)
    assert cfg.live.state_path == "x.sqlite" and cfg.env.window == 8


def test_a_wrong_secret_never_reaches_the_terminal_or_the_log(
    checkpoint: Path, market: pd.DataFrame, tmp_path: Path
) -> None:
    key, secret = "Kx7-paper-key-value", "Sx9-paper-secret-value"
    state = tmp_path / "run" / "s.sqlite"
    with BybitEmulator(api_key=key, api_secret=secret) as emu:
        emu.feed("BTCUSDT", market)
        emu.set_bar(1500)
        env = {**os.environ, "BYBIT_API_KEY": key, "BYBIT_API_SECRET": "wrong-" + secret}
        child = subprocess.run(
            [sys.executable, "-m", "bot", *paper_args(checkpoint, emu, state, "--max-bars", "1")],
            cwd=tmp_path,
            env=env,
            timeout=120,
            capture_output=True,
            text=True,
        )
    # Bybit's 10004 echoes the signed string with the key in it (origin_string[...]); ccxt quotes it verbatim
    assert child.returncode == 2 and "AuthenticationError" in child.stderr and "10004" in child.stderr, child.stderr
    log = (state.parent / "paper.log").read_text()
    for text in (child.stderr, child.stdout, log):
        assert key not in text and secret not in text
    assert "bars 0 (traded 0, skipped 0)" in child.stdout  # the summary is printed on error exits too


def test_an_unreachable_exchange_fails_fast_with_the_cause(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    began = time.monotonic()
    args = ["paper", "--checkpoint", str(checkpoint), "--exchange-url", url, "--state", str(tmp_path / "s.sqlite")]
    assert main([*args, "--dry-run", "--max-bars", "1"]) == 2
    assert time.monotonic() - began < 30  # was 63-105 s of retries
    err = capsys.readouterr().err
    assert f"cannot reach the exchange at {url}" in err and "Connection refused" in err


@pytest.mark.parametrize(
    ("algo", "extra"),
    [("rf", ["training.supervised.n_estimators=5"]), ("recurrent_ppo", ["training.recurrent.lstm_hidden_size=8"])],
)
def test_dry_run_trades_a_supervised_and_a_recurrent_checkpoint(
    algo: str, extra: list[str], market: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "train.yaml").write_text(TRAIN_CONFIG)
    overrides = [f"training.algo={algo}", "env.decision_every=2", *extra]
    argv = ["train", "--config", str(tmp_path / "train.yaml"), "--checkpoint-dir", str(tmp_path), "--no-progress"]
    assert main([*argv, *(a for o in overrides for a in ("--set", o))]) == 0
    monkeypatch.chdir(tmp_path)
    state = tmp_path / "paper" / "d.sqlite"
    with BybitEmulator() as emu:
        emu.feed("BTCUSDT", market)
        emu.set_bar(1500)
        args = build_parser().parse_args(paper_args(tmp_path / "tiny", emu, state, "--dry-run", "--max-bars", "4"))
        assert run_paper(args, sleep=emulator_sleep(emu), environ={}) == 0
    import sqlite3

    with sqlite3.connect(state) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM bars WHERE action != ''")]
    assert len(actions) == 2  # a decision every 2 bars
    log = (state.parent / "paper.log").read_text()
    # window 8 / decision_every 2: the recurrent policy is stepped over 4 past decisions before its first one
    assert ("Re-warmed the recurrent policy's state over 4 past decisions" in log) == (algo == "recurrent_ppo")
