"""One Tune trial: the real trainer (``bot.training.train``), one call reporting to Tune at every validation.

The trial trains in its own run folder (from scratch, or resumed from its latest checkpoint as ``bot train --resume``
does), so the run folder has the project's checkpoint layout and ``bot evaluate`` works on any trial. The trainer's
``on_validation`` hook reports each validation (net of costs) to Tune with the checkpoint of the validated model:
the top-level files, ``best/`` and the trial record. When Tune stops the trial inside a report (ASHA, a PBT
exploit), the report raises ``SystemExit`` and the trainer closes its workers on the way out.

A trial restored from a Tune checkpoint (a retry after a crash or a lost node, or a PBT exploit of another trial's
checkpoint) first puts that checkpoint into its run folder. When the trial's config gives the model other
hyperparameters than the checkpoint's (PBT's explore step), they are written into the checkpoint before resuming:
the resumed model would otherwise keep the saved ones.

With walk-forward folds a trial trains one fold after another and reports after each, the running mean over the
folds done, with a checkpoint naming them. Trials run one after another in the same Ray actor (``reuse_actors``):
nothing a trial sets up outlives it (the trainer seeds, logs and starts its env workers in every ``train`` call).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path
from typing import Any

from stable_baselines3.common.vec_env import DummyVecEnv

from bot.atomic import atomic_write_bytes
from bot.config import BotConfig, load_config
from bot.data import Dataset
from bot.env import make_env
from bot.training import (
    BEST,
    MANIFEST,
    MODEL,
    TB_DIR,
    CheckpointWriter,
    EventWriter,
    OnValidation,
    RunInfo,
    StopFlag,
    ValidationReport,
    load_checkpoint,
    train,
    training_logging,
)
from bot.tune.space import override

logger = logging.getLogger(__name__)

#: Parameter of a seed-retraining trial naming the configuration's rank (not a config key).
RANK_KEY = "tune.rank"
#: The trial's own record, in its run folder and in each of its Tune checkpoints (JSON).
TRIAL_RECORD = "tune_trial.json"
#: Seconds a reused actor waits for the previous trial's trainer to end (Tune's default, 2 s, is less than the
#: trainer of a trial stopped by ASHA or PBT may need to close its workers; a reset that times out fails the trial).
RESET_TIMEOUT_S = 120


@dataclass(frozen=True, slots=True)
class TrialSetup:
    """What every trial of an experiment shares.

    :param config_path: the base config file (absolute).
    :param overrides: the experiment's ``--set`` overrides, applied before the trial's parameters.
    :param runs_dir: the folder of the trials' run folders (absolute): ``tune_runs/<name>/runs``.
    """

    config_path: str
    overrides: tuple[str, ...]
    runs_dir: str


def trial_config(setup: TrialSetup, params: dict[str, Any], run_name: str) -> BotConfig:
    """The trial's resolved config: base config, experiment overrides, the sampled parameters, its run folder.

    Console logging is off (the run folder's log file keeps everything, Ray forwards the console to the driver).
    """
    overrides = [
        *setup.overrides,
        *(override(key, value) for key, value in params.items()),
        override("training.checkpoint_dir", setup.runs_dir),
        override("run_name", run_name),
        "logging.console=false",
    ]
    return load_config(setup.config_path, overrides)


def _read_record(folder: Path) -> dict[str, Any]:
    path = folder / TRIAL_RECORD
    if not path.is_file():
        return {"trial_id": None, "nodes": [], "restores": []}
    record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return record


def _write_record(run_dir: Path, record: dict[str, Any]) -> None:
    atomic_write_bytes(run_dir / TRIAL_RECORD, json.dumps(record, indent=1).encode())


def _clear_checkpoints(run_dir: Path, cfg: BotConfig) -> None:
    """Remove every checkpoint of ``run_dir``, keeping its TensorBoard and log files (the curves go on)."""
    keep = {TB_DIR, *(Path(name).parts[0] for name in (cfg.logging.file, cfg.logging.jsonl_file) if name)}
    for path in run_dir.iterdir():
        if path.name in keep:
            continue
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def _model_changes(saved: BotConfig, cfg: BotConfig) -> dict[str, Any]:
    """Hyperparameters of the algorithm section that differ between the checkpoint's config and the trial's."""
    name = "dqn" if cfg.training.algo == "ddqn" else "ppo"
    before = getattr(saved.training, name).model_dump()
    after = getattr(cfg.training, name).model_dump()
    return {key: value for key, value in after.items() if before.get(key) != value}


def _apply_hyperparameters(run_dir: Path, cfg: BotConfig, dataset: Dataset) -> dict[str, Any]:
    """Write the trial's algorithm hyperparameters into the restored latest checkpoint (PBT's explore step).

    SB3 rebuilds the learning-rate and clip-range schedules, the buffers and the exploration schedule from these
    attributes when the model is loaded, and the optimiser state is kept; the checkpoint is rewritten whole by the
    trainer's own writer, so its manifest matches its files.

    :return: the hyperparameters changed.
    """
    loaded = load_checkpoint(run_dir, "latest")
    changes = {k: v for k, v in _model_changes(loaded.config, cfg).items() if hasattr(loaded.model, k)}
    if not changes:
        return {}
    for key, value in changes.items():
        setattr(loaded.model, key, value)
    if loaded.vecnormalize is not None:  # an unpickled VecNormalize has no env; pickling it again needs one
        loaded.vecnormalize.set_venv(DummyVecEnv([lambda: make_env(cfg, "train", dataset=dataset)]))
    manifest = loaded.manifest
    info_fields = {f.name for f in fields(RunInfo)}
    info = RunInfo(**{**{k: manifest[k] for k in info_fields if k != "feature_names"},
                      "run_id": run_dir.name, "feature_names": tuple(manifest["feature_names"])})
    saved_cfg = cfg.model_copy(deep=True)
    saved_cfg.training.total_timesteps = int(manifest["timesteps"])
    CheckpointWriter(run_dir, saved_cfg, info, loaded.scaler).save_latest(loaded.model, loaded.vecnormalize, "running")
    return changes


def restore_checkpoint(
    source: Path, run_dir: Path, cfg: BotConfig, trial_id: str, dataset: Dataset
) -> dict[str, Any]:
    """Make ``run_dir`` continue from the Tune checkpoint in ``source`` (this trial's or another's).

    :return: the trial record, with this restore appended to ``restores``.
    """
    record = _read_record(run_dir)
    donor = _read_record(source)
    run_dir.mkdir(parents=True, exist_ok=True)
    _clear_checkpoints(run_dir, cfg)
    for path in source.iterdir():
        if path.name == TRIAL_RECORD:
            continue
        if path.is_dir():
            shutil.copytree(path, run_dir / path.name)
        else:
            shutil.copy2(path, run_dir / path.name)
    manifest = json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))
    changed = _apply_hyperparameters(run_dir, cfg, dataset)
    restore = {"from_trial": donor.get("trial_id"), "timesteps": int(manifest["timesteps"]), "changed": changed,
               "files": manifest["files"]}  # the digests of what was restored, before the explore step
    record["restores"] = [*record.get("restores", []), restore]
    logger.info("Trial %s restored from trial %s at step %d", trial_id, donor.get("trial_id"), manifest["timesteps"])
    return record


def stage_checkpoint(run_dir: Path) -> Path:
    """A temp folder holding the run's latest checkpoint, its ``best/`` and the trial record, for ``tune.report``."""
    manifest = json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))
    folder = Path(tempfile.mkdtemp(prefix="tune-checkpoint-"))
    for name in [*manifest["files"], MANIFEST, TRIAL_RECORD]:
        shutil.copy2(run_dir / name, folder / name)
    if (run_dir / BEST).is_dir():
        shutil.copytree(run_dir / BEST, folder / BEST)
    return folder


