"""Fixtures of the evaluation tests: a tiny PPO checkpoint trained once per session on synthetic data."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from tests.support.training import REPO_ROOT, set_args

#: A few-hundred-step PPO run on the embedded synthetic market (planted signal), with VecNormalize on.
TINY_TRAIN = [
    "data.synthetic.n_bars=3000",
    "env.window=8",
    "env.episode_length=128",
    "training.n_workers=1",
    "training.n_envs_per_worker=2",
    "training.total_timesteps=512",
    "training.checkpoint_freq=256",
    "training.eval_freq=256",
    "training.vecnormalize=true",
    "training.ppo.n_steps=64",
    "training.ppo.batch_size=64",
    "training.ppo.n_epochs=1",
    "training.ppo.net_arch=[32, 32]",
    "evaluation.n_random_runs=5",
    "logging.console=false",
]


def train_tiny(checkpoint_dir: Path, run_name: str, extra: list[str] | None = None) -> Path:
    """Train a tiny run with ``bot train`` in-process and return its run folder."""
    overrides = [*TINY_TRAIN, f"training.checkpoint_dir={checkpoint_dir}", f"run_name={run_name}", *(extra or [])]
    args = ["train", "--config", str(REPO_ROOT / "config" / "demo.yaml"), *set_args(overrides), "--no-progress"]
    assert main(args) == 0
    return checkpoint_dir / run_name


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run folder of a tiny PPO checkpoint (VecNormalize on) trained on synthetic 5m data."""
    return train_tiny(tmp_path_factory.mktemp("checkpoints"), "tiny")
