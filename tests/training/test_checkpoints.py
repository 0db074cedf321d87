"""Checkpoint folders: layout, manifest, pruning, atomic writes, load_checkpoint and its errors."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from bot.config import BotConfig
from bot.data.scaler import FeatureScaler
from bot.errors import CheckpointError, SchemaMismatchError
from bot.training import integrity
from bot.training.checkpoints import (
    CheckpointWriter,
    find_latest_run,
    load_checkpoint,
    step_folders,
)
from bot.training.integrity import newest_complete, recover_run
from bot.training.manifest import RunInfo
from tests.support.toy_env import ToyTradingEnv

NAMES = ("5m.a", "5m.b", "5m.c", "5m.d")


@pytest.fixture(scope="module")
def model_and_norm() -> tuple[PPO, VecNormalize]:
    venv = VecNormalize(DummyVecEnv([ToyTradingEnv]))
    model = PPO("MultiInputPolicy", venv, n_steps=16, batch_size=16, n_epochs=1, seed=0, device="cpu")
    model.learn(16)
    return model, venv


def _writer(run_dir: Path, keep: int = 2) -> CheckpointWriter:
    cfg = BotConfig.model_validate({"training": {"keep_checkpoints": keep}})
    rng = np.random.default_rng(0)
    scaler = FeatureScaler.fit(rng.standard_normal((50, 4)), np.ones(50, bool), NAMES)
    info = RunInfo(run_dir.name, "ppo", 42, 1000, "fp123", "schema123", NAMES, {"market": [8, 4]}, "Discrete(3)")
    return CheckpointWriter(run_dir, cfg, info, scaler)


def test_latest_checkpoint_layout_and_manifest(tmp_path: Path, model_and_norm: tuple[PPO, VecNormalize]) -> None:
    model, norm = model_and_norm
    _writer(tmp_path).save_latest(model, norm, "completed", {"validation": {"sharpe": 1.5}})
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["config.yaml", "manifest.json", "model.zip", "scaler.json", "vecnormalize.pkl"]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["algorithm"] == "ppo" and manifest["timesteps"] == model.num_timesteps == 16
    assert manifest["schema_hash"] == "schema123" and manifest["data_fingerprint"] == "fp123"
    assert manifest["feature_names"] == list(NAMES) and manifest["scaler"] == "scaler.json"
    assert manifest["status"] == "completed" and manifest["validation"] == {"sharpe": 1.5}
    assert manifest["vecnormalize"] is True and manifest["seed"] == 42
    assert {"python", "torch", "stable_baselines3", "gymnasium", "numpy"} <= set(manifest["packages"])
    assert "created" in manifest
    assert (tmp_path / "model.zip").stat().st_mode & 0o044  # readable by others, not mkstemp's 0600
    assert PPO.load(tmp_path / "model.zip", device="cpu").num_timesteps == 16


def test_numbered_checkpoints_keep_the_newest(tmp_path: Path, model_and_norm: tuple[PPO, VecNormalize]) -> None:
    model, norm = model_and_norm
    writer = _writer(tmp_path, keep=2)
    for steps in (100, 200, 300):
        model.num_timesteps = steps
        writer.save_step(model, norm)
    writer.save_latest(model, norm, "running")
    model.num_timesteps = 16
    assert [p.name for p in step_folders(tmp_path)] == ["step_200", "step_300"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left behind
    loaded = load_checkpoint(tmp_path, 300)
    assert loaded.manifest["timesteps"] == 300 and loaded.path == tmp_path / "step_300"


def test_load_best_with_scaler_and_vecnormalize(tmp_path: Path, model_and_norm: tuple[PPO, VecNormalize]) -> None:
    model, norm = model_and_norm
    writer = _writer(tmp_path)
    writer.save_latest(model, norm, "running")
    writer.save_best(model, norm, {"sharpe": 2.0})
    writer.save_best(model, norm, {"sharpe": 3.0})  # replaces the folder
    loaded = load_checkpoint(tmp_path, "best", schema_hash="schema123")
    assert isinstance(loaded.model, PPO)
    assert loaded.manifest["validation"]["sharpe"] == 3.0
    assert loaded.scaler.feature_names == NAMES
    assert isinstance(loaded.vecnormalize, VecNormalize)
    np.testing.assert_allclose(loaded.vecnormalize.obs_rms["market"].mean, norm.obs_rms["market"].mean)
    assert loaded.config.training.keep_checkpoints == 2


def test_schema_mismatch_is_a_clear_error(tmp_path: Path, model_and_norm: tuple[PPO, VecNormalize]) -> None:
    model, _ = model_and_norm
    _writer(tmp_path).save_latest(model, None, "completed")
    expected = r"trained on observation schema 'schema123'.*now gives schema 'other'"
    with pytest.raises(SchemaMismatchError, match=expected):
        load_checkpoint(tmp_path, schema_hash="other")


def test_missing_checkpoints_are_clear_errors(tmp_path: Path, model_and_norm: tuple[PPO, VecNormalize]) -> None:
    with pytest.raises(CheckpointError, match=r"is not a run folder \(no manifest.json or config.yaml\)"):
        load_checkpoint(tmp_path / "nope")
    model, _ = model_and_norm
    _writer(tmp_path).save_latest(model, None, "completed")
    with pytest.raises(CheckpointError, match=r"has no best/ checkpoint .* use --which latest"):
        load_checkpoint(tmp_path, "best")
    with pytest.raises(CheckpointError, match=r"has no step_7/; numbered checkpoints present: none"):
        load_checkpoint(tmp_path, "7")
    with pytest.raises(CheckpointError, match=r"checkpoint 'newest' is not 'best', 'latest' or a step number"):
        load_checkpoint(tmp_path, "newest")
    (tmp_path / "model.zip").write_bytes(b"cut short")
    with pytest.raises(CheckpointError, match=r"holds no complete checkpoint .*model.zip does not match its manifest"):
        load_checkpoint(tmp_path)
    (tmp_path / "model.zip").unlink()
    with pytest.raises(CheckpointError, match=r"holds no complete checkpoint .*lacks model.zip"):
        load_checkpoint(tmp_path)


def test_find_latest_run(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"no run folder \(with a manifest.json or config.yaml\) under"):
        find_latest_run(tmp_path)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text("{}")
        time.sleep(0.01)
    os.utime(tmp_path / "a" / "manifest.json")
    assert find_latest_run(tmp_path) == tmp_path / "a"


class _Killed(BaseException):
    """Stands in for SIGKILL at a fault point (nothing after it runs in the writer)."""


def test_recovery_restores_best_and_removes_leftovers(
    tmp_path: Path, model_and_norm: tuple[PPO, VecNormalize], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, norm = model_and_norm
    writer = _writer(tmp_path)
    writer.save_latest(model, norm, "running")
    writer.save_best(model, norm, {"sharpe": 1.0})

    def die_at_swap(name: str) -> None:
        if name == "best.swap":
            raise _Killed

    monkeypatch.setattr(integrity, "fault_point", die_at_swap)
    with pytest.raises(_Killed):
        writer.save_best(model, norm, {"sharpe": 2.0})  # best/ renamed away, the new one not yet in place
    (tmp_path / ".model.zip.123.tmp").write_bytes(b"half a file")
    assert not (tmp_path / "best").exists()
    notes = recover_run(tmp_path)
    assert any("restored" in n for n in notes) and any("removed 1 temp" in n for n in notes), notes
    assert load_checkpoint(tmp_path, "best").manifest["validation"]["sharpe"] == 1.0
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_torn_latest_is_never_loaded(tmp_path: Path, model_and_norm: tuple[PPO, VecNormalize]) -> None:
    model, norm = model_and_norm
    writer = _writer(tmp_path)
    model.num_timesteps = 100
    writer.save_step(model, norm)
    writer.save_latest(model, norm, "running")
    model.num_timesteps = 200
    writer.save_step(model, norm)
    (tmp_path / "vecnormalize.pkl").write_bytes(b"statistics of another step")  # a save killed half way
    model.num_timesteps = 16
    assert newest_complete(tmp_path)[0] == tmp_path / "step_200"
    (tmp_path / "step_200" / "model.zip").write_bytes(b"truncated")
    folder, skipped = newest_complete(tmp_path)
    assert folder == tmp_path / "step_100" and "model.zip does not match its manifest" in skipped[0]
