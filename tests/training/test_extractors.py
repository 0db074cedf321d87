"""Sequence feature extractors: shapes, the window check, and real runs that checkpoint, resume and evaluate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.vec_env import DummyVecEnv

from bot.cli import main
from bot.config import ExtractorConfig, load_config
from bot.env import make_env
from bot.errors import ConfigError
from bot.training.algorithms import build_model
from bot.training.checkpoints import load_checkpoint
from bot.training.extractors import Cnn1dExtractor, LstmExtractor, TransformerExtractor, extractor_kwargs
from tests.support.market_builder import simple_dataset
from tests.support.training import set_args, tiny_synthetic

KINDS = {"cnn1d": Cnn1dExtractor, "lstm": LstmExtractor, "transformer": TransformerExtractor}
SMALL = ["training.extractor.channels=8", "training.extractor.hidden_size=8", "training.extractor.n_heads=2"]


def _model(algo: str, kind: str, window: int = 8, *extra: str):  # type: ignore[no-untyped-def]
    cfg = load_config(
        None,
        [f"training.algo={algo}", f"env.window={window}", f"training.extractor.kind={kind}",
         "training.extractor.kernel_size=3", "training.ppo.net_arch=[8]", "training.dqn.net_arch=[8]", *SMALL, *extra],
    )
    env = make_env(cfg, "train", seed=0, dataset=simple_dataset(n=400, seed=1))
    return build_model(cfg.training, DummyVecEnv([lambda: env]), seed=0, device="cpu", tensorboard_log=None), env


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("algo", ["ppo", "maskable_ppo", "ddqn"])
def test_each_algorithm_reads_the_window_through_the_extractor(algo: str, kind: str) -> None:
    model, env = _model(algo, kind)
    extractor = model.policy.q_net.features_extractor if algo == "ddqn" else model.policy.features_extractor
    assert isinstance(extractor, KINDS[kind])
    obs, _ = env.reset(seed=0)
    batch = {k: th.as_tensor(np.stack([v, v])) for k, v in obs.items()}
    features = extractor(batch)
    assert features.shape == (2, extractor.features_dim)
    # the portfolio vector passes through unchanged after the sequence features
    assert th.equal(features[:, -obs["portfolio"].shape[0] :], batch["portfolio"])


def test_the_newest_bar_matters_and_the_oldest_is_seen_by_every_kind() -> None:
    for kind in KINDS:
        model, env = _model("ppo", kind)
        obs, _ = env.reset(seed=0)
        base = {k: th.as_tensor(v[None]) for k, v in obs.items()}
        extractor = model.policy.features_extractor
        for row in (0, -1):
            changed = {k: v.clone() for k, v in base.items()}
            changed["market"][0, row, :] += 1.0
            assert not th.allclose(extractor(changed), extractor(base)), (kind, row)


def test_mlp_keeps_sb3s_own_extractor() -> None:
    assert extractor_kwargs(ExtractorConfig(), window=4) == {}


def test_a_window_shorter_than_the_convolutions_is_a_config_error() -> None:
    cfg = ExtractorConfig(kind="cnn1d", kernel_size=5, n_layers=2)
    with pytest.raises(ConfigError, match=r"need a window of at least 9 bars, but env.window=8; raise env.window"):
        extractor_kwargs(cfg, window=8)
    assert extractor_kwargs(cfg, window=9)["features_extractor_class"] is Cnn1dExtractor
    with pytest.raises(ConfigError, match=r"hidden_size=10 must be a multiple of training.extractor.n_heads=4"):
        extractor_kwargs(ExtractorConfig(kind="transformer", hidden_size=10, n_heads=4), window=8)
    with pytest.raises(ValueError, match="training.extractor.kind"):
        load_config(None, ["training.extractor.kind=gru"])


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_training_checkpoints_resumes_and_evaluates(kind: str, tmp_path: Path) -> None:
    overrides = tiny_synthetic(
        tmp_path, "env.window=8", f"training.extractor.kind={kind}", "training.extractor.kernel_size=3", *SMALL,
        "training.total_timesteps=1024", "training.checkpoint_freq=512", "training.eval_freq=512",
    )
    argv = ["train", "--no-progress", "--set", "run_name=seq"]
    assert main([*argv, *set_args(overrides)]) == 0
    run = tmp_path / "seq"
    loaded = load_checkpoint(run, "latest")
    assert isinstance(loaded.model.policy.features_extractor, KINDS[kind])
    assert loaded.manifest["timesteps"] >= 1024
    assert (run / "best" / "model.zip").exists()  # validation ran through the extractor and kept a best model
    # a changed extractor cannot resume the run: the saved model keeps its own
    other = "lstm" if kind != "lstm" else "cnn1d"
    resume = ["train", "--no-progress", "--resume", str(run)]
    assert main([*resume, *set_args([*overrides, f"training.extractor.kind={other}"])]) == 2
    assert main([*resume, *set_args([*overrides, "training.total_timesteps=1536"])]) == 0
    assert load_checkpoint(run, "latest").manifest["timesteps"] >= 1536
    report = tmp_path / "report"
    assert main(["evaluate", "--checkpoint", str(run), "--split", "test", "--out", str(report)]) == 0
    assert (report / "metrics.json").exists()