def _reporter(run_dir: Path, total: int) -> Callable[[ValidationReport], None]:
    """The ``on_validation`` hook: each validation's metrics to Tune, with the run's checkpoint at that step.

    A periodic validation at the end of the budget is not reported: the final validation of the same model follows.
    """
    from ray import tune

    def report(validation: ValidationReport) -> None:
        if not validation.final and validation.timesteps >= total:
            return
        staged = stage_checkpoint(run_dir)
        try:
            metrics = {**validation.result.as_dict(), "timesteps": float(validation.timesteps)}
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(staged))
        finally:
            shutil.rmtree(staged, ignore_errors=True)

    return report


def _train(cfg: BotConfig, dataset: Dataset, run_dir: Path, on_validation: OnValidation) -> None:
    """One ``train`` call to the end of the budget, resumed when the run folder holds a checkpoint."""
    resume = (run_dir / MODEL).is_file()
    events = EventWriter(None)
    try:
        with training_logging(cfg, run_dir) as (worker_init, log_stats, _log_file):
            train(
                cfg,
                dataset,
                run_dir,
                resume=resume,
                resume_from=run_dir if resume else None,
                events=events,
                stop=StopFlag(),
                show_progress=False,
                worker_init=worker_init,
                log_stats=log_stats,
                on_validation=on_validation,
            )
    finally:
        events.close()


#: Folder of fold k's run inside a walk-forward trial's run folder.
FOLD_PREFIX = "fold_"
#: A walk-forward trial's Tune checkpoint: the final validation of each fold done, in order (JSON).
FOLDS_DONE = "walk_forward.json"


