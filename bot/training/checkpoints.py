"""Run folders: whole-checkpoint writes (latest, ``step_<N>/``, ``best/``) and ``load_checkpoint``.

Layout of ``checkpoints/<run_id>/`` (the top level is the latest checkpoint)::

    model.zip  vecnormalize.pkl?  replay_buffer.pkl?  config.yaml  manifest.json  scaler.json
    (a supervised baseline, ``training.algo: rf | gbm``, has model.joblib in place of model.zip)
    best/      the same files for the best model on the validation split
    step_<N>/  numbered periodic checkpoints (the newest ``keep_checkpoints`` are kept)
    tb/        TensorBoard events         bot.log   SmartLogger file

Every checkpoint is first written whole into a temp folder, its manifest last with the SHA-256 of each file; a
``step_<N>/`` or ``best/`` folder is then renamed into place, the latest one promoted to the top level (see
:mod:`bot.training.integrity`). Readers take only checkpoints whose files match their manifest, so a kill at any
moment leaves either the previous or the new checkpoint, never a mix.
"""

from __future__ import annotations

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

from bot.atomic import ordinary_mode
from bot.config import SUPERVISED_ALGOS, BotConfig, load_config
from bot.data import FeatureScaler, SymbolScalers
from bot.errors import CheckpointError, ConfigError, DataError, SchemaMismatchError
from bot.training import integrity
from bot.training.algorithms import load_class
from bot.training.integrity import (
    BEST,
    CONFIG,
    MODEL,
    PENDING,
    REPLAY_BUFFER,
    SCALER,
    STEP_PREFIX,
    SUPERVISED_MODEL,
    VECNORMALIZE,
    checkpoint_problem,
    folder_digests,
    newest_complete,
    step_folders,
)
from bot.training.manifest import MANIFEST, RunInfo, build_manifest
from bot.training.supervised_policy import SupervisedModel

#: what a checkpoint holds: an SB3 model or a supervised baseline
Model = BaseAlgorithm | SupervisedModel

__all__ = [
    "BEST",
    "CONFIG",
    "MODEL",
    "REPLAY_BUFFER",
    "SCALER",
    "STEP_PREFIX",
    "SUPERVISED_MODEL",
    "VECNORMALIZE",
    "CheckpointWriter",
    "LoadedCheckpoint",
    "Model",
    "checkpoint_folder",
    "find_latest_run",
    "is_run_folder",
    "load_checkpoint",
    "read_manifest",
    "step_folders",
]


