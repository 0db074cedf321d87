"""``env.mode: portfolio``: spaces, env checkers, the time rule across symbols with their own gaps, masks, bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from bot.config import BotConfig, load_config
from bot.data.universe import SymbolScalers, build_universe
from bot.env.portfolio_env import PortfolioEnv
from bot.errors import ConfigError
from tests.data.ohlcv_files import FIVE_MIN_MS, START_MS, ohlcv_frame, write_ohlcv

N_BARS = 1200
SMALL = [
    "data.timeframes=[5m, 1h]",
    "features.indicators=[log_return, rsi, atr]",
    "env.mode=portfolio",
    "env.window=8",
    "env.episode_length=32",
    "env.decision_every=1",
    "training.algo=ppo",
    "portfolio.order_type=market",
]


def _gap(frame: pd.DataFrame, start: int, length: int) -> pd.DataFrame:
    return frame.drop(frame.index[start : start + length])


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """AAA and BBB over different periods, each with its own gaps."""
    a = _gap(ohlcv_frame(N_BARS, seed=1), 300, 7)
    b = _gap(ohlcv_frame(N_BARS, seed=2, start_ms=START_MS + 30 * FIVE_MIN_MS), 500, 40)
    return a, b


def _write(frames: tuple[pd.DataFrame, pd.DataFrame], folder: Path) -> tuple[Path, Path]:
    return write_ohlcv(frames[0], folder / "AAA_USDT-5m.csv"), write_ohlcv(frames[1], folder / "BBB_USDT-5m.csv")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _write(_frames(), tmp_path_factory.mktemp("portfolio"))


def _cfg(files: tuple[Path, Path], *overrides: str) -> BotConfig:
    a, b = files
    symbols = f"[{{symbol: AAA/USDT, path: '{a}'}}, {{symbol: BBB/USDT, path: '{b}'}}]"
    return load_config(None, [f"data.symbols={symbols}", *SMALL, *overrides])


@pytest.mark.parametrize("action_type", ["continuous", "discrete"])
def test_gymnasium_and_sb3_env_checkers_pass(files: tuple[Path, Path], action_type: str) -> None:
    cfg = _cfg(files, f"env.action_type={action_type}")
    universe = build_universe(cfg)
    gym_check_env(PortfolioEnv(cfg, universe, seed=0), skip_render_check=True)
    with warnings.catch_warnings():
        # SB3 recommends flat observations for its default policies; the Dict of (N, window, F) is flattened by
        # MultiInputPolicy's CombinedExtractor
        warnings.simplefilter("ignore", UserWarning)
        sb3_check_env(PortfolioEnv(cfg, universe, seed=0))
    env = PortfolioEnv(cfg, universe, seed=0)
    obs, _ = env.reset(seed=0)
    assert obs["market"].shape == (2, 8, len(universe.feature_names))
    assert obs["assets"].shape == (2, 4) and obs["account"].shape == (4,)


def test_decisions_at_the_close_fill_at_the_next_open_of_each_symbol(files: tuple[Path, Path]) -> None:
    cfg = _cfg(
        files,
        "env.action_type=continuous",
        "portfolio.taker_fee=0",
        "portfolio.slippage_bps=0",
        "portfolio.slippage_range_frac=0",
    )
    universe = build_universe(cfg)
    env = PortfolioEnv(cfg, universe, split="all")
    t = int(np.flatnonzero(env.rows.observable.all(axis=1))[10])
    env.reset(options={"start_index": t})
    env.step(np.array([0.5, -0.5], np.float32))
    pm = env.portfolio
    for i, dataset in enumerate(universe.datasets):
        # the fill is the open of the symbol's next bar on the clock (t + 1), and its features at t are the window
        # ending at its row at t
        row_next = universe.row[i, t + 1]
        assert pm.entry[i] == pytest.approx(dataset.market.open[row_next])
    obs, _ = env.reset(options={"start_index": t})
    for i, dataset in enumerate(universe.datasets):
        row = universe.row[i, t]
        np.testing.assert_array_equal(obs["market"][i], dataset.obs_features[row - 7 : row + 1])


def test_a_symbol_in_a_gap_is_masked_and_not_traded(files: tuple[Path, Path]) -> None:
    cfg = _cfg(files, "env.action_type=discrete")
    universe = build_universe(cfg)
    env = PortfolioEnv(cfg, universe, split="all")
    gap = np.flatnonzero(universe.row[1] < 0)
    t = int(gap[0]) - 1  # BBB's last bar before its gap
    env.reset(options={"start_index": t - 20})
    while env.current_row < t:
        env.step(np.array([2, 2]))  # both long (levels -1, 0, 1)
    held = env.portfolio.qty.copy()
    assert held[1] > 0
    # decided at BBB's last bar: short both; BBB has no next bar, so its order waits for its return
    for _ in range(10):
        obs, *_ = env.step(np.array([0, 0]))
        assert obs["assets"][1, 0] == 0.0 and not obs["market"][1].any()
        masks = env.action_masks().reshape(2, 3)
        assert masks[1].tolist() == [True, False, False]  # a blocked symbol keeps its last level
        assert masks[0].all()
        assert env.portfolio.qty[1] == held[1]
        assert env.portfolio.qty[0] < 0  # AAA trades as usual


def test_nan_weights_name_the_symbol(files: tuple[Path, Path]) -> None:
    env = PortfolioEnv(_cfg(files, "env.action_type=continuous"), build_universe(_cfg(files)), seed=0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="weight for BBB/USDT is NaN"):
        env.step(np.array([0.1, np.nan], np.float32))


def test_weights_are_scaled_to_the_gross_cap(files: tuple[Path, Path]) -> None:
    env = PortfolioEnv(_cfg(files, "env.action_type=continuous"), build_universe(_cfg(files)), seed=0)
    np.testing.assert_allclose(env.weights.weights(np.array([1.0, -1.0])), [0.5, -0.5])
    np.testing.assert_allclose(env.weights.weights(np.array([0.3, -0.2])), [0.3, -0.2])


def test_double_dqn_and_sequence_extractors_are_refused(files: tuple[Path, Path]) -> None:
    cfg = _cfg(files, "training.algo=ddqn")
    with pytest.raises(ConfigError, match="training.algo='ddqn' cannot drive env.mode='portfolio'"):
        PortfolioEnv(cfg, build_universe(cfg))
    cfg = _cfg(files, "training.extractor.kind=lstm")
    with pytest.raises(ConfigError, match="training.extractor.kind='lstm' reads one symbol's window"):
        PortfolioEnv(cfg, build_universe(cfg))


def test_observation_at_t_ignores_every_later_bar(files: tuple[Path, Path], tmp_path: Path) -> None:
    # the same clock bar observed on the full files and on files cut just after it (each symbol with its own gaps)
    cfg = _cfg(files, "env.action_type=continuous")
    full = build_universe(cfg)
    t = len(full) - 200
    cut_ms = int(full.clock_ms[t + 1])
    a_frame, b_frame = (f[f.index.as_unit("ms").asi8 < cut_ms] for f in _frames())
    truncated = build_universe(_cfg(_write((a_frame, b_frame), tmp_path)), SymbolScalers.of(full))
    assert truncated.clock_ms[-1] == full.clock_ms[t]
    a = PortfolioEnv(cfg, full, split="all")
    b = PortfolioEnv(cfg, truncated, split="all")
    obs_a, _ = a.reset(options={"start_index": t - 5, "end_index": t + 1})
    obs_b, _ = b.reset(options={"start_index": t - 5, "end_index": t + 1})
    for _ in range(5):
        action = np.array([0.3, -0.4], np.float32)
        obs_a, *_ = a.step(action)
        obs_b, *_ = b.step(action)
        for key in obs_a:
            np.testing.assert_array_equal(obs_a[key], obs_b[key])
    assert a.portfolio.equity == b.portfolio.equity


def test_the_shipped_portfolio_config_builds_its_env_on_btc_and_eth(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(repo)  # its data paths are relative to the repository, as the README runs it
    cfg = load_config(repo / "config" / "portfolio.yaml", ["data.start=2023-01-01", "data.end=2023-01-15"])
    assert cfg.env.mode == "portfolio" and cfg.training.algo == "ppo"
    env = PortfolioEnv(cfg, build_universe(cfg), seed=0)
    obs, _ = env.reset(seed=0)
    assert env.symbols == ("BTC/USDT", "ETH/USDT")
    assert obs["market"].shape == (2, cfg.env.window, len(env.universe.feature_names))
    _, _, _, _, info = env.step(env.action_space.sample())
    assert info["bars"] == cfg.env.decision_every