def _report_folds(run_dir: Path, done: list[dict[str, float]], n_folds: int, fold_steps: int) -> None:
    """Report the mean over the folds done of each metric, ``timesteps`` of those folds, ``folds`` (done) and
    ``folds_total``, with a checkpoint of the folds done (a retry goes on with the next fold)."""
    from ray import tune

    means = {key: sum(f[key] for f in done) / len(done) for key in done[0]}
    folder = Path(tempfile.mkdtemp(prefix="tune-folds-"))
    try:
        atomic_write_bytes(folder / FOLDS_DONE, json.dumps(done).encode())
        shutil.copy2(run_dir / TRIAL_RECORD, folder / TRIAL_RECORD)
        tune.report({**means, "timesteps": float(len(done) * fold_steps), "folds": float(len(done)),
                     "folds_total": float(n_folds)}, checkpoint=tune.Checkpoint.from_directory(folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _keep_final(finals: list[dict[str, float]], report: ValidationReport) -> None:
    if report.final:
        finals.append(report.result.as_dict())


def _walk_forward(cfg: BotConfig, folds: tuple[Dataset, ...], run_dir: Path, done: list[dict[str, float]]) -> None:
    """Train ``cfg`` on each fold after the ``done`` ones (``run_dir/fold_<k>``, each a normal run folder, from
    scratch), reporting after every fold the running mean over the folds done: ``training_iteration`` is the number of
    folds, so ASHA compares trials over the same first folds and stops one whose first folds are poor.

    :param done: the final validation of each fold already done (a retry from the trial's checkpoint).
    """
    for k in range(len(done), len(folds)):
        fold_dir = run_dir / f"{FOLD_PREFIX}{k}"
        shutil.rmtree(fold_dir, ignore_errors=True)  # a fold interrupted by a crash starts over
        fold_dir.mkdir(parents=True)
        finals: list[dict[str, float]] = []
        _train(cfg, folds[k], fold_dir, partial(_keep_final, finals))
        if not finals:
            raise RuntimeError(f"walk-forward fold {k} of trial {run_dir.name} ended without its final validation")
        done.append(finals[-1])
        _report_folds(run_dir, done, len(folds), cfg.training.total_timesteps)


def interval_steps(cfg: BotConfig) -> int:
    """Env steps between two reports: the config's validation interval, or the whole budget when it is 0."""
    return cfg.training.eval_freq or cfg.training.total_timesteps


def run_trial(config: dict[str, Any], setup: TrialSetup, dataset: Dataset | tuple[Dataset, ...]) -> None:
    """The Tune function trainable: train the trial's config, reporting at every validation; with walk-forward fold
    datasets, train it on every fold, reporting the running mean over the folds after each (a retry goes on from the
    next fold).

    :param config: the trial's sampled config keys (dotted) and values, or ``{"params": {...}}`` (seed retraining,
        whose ``tune.rank`` entry is a label, not a key).
    :param setup: what the experiment's trials share.
    :param dataset: built once by the driver, shared through Ray's object store (one copy per node); or the
        datasets of the walk-forward folds.
    """
    import ray
    from ray import tune

    # read by Tune in this actor when it hands the actor to the next trial (``reuse_actors``)
    os.environ.setdefault("TUNE_FUNCTION_THREAD_TIMEOUT_S", str(RESET_TIMEOUT_S))
    params = {k: v for k, v in config.get("params", config).items() if k != RANK_KEY}
    context = tune.get_context()
    trial_id = context.get_trial_id()
    cfg = trial_config(setup, params, trial_id)
    run_dir = Path(setup.runs_dir) / trial_id
    checkpoint = tune.get_checkpoint()
    folds_done: list[dict[str, float]] = []
    if checkpoint is None:
        if run_dir.exists():  # a retry that never reported: start it again from step 0
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)
        record: dict[str, Any] = {"trial_id": trial_id, "nodes": [], "restores": []}
    else:
        with checkpoint.as_directory() as source:
            if isinstance(dataset, tuple):
                folds_done = json.loads((Path(source) / FOLDS_DONE).read_text(encoding="utf-8"))
                run_dir.mkdir(parents=True, exist_ok=True)
                record = _read_record(run_dir)
            else:
                record = restore_checkpoint(Path(source), run_dir, cfg, trial_id, dataset)
    record.update(trial_id=trial_id, params=params)
    record["nodes"] = [*record.get("nodes", []), ray.get_runtime_context().get_node_id()]
    record["pids"] = [*record.get("pids", []), os.getpid()]  # the same pid in two trials: an actor reused
    _write_record(run_dir, record)
    if isinstance(dataset, tuple):
        _walk_forward(cfg, dataset, run_dir, folds_done)
        return
    steps = int(json.loads((run_dir / MANIFEST).read_text())["timesteps"]) if (run_dir / MANIFEST).is_file() else 0
    if steps < cfg.training.total_timesteps:  # a PBT exploit at the donor's last validation has nothing left to do
        _train(cfg, dataset, run_dir, _reporter(run_dir, cfg.training.total_timesteps))