class CheckpointWriter:
    """Writes the checkpoints of one run folder.

    :param run_dir: the run folder (created by the caller).
    :param cfg: the resolved config (saved as ``config.yaml``).
    :param info: what the manifest records about data and spaces.
    :param scaler: the feature scaler fit on the train split (every symbol's for a universe run).
    """

    def __init__(self, run_dir: Path, cfg: BotConfig, info: RunInfo, scaler: FeatureScaler | SymbolScalers) -> None:
        self.run_dir = run_dir
        self.cfg = cfg
        self.info = info
        self.scaler = scaler

    def _write_temp(
        self,
        name: str,
        model: Model,
        vecnormalize: VecNormalize | None,
        status: str,
        extra: dict[str, Any],
        with_replay_buffer: bool = False,
    ) -> Path:
        """Write a whole checkpoint into a new temp folder of the run folder, the manifest (with hashes) last."""
        folder = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=self.run_dir))
        try:
            folder.chmod(ordinary_mode(is_dir=True))
            model.save(folder / (SUPERVISED_MODEL if isinstance(model, SupervisedModel) else MODEL))
            if vecnormalize is not None:
                (folder / VECNORMALIZE).write_bytes(pickle.dumps(vecnormalize))
            if with_replay_buffer:
                assert isinstance(model, OffPolicyAlgorithm)
                model.save_replay_buffer(folder / REPLAY_BUFFER)  # the name has a suffix: SB3 keeps it as given
            (folder / CONFIG).write_text(self.cfg.to_yaml(), encoding="utf-8")
            self.scaler.save(folder / SCALER)
            integrity.fault_point(f"{name}.files")
            manifest = build_manifest(self.info, model.num_timesteps, status, folder_digests(folder), extra)
            (folder / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return folder

    def save_latest(
        self,
        model: Model,
        vecnormalize: VecNormalize | None,
        status: str,
        extra: dict[str, Any] | None = None,
    ) -> Path:
        """Write the top-level (latest) checkpoint, with the replay buffer when configured.

        The checkpoint is written whole as ``.latest.pending/`` and then promoted to the top level, manifest last.
        """
        with_replay = self.cfg.training.dqn.save_replay_buffer and isinstance(model, OffPolicyAlgorithm)
        tmp = self._write_temp("latest", model, vecnormalize, status, extra or {}, with_replay)
        pending = self.run_dir / PENDING
        if pending.exists():  # left by a save that failed in this process; the top level is complete again below
            shutil.rmtree(pending)
        tmp.rename(pending)
        integrity.fault_point("latest.pending")
        integrity.promote(pending, self.run_dir)
        return self.run_dir

    def _save_folder(
        self, name: str, model: Model, vecnormalize: VecNormalize | None, extra: dict[str, Any]
    ) -> Path:
        target = self.run_dir / name
        kind = name.split("_")[0]
        tmp = self._write_temp(kind, model, vecnormalize, "checkpoint", extra)
        try:
            old = None
            if target.exists():
                old = target.rename(self.run_dir / f".{name}.old.{os.getpid()}")
                integrity.fault_point(f"{kind}.swap")
            tmp.rename(target)
            integrity.fault_point(f"{kind}.renamed")
            if old is not None:
                shutil.rmtree(old)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target

    def save_step(self, model: Model, vecnormalize: VecNormalize | None) -> Path:
        """Write ``step_<N>/`` and delete the oldest numbered checkpoints beyond ``keep_checkpoints``."""
        path = self._save_folder(f"{STEP_PREFIX}{model.num_timesteps}", model, vecnormalize, {})
        for old in step_folders(self.run_dir)[: -self.cfg.training.keep_checkpoints]:
            # renamed first, so a kill during the deletion never leaves a half-deleted step_<N>/ behind
            doomed = old.rename(self.run_dir / f".{old.name}.deleted")
            shutil.rmtree(doomed)
        return path

    def save_best(self, model: Model, vecnormalize: VecNormalize | None, metrics: dict[str, float]) -> Path:
        """Write ``best/`` with the validation metrics in its manifest."""
        return self._save_folder(BEST, model, vecnormalize, {"validation": metrics})


def is_run_folder(path: Path) -> bool:
    """Whether ``path`` was written by ``bot train`` (it holds the run's config, and its manifest once it saved)."""
    return (path / MANIFEST).is_file() or (path / CONFIG).is_file()


def find_latest_run(checkpoint_dir: Path) -> Path:
    """The most recently written run folder (by the modification time of its manifest, else its config).

    :raises CheckpointError: when ``checkpoint_dir`` holds no run folder.
    """
    runs = [p for p in checkpoint_dir.glob("*") if p.is_dir() and is_run_folder(p)]
    if not runs:
        raise CheckpointError(
            f"no run folder (with a {MANIFEST} or {CONFIG}) under {checkpoint_dir}; pass --resume RUN_DIR or train"
            " first"
        )

    def written(run: Path) -> float:
        return max((run / name).stat().st_mtime for name in (MANIFEST, CONFIG) if (run / name).is_file())

    return max(runs, key=written)


@dataclass(frozen=True, slots=True)
class LoadedCheckpoint:
    """A loaded checkpoint.

    :param model: the SB3 model (PPO, DoubleDQN, MaskablePPO, RecurrentPPO) or supervised baseline (rf, gbm).
    :param vecnormalize: the saved VecNormalize statistics (no venv attached; ``normalize_obs`` works), or None.
    :param config: the config the model was trained with.
    :param manifest: the manifest (``algorithm``, ``timesteps``, ``schema_hash`` ...).
    :param scaler: the feature scaler fit on the training split.
    :param path: the folder the files were read from.
    """

    model: Model
    vecnormalize: VecNormalize | None
    config: BotConfig
    manifest: dict[str, Any]
    scaler: FeatureScaler
    path: Path


def checkpoint_folder(run_dir: str | Path, which: str | int = "latest") -> Path:
    """The folder holding checkpoint ``which`` (``"latest"``, ``"best"`` or a step number) of ``run_dir``.

    ``"latest"`` is the newest complete checkpoint: the top level, or a newer ``step_<N>/`` (or the pending latest
    one) when a kill interrupted the last save.

    :raises CheckpointError: when the run folder or the requested checkpoint does not exist or is incomplete.
    """
    run = Path(run_dir)
    if not is_run_folder(run):
        raise CheckpointError(
            f"{run} is not a run folder (no {MANIFEST} or {CONFIG}); point at a folder written by `bot train`"
        )
    which = str(which)
    if which == "latest":
        folder, skipped = newest_complete(run)
        if folder is None:
            passed = f" ({'; '.join(skipped)})" if skipped else ""
            raise CheckpointError(
                f"{run} holds no complete checkpoint{passed}; the run was stopped before its first save: train it"
                " again, or resume it with `bot train --resume` (which starts it from step 0)"
            )
        return folder
    if which == BEST:
        folder = run / BEST
        if not folder.is_dir():
            raise CheckpointError(
                f"{run} has no {BEST}/ checkpoint (validation never ran: training.eval_freq=0 or too few steps);"
                " use --which latest"
            )
    else:
        step = which.removeprefix(STEP_PREFIX)
        if not step.isdigit():
            raise CheckpointError(f"checkpoint {which!r} is not 'best', 'latest' or a step number")
        folder = run / f"{STEP_PREFIX}{step}"
        if not folder.is_dir():
            have = [p.name for p in step_folders(run)]
            raise CheckpointError(f"{run} has no {folder.name}/; numbered checkpoints present: {have or 'none'}")
    problem = checkpoint_problem(folder)
    if problem is not None:
        raise CheckpointError(f"checkpoint {folder} is incomplete: {problem}; use --which latest or another step")
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
        algorithm = str(manifest["algorithm"])
        model: Model
        if algorithm in SUPERVISED_ALGOS:
            model = SupervisedModel.load(folder / SUPERVISED_MODEL)
        else:
            model = load_class(algorithm).load(folder / MODEL, env=env, device=device)
    # a bad zip raises ValueError; a pickle of a class that no longer exists AttributeError or ImportError
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, AttributeError, ImportError) as e:
        raise CheckpointError(
            f"checkpoint {folder} is unreadable: {type(e).__name__}: {e}; use another checkpoint (--which)"
        ) from e
    return LoadedCheckpoint(model, vecnormalize, config, manifest, scaler, folder)
