"""Helpers for training tests: tiny real-data overrides, TensorBoard tag reading, parameter comparison."""

from __future__ import annotations

from pathlib import Path

import torch as th
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

REPO_ROOT = Path(__file__).resolve().parents[2]


def real_data_overrides(btc_5m_path: Path, checkpoint_dir: Path, algo: str = "ppo") -> list[str]:
    """``--set`` strings for a few-thousand-step run on three weeks of real BTC/USDT 5m candles (5m + 1h features)."""
    return [
        "data.source=file",
        f"data.path={btc_5m_path}",
        "data.symbol=BTC/USDT",
        "data.start=2023-03-01",
        "data.end=2023-03-22",
        "data.timeframes=[5m, 1h]",
        "features.indicators=[log_return, rsi, macd, atr, ema_slope, volume_zscore]",
        "env.window=8",
        "env.episode_length=64",
        f"training.algo={algo}",
        f"training.checkpoint_dir={checkpoint_dir}",
        "training.n_workers=2",
        "training.n_envs_per_worker=2",
        "training.total_timesteps=1024",
        "training.checkpoint_freq=512",
        "training.eval_freq=512",
        "training.keep_checkpoints=3",
        "training.ppo.n_steps=64",
        "training.ppo.batch_size=64",
        "training.ppo.n_epochs=2",
        "training.ppo.net_arch=[32, 32]",
        "training.dqn.learning_starts=128",
        "training.dqn.buffer_size=4000",
        "training.dqn.batch_size=32",
        "training.dqn.target_update_interval=256",
        "training.dqn.net_arch=[32, 32]",
        "logging.console=false",
        "training.torch_threads=1",  # torch's OpenMP threads spin: on a busy 2-core box more threads are slower
    ]


def tiny_synthetic(checkpoint_dir: Path, *extra: str) -> list[str]:
    """``--set`` strings for a run of a few hundred steps on a small synthetic market (one worker, two envs,
    a 16-unit PPO, no validation, no checkpoints); ``extra`` overrides come last and win."""
    return [
        "data.synthetic.n_bars=2000",
        "data.timeframes=[5m]",
        "features.indicators=[log_return, rsi]",
        "env.window=4",
        "env.episode_length=64",
        f"training.checkpoint_dir={checkpoint_dir}",
        "training.n_workers=1",
        "training.n_envs_per_worker=2",
        "training.total_timesteps=128",
        "training.checkpoint_freq=0",
        "training.eval_freq=0",
        "training.ppo.n_steps=32",
        "training.ppo.batch_size=32",
        "training.ppo.n_epochs=1",
        "training.ppo.net_arch=[16]",
        "training.torch_threads=1",
        "logging.console=false",
        *extra,
    ]


def set_args(overrides: list[str]) -> list[str]:
    """``["--set", o1, "--set", o2, ...]``."""
    return [arg for o in overrides for arg in ("--set", o)]


def scalar_tags(tb_dir: Path) -> set[str]:
    """Every scalar tag in the TensorBoard event files of ``tb_dir``."""
    acc = EventAccumulator(str(tb_dir))
    acc.Reload()
    return set(acc.Tags()["scalars"])


def hparam_tags(tb_dir: Path) -> set[str]:
    """The HParams plugin tags (SB3's ``HParam`` writes ``_hparams_/session_start_info`` among others)."""
    acc = EventAccumulator(str(tb_dir))
    acc.Reload()
    return set(acc.PluginTagToContent("hparams"))


def state_dicts_equal(a: th.nn.Module, b: th.nn.Module) -> bool:
    """Whether two modules hold exactly the same parameters and buffers."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(th.equal(sa[k], sb[k]) for k in sa)


def only_run(checkpoint_dir: Path) -> Path:
    """The single run folder under ``checkpoint_dir``."""
    runs = [p for p in checkpoint_dir.iterdir() if (p / "manifest.json").is_file()]
    assert len(runs) == 1, runs
    return runs[0]
