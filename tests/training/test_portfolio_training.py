"""env.mode portfolio end to end on the real BTC and ETH 2023 candles: ``bot train`` with 2 worker processes, each env
holding both symbols in one account (a DBE per symbol, the account drawdown mode, ETH at its own costs); validation
scores the basket; ``bot evaluate`` runs the policy and the baselines on the test split with attribution summing to
each PnL and reports the policy's DBE modes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import load_config
from bot.data import build_universe
from bot.env import PortfolioEnv
from bot.training.trainer import env_factory
from tests.support.training import only_run, real_data_overrides, set_args, tiny_synthetic


def _overrides(shared_data: Path, checkpoint_dir: Path) -> list[str]:
    single = real_data_overrides(shared_data / "binance_spot_2023" / "BTC_USDT-5m.csv.gz", checkpoint_dir)
    kept = [o for o in single if not o.startswith(("data.source", "data.path", "data.symbol", "env.episode_length"))]
    return [
        *kept,
        "env.mode=portfolio",
        "env.action_type=continuous",
        "env.decision_every=4",
        "env.episode_length=32",
        "portfolio.order_type=market",
        "data.source=file",
        "data.symbol=null",
        f"data.dir={shared_data / 'binance_spot_2023'}",
        "data.symbols=[BTC/USDT, ETH/USDT]",
        # a DBE per asset with the account mode, and ETH at its own costs
        "dbe.enabled=true",
        "dbe.atr_window=100",
        "portfolio.assets={ETH/USDT: {taker_fee: 0.0008, lot_step: 0.001}}",
    ]


def test_portfolio_training_with_two_workers_then_test_split_attribution(shared_data: Path, tmp_path: Path) -> None:
    assert main(["train", "--no-progress", *set_args(_overrides(shared_data, tmp_path / "ck"))]) == 0
    run = only_run(tmp_path / "ck")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["timesteps"] >= 1024
    assert manifest["observation_shapes"]["market"][0] == 2  # [N symbols, window, features]
    assert math.isfinite(manifest["validation"]["sharpe"]) and manifest["validation"]["steps"] > 0
    cfg = load_config(run / "config.yaml")
    universe = build_universe(cfg)
    # every worker's envs hold the whole basket
    envs = env_factory(cfg, universe)(1, 2)
    assert all(isinstance(e, PortfolioEnv) and e.n_assets == 2 and e.dbe is not None for e in envs)
    assert envs[0].portfolio.rules.taker_fee.tolist() == [cfg.portfolio.taker_fee, 0.0008]
    out_dir = tmp_path / "eval"
    assert (
        main(["evaluate", "--checkpoint", str(run), "--which", "best", "--split", "test", "--out", str(out_dir)]) == 0
    )
    report = json.loads((out_dir / "portfolio.json").read_text())
    names = [r["name"] for r in report["runs"]]
    assert names[0] == "policy" and "buy_and_hold:ETH/USDT" in names and "inverse_volatility_daily" in names
    for row in report["runs"]:
        assert sum(row["attribution"].values()) == pytest.approx(row["pnl"], rel=1e-9, abs=1e-6)
    assert "PnL BTC/USDT" in (out_dir / "portfolio.md").read_text()
    # the policy's DBE state: account mode shares and each symbol's DBE mode shares
    dbe = report["dbe"]
    assert sum(dbe["account_mode_share"].values()) == pytest.approx(1.0)
    assert sorted(dbe["assets"]) == ["BTC/USDT", "ETH/USDT"]
    assert sum(dbe["assets"]["ETH/USDT"]["mode_share"].values()) == pytest.approx(1.0)
    assert "Policy DBE: account mode normal" in (out_dir / "portfolio.md").read_text()


def test_maskable_ppo_trains_on_a_synthetic_basket_and_ddqn_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    basket = [
        "data.synthetic.assets=3",
        "env.mode=portfolio",
        "env.action_type=discrete",
        "env.decision_every=1",
        "training.eval_freq=128",
    ]
    overrides = tiny_synthetic(tmp_path / "ck", *basket, "training.algo=maskable_ppo")
    assert main(["train", "--no-progress", *set_args(overrides)]) == 0
    manifest = json.loads((only_run(tmp_path / "ck") / "manifest.json").read_text())
    assert manifest["algorithm"] == "maskable_ppo" and "MultiDiscrete" in manifest["action_space"]
    assert math.isfinite(manifest["validation"]["sharpe"])
    capsys.readouterr()
    refused = tiny_synthetic(tmp_path / "ck2", *basket, "training.algo=ddqn")
    assert main(["train", "--no-progress", *set_args(refused)]) == 2
    assert "training.algo='ddqn' cannot drive env.mode='portfolio'" in capsys.readouterr().err
