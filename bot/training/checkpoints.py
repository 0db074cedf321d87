"""Run folders: atomic checkpoint writes (latest, ``step_<N>/``, ``best/``) and ``load_checkpoint``.

Layout of ``checkpoints/<run_id>/`` (the top level is the latest checkpoint)::

    model.zip  vecnormalize.pkl?  replay_buffer.pkl?  config.yaml  manifest.json  scaler.json
    best/      the same files for the best model on the validation split
    step_<N>/  numbered periodic checkpoints (the newest ``keep_checkpoints`` are kept)
    tb/        TensorBoard events         bot.log   SmartLogger file

Each file is written to a temp file in its folder and renamed; a ``step_<N>/`` or ``best/`` folder is written as a
temp folder and renamed, so a reader never sees half a checkpoint folder.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from bot.atomic import atomic_path, atomic_write_bytes, ordinary_mode
from bot.config import BotConfig, load_config
from bot.data.scaler import FeatureScaler
from bot.errors import CheckpointError, ConfigError, DataError, SchemaMismatchError
from bot.training.algorithms import load_class
from bot.training.manifest import MANIFEST, RunInfo, build_manifest

MODEL = "model.zip"
VECNORMALIZE = "vecnormalize.pkl"
REPLAY_BUFFER = "replay_buffer.pkl"
CONFIG = "config.yaml"
SCALER = "scaler.json"
BEST = "best"
STEP_PREFIX = "step_"


class CheckpointWriter:
    """Writes the checkpoints of one run folder.

    :param run_dir: the run folder (created by the caller).
    :param cfg: the resolved config (saved as ``config.yaml``).
    :param info: what the manifest records about data and spaces.
    :param scaler: the feature scaler fit on the train split.
    """

    def __init__(self, run_dir: Path, cfg: BotConfig, info: RunInfo, scaler: FeatureScaler) -> None:
        self.run_dir = run_dir
        self.cfg = cfg
        self.info = info
        self.scaler = scaler

    def _write_files(
        self, folder: Path, model: BaseAlgorithm, vecnormalize: VecNormalize | None, status: str, extra: dict[str, Any]
    ) -> None:
        buffer = io.BytesIO()
        model.save(buffer)
        atomic_write_bytes(folder / MODEL, buffer.getvalue())
        if vecnormalize is not None:
            atomic_write_bytes(folder / VECNORMALIZE, pickle.dumps(vecnormalize))
        atomic_write_bytes(folder / CONFIG, self.cfg.to_yaml().encode())
        self.scaler.save(folder / SCALER)
        manifest = build_manifest(self.info, model.num_timesteps, status, vecnormalize is not None, extra)
        atomic_write_bytes(folder / MANIFEST, json.dumps(manifest, indent=1).encode())

    def save_latest(
        self,
        model: BaseAlgorithm,
        vecnormalize: VecNormalize | None,
        status: str,
        extra: dict[str, Any] | None = None,
    ) -> Path:
        """Write the top-level (latest) checkpoint, with the replay buffer when configured; manifest last."""
        if self.cfg.training.dqn.save_replay_buffer and isinstance(model, OffPolicyAlgorithm):
            with atomic_path(self.run_dir / REPLAY_BUFFER) as tmp:
                model.save_replay_buffer(tmp)
                # SB3 appends ".pkl" only to suffix-less paths; the temp name has a suffix, so it is used as given
        self._write_files(self.run_dir, model, vecnormalize, status, extra or {})
        return self.run_dir

    def _save_folder(
        self, name: str, model: BaseAlgorithm, vecnormalize: VecNormalize | None, extra: dict[str, Any]
    ) -> Path:
        target = self.run_dir / name
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=self.run_dir))
        try:
            tmp.chmod(ordinary_mode(is_dir=True))
            self._write_files(tmp, model, vecnormalize, "checkpoint", extra)
            old = None
            if target.exists():
                old = target.rename(self.run_dir / f".{name}.old.{os.getpid()}")
            tmp.rename(target)
            if old is not None:
                shutil.rmtree(old)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target

    def save_step(self, model: BaseAlgorithm, vecnormalize: VecNormalize | None) -> Path:
        """Write ``step_<N>/`` and delete the oldest numbered checkpoints beyond ``keep_checkpoints``."""
        path = self._save_folder(f"{STEP_PREFIX}{model.num_timesteps}", model, vecnormalize, {})
        for old in step_folders(self.run_dir)[: -self.cfg.training.keep_checkpoints]:
            shutil.rmtree(old)
        return path

    def save_best(self, model: BaseAlgorithm, vecnormalize: VecNormalize | None, metrics: dict[str, float]) -> Path:
        """Write ``best/`` with the validation metrics in its manifest."""
        return self._save_folder(BEST, model, vecnormalize, {"validation": metrics})


def step_folders(run_dir: Path) -> list[Path]:
    """The ``step_<N>/`` folders of a run, oldest (smallest N) first."""
    found = [p for p in run_dir.glob(f"{STEP_PREFIX}*") if p.is_dir() and p.name[len(STEP_PREFIX) :].isdigit()]
    return sorted(found, key=lambda p: int(p.name[len(STEP_PREFIX) :]))


def find_latest_run(checkpoint_dir: Path) -> Path:
    """The most recently written run folder (by its manifest's modification time).

    :raises CheckpointError: when ``checkpoint_dir`` holds no run folder.
    """
    runs = [p.parent for p in checkpoint_dir.glob(f"*/{MANIFEST}")]
    if not runs:
        raise CheckpointError(
            f"no run folder with a {MANIFEST} under {checkpoint_dir}; pass --resume RUN_DIR or train first"
        )
    return max(runs, key=lambda p: (p / MANIFEST).stat().st_mtime)


@dataclass(frozen=True, slots=True)
class LoadedCheckpoint:
    """A loaded checkpoint.

    :param model: the SB3 model (PPO, DoubleDQN or MaskablePPO).
    :param vecnormalize: the saved VecNormalize statistics (no venv attached; ``normalize_obs`` works), or None.
    :param config: the config the model was trained with.
    :param manifest: the manifest (``algorithm``, ``timesteps``, ``schema_hash`` ...).
    :param scaler: the feature scaler fit on the training split.
    :param path: the folder the files were read from.
    """

    model: BaseAlgorithm
    vecnormalize: VecNormalize | None
    config: BotConfig
    manifest: dict[str, Any]
    scaler: FeatureScaler
    path: Path


def checkpoint_folder(run_dir: str | Path, which: str | int = "latest") -> Path:
    """The folder holding checkpoint ``which`` (``"latest"``, ``"best"`` or a step number) of ``run_dir``.

    :raises CheckpointError: when the run folder or the requested checkpoint does not exist.
    """
    run = Path(run_dir)
    if not (run / MANIFEST).is_file():
        raise CheckpointError(f"{run} is not a run folder (no {MANIFEST}); point at a folder written by `bot train`")
    which = str(which)
    if which == "latest":
        return run
    if which == BEST:
        folder = run / BEST
        if not folder.is_dir():
            raise CheckpointError(
                f"{run} has no {BEST}/ checkpoint (validation never ran: training.eval_freq=0 or too few steps);"
                " use --which latest"
            )
        return folder
    step = which.removeprefix(STEP_PREFIX)
    if not step.isdigit():
        raise CheckpointError(f"checkpoint {which!r} is not 'best', 'latest' or a step number")
    folder = run / f"{STEP_PREFIX}{step}"
    if not folder.is_dir():
        have = [p.name for p in step_folders(run)]
        raise CheckpointError(f"{run} has no {folder.name}/; numbered checkpoints present: {have or 'none'}")
    return folder


def read_manifest(folder: Path, schema_hash: str | None = None) -> dict[str, Any]:
    """The manifest of a checkpoint folder, checked against the observation schema of the data at hand.

    :param schema_hash: ``dataset.schema_hash`` of the data the model will see, or None to skip the check.
    :raises CheckpointError: when the manifest is missing or unreadable.
    :raises SchemaMismatchError: when ``schema_hash`` differs from the one the model was trained on.
    """
    try:
        manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint {folder}: cannot read {MANIFEST}: {e}") from e
    if schema_hash is not None and schema_hash != manifest.get("schema_hash"):
        raise SchemaMismatchError(
            f"checkpoint {folder} was trained on observation schema {manifest.get('schema_hash')!r} (features"
            f" {manifest.get('feature_names')}), but the data now gives schema {schema_hash!r}; use the"
            " data.timeframes and features settings of the checkpoint's config.yaml"
        )
    return manifest


def load_checkpoint(
    run_dir: str | Path,
    which: str | int = "latest",
    schema_hash: str | None = None,
    env: VecEnv | None = None,
    device: str = "cpu",
) -> LoadedCheckpoint:
    """Load a checkpoint for evaluation, paper trading or resuming.

    :param run_dir: a run folder written by ``bot train``.
    :param which: ``"latest"``, ``"best"`` or a step number.
    :param schema_hash: the observation-schema hash of the data it will see (``dataset.schema_hash``); checked first.
    :param env: VecEnv to attach to the model (needed to continue training).
    :param device: torch device for the model.
    :raises CheckpointError: for a missing folder or file, or an unreadable one.
    :raises SchemaMismatchError: when ``schema_hash`` differs from the one the model was trained on.
    """
    folder = checkpoint_folder(run_dir, which)
    for name in (MODEL, CONFIG, SCALER):
        if not (folder / name).is_file():
            raise CheckpointError(f"checkpoint {folder} lacks {name}; it was not written completely, use another")
    manifest = read_manifest(folder, schema_hash)
    try:
        config = load_config(folder / CONFIG)
        scaler = FeatureScaler.load(folder / SCALER)
    except (ConfigError, DataError) as e:
        raise CheckpointError(f"checkpoint {folder} is unreadable: {e}") from e
    if "algorithm" not in manifest:
        raise CheckpointError(f"checkpoint {folder}: {MANIFEST} names no algorithm; it was not written by `bot train`")
    vecnormalize = None
    try:
        if (folder / VECNORMALIZE).is_file():
            with (folder / VECNORMALIZE).open("rb") as fh:
                vecnormalize = pickle.load(fh)
        model = load_class(str(manifest["algorithm"])).load(folder / MODEL, env=env, device=device)
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as e:  # SB3 reports a bad zip as ValueError
        raise CheckpointError(f"checkpoint {folder} is unreadable: {type(e).__name__}: {e}") from e
    return LoadedCheckpoint(model, vecnormalize, config, manifest, scaler, folder)
