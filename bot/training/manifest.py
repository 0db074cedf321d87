"""``manifest.json``: what a checkpoint was trained on (data fingerprint, observation schema, versions, status)."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.config import SUPERVISED_ALGOS

if TYPE_CHECKING:
    from gymnasium import spaces

    from bot.config import BotConfig
    from bot.data import Dataset, Universe

MANIFEST = "manifest.json"
#: 2: ``files`` maps each file of the checkpoint to its SHA-256 (checked on load)
MANIFEST_FORMAT = 2
_PACKAGES = ("bot", "numpy", "torch", "stable_baselines3", "sb3_contrib", "gymnasium", "pandas", "scikit_learn")


@dataclass(frozen=True, slots=True)
class RunInfo:
    """The fixed facts of a run that every manifest repeats.

    :param run_id: the run folder's name.
    :param algorithm: ``training.algo`` (``ppo``, ``ddqn``, ``maskable_ppo``, ``recurrent_ppo``, ``rf``, ``gbm``).
    :param seed: the master seed.
    :param total_timesteps: the configured budget.
    :param data_fingerprint: hash of the candles (``MarketData.fingerprint``).
    :param schema_hash: observation-schema hash (``Dataset.schema_hash``).
    :param feature_names: feature columns of the ``market`` observation, in order.
    :param observation_shapes: observation key -> shape.
    :param action_space: ``repr`` of the action space.
    """

    run_id: str
    algorithm: str
    seed: int
    total_timesteps: int
    data_fingerprint: str
    schema_hash: str
    feature_names: tuple[str, ...]
    observation_shapes: dict[str, list[int]]
    action_space: str


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that decide whether a model loads and behaves the same."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def run_info(
    run_dir: Path,
    cfg: BotConfig,
    dataset: Dataset | Universe,
    observation_space: spaces.Space[Any],
    action_space: spaces.Space[Any],
) -> RunInfo:
    """The :class:`RunInfo` of a run of ``cfg`` on ``dataset`` with the model's spaces; the budget of a supervised
    baseline is its trees (``training.supervised.n_estimators``), of an RL run its steps."""
    named = getattr(observation_space, "spaces", {"obs": observation_space})
    shapes = {k: list(s.shape or ()) for k, s in named.items()}
    t = cfg.training
    return RunInfo(
        run_id=run_dir.name,
        algorithm=t.algo,
        seed=cfg.seed,
        total_timesteps=t.supervised.n_estimators if t.algo in SUPERVISED_ALGOS else t.total_timesteps,
        data_fingerprint=dataset.fingerprint,
        schema_hash=dataset.schema_hash,
        feature_names=dataset.feature_names,
        observation_shapes=shapes,
        action_space=repr(action_space),
    )


def build_manifest(
    info: RunInfo,
    timesteps: int,
    status: str,
    files: dict[str, str],
    extra: dict[str, Any],
) -> dict[str, Any]:
    """The manifest of one checkpoint.

    :param timesteps: env steps done when it was written.
    :param status: ``running``, ``completed``, ``interrupted``, ``failed``, ``early_stopped`` or ``checkpoint``.
    :param files: file name -> SHA-256 of every file of the checkpoint besides the manifest; a loader accepts the
        checkpoint only when each file matches, so files of two different saves are never mixed.
    :param extra: more entries (e.g. ``validation`` metrics).
    """
    return {
        "format": MANIFEST_FORMAT,
        "run_id": info.run_id,
        "algorithm": info.algorithm,
        "timesteps": int(timesteps),
        "total_timesteps": info.total_timesteps,
        "seed": info.seed,
        "data_fingerprint": info.data_fingerprint,
        "schema_hash": info.schema_hash,
        "feature_names": list(info.feature_names),
        "observation_shapes": info.observation_shapes,
        "action_space": info.action_space,
        "scaler": "scaler.json",
        "vecnormalize": "vecnormalize.pkl" in files,
        "files": files,
        "packages": package_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "status": status,
        **extra,
    }
