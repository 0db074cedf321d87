"""The training run: dataset once, parallel workers, the model, callbacks, checkpoints, and a clean end in every case.

``train`` returns a :class:`TrainOutcome` when training completes, is stopped by a signal (also during the final
validation) or stops early; when an environment fails it saves a checkpoint (status ``failed``), emits a ``failed``
event and re-raises the :class:`~bot.errors.TrainingError` so the command exits non-zero. A stop requested while the
workers start raises :class:`~bot.training.timeouts.RunCancelledError` (there is nothing to save yet).
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.logger import configure
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecMonitor, VecNormalize

from bot.atomic import atomic_write_bytes
from bot.config import SUPERVISED_ALGOS, BotConfig
from bot.data import Dataset, SymbolScalers, Universe
from bot.env import make_env
from bot.errors import CheckpointError, ConfigError
from bot.training.algorithms import build_model, load_class
from bot.training.callbacks import OnValidation, PeriodicCheckpointCallback, ValidationCallback, ValidationReport
from bot.training.checkpoints import (
    BEST,
    CONFIG,
    MODEL,
    REPLAY_BUFFER,
    SCALER,
    STEP_PREFIX,
    VECNORMALIZE,
    CheckpointWriter,
    checkpoint_folder,
)
from bot.training.events import EventWriter
from bot.training.layout import WorkerLayout, choose_layout
from bot.training.manifest import MANIFEST, run_info
from bot.training.metrics import EnvMetricsCallback, HParamCallback, LogStats
from bot.training.portfolio import PortfolioEnvFactory
from bot.training.progress import ProgressCallback, StopFlag
from bot.training.resources import choose_device, learner_threads
from bot.training.shared_dataset import SharedDataset, SharedUniverse
from bot.training.supervised import train_supervised
from bot.training.throughput import Throughput, ThroughputCallback
from bot.training.timeouts import AutoTimeout, RunCancelledError
from bot.training.universe import UniverseEnvFactory, validation_envs, validator
from bot.training.validation import ValidationResult
from bot.training.vec_env import ParallelVecEnv
from bot.training.worker import WorkerInit

logger = logging.getLogger(__name__)

TB_DIR = "tb"


@dataclass(frozen=True)
class TradingEnvFactory:
    """Picklable ``factory(worker_id, n_envs)`` for :class:`ParallelVecEnv`: K TradingEnvs sharing one dataset.

    A plain dataset travels to each worker as a pickled copy; a :class:`SharedDataset` as a handle on one shared
    read-only block (what the trainer uses). Either way features are never rebuilt per env.
    """

    cfg: BotConfig
    dataset: Dataset | SharedDataset
    split: str = "train"

    def __call__(self, worker_id: int, n_envs: int) -> list[gym.Env[Any, Any]]:
        dataset = self.dataset.get() if isinstance(self.dataset, SharedDataset) else self.dataset
        return [make_env(self.cfg, self.split, worker_id=worker_id, dataset=dataset) for _ in range(n_envs)]


def env_factory(
    cfg: BotConfig, data: Dataset | Universe, shared: bool = False
) -> TradingEnvFactory | UniverseEnvFactory | PortfolioEnvFactory:
    """The workers' env factory over a dataset, or over a universe (``env.mode: universe`` or ``portfolio``).

    :param shared: map the arrays from one shared block in every worker instead of pickling a copy to each.
    """
    if isinstance(data, Universe) and cfg.env.mode == "portfolio":
        return PortfolioEnvFactory(cfg, SharedUniverse(data) if shared else data)
    if isinstance(data, Universe):
        return UniverseEnvFactory(cfg, SharedUniverse(data) if shared else data)
    return TradingEnvFactory(cfg, SharedDataset(data) if shared else data)


@dataclass(frozen=True, slots=True)
class TrainOutcome:
    """How a run ended.

    :param run_dir: the run folder.
    :param status: ``completed``, ``interrupted`` or ``early_stopped``.
    :param timesteps: env steps done in total.
    :param validation: the final validation metrics, or None when skipped (interrupted runs).
    :param best_sharpe: best validation Sharpe (the ``best/`` checkpoint), or None.
    :param tensorboard_dir: TensorBoard log folder.
    :param layout: the worker layout the run used and why (``training.n_workers: auto`` chooses it per machine).
    :param throughput: env-steps/s, the learner's share of the time and the device (None when nothing was learnt).
    """

    run_dir: Path
    status: str
    timesteps: int
    validation: ValidationResult | None
    best_sharpe: float | None
    tensorboard_dir: Path
    layout: WorkerLayout | None = None
    throughput: Throughput | None = None


class StopOnFlag(gym.Wrapper[Any, Any, Any, Any]):
    """Ends a validation run at the next step once a stop was requested (SIGTERM must not wait for a long split)."""

    def __init__(self, env: gym.Env[Any, Any], stop: StopFlag) -> None:
        super().__init__(env)
        self.stop = stop

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        if self.stop.is_set:
            raise RunCancelledError(f"stop requested ({self.stop.reason}) during validation")
        return self.env.step(action)


def build_train_env(
    cfg: BotConfig, dataset: Dataset | Universe, worker_init: WorkerInit | None, stop: StopFlag | None = None
) -> tuple[VecEnv, ParallelVecEnv, VecNormalize | None]:
    """Workers + VecMonitor (+ VecNormalize when configured), seeded from ``cfg.seed`` at the first reset.

    :param stop: a stop flag that ends the wait for workers (start-up included) with ``RunCancelledError``.
    :return: the outer VecEnv, the inner ParallelVecEnv, the VecNormalize wrapper or None.
    """
    t = cfg.training
    if t.n_workers == "auto":
        raise ConfigError(
            "build_train_env needs a fixed worker layout, got training.n_workers='auto'; apply"
            " bot.training.layout.choose_layout(...) to the config first (train() does)"
        )
    # workers map the dataset's arrays from one shared block instead of each unpickling a copy (benchmarks/RESULTS.md)
    factory = env_factory(cfg, dataset, shared=t.n_workers > 1)
    timeout: float | AutoTimeout | None = AutoTimeout() if t.worker_timeout_s is None else t.worker_timeout_s or None
    inner = ParallelVecEnv(
        factory,
        t.n_workers,
        t.n_envs_per_worker,
        t.start_method,
        worker_init,
        timeout_s=timeout,
        send_action_masks=t.algo == "maskable_ppo",
        startup_timeout_s=t.worker_startup_timeout_s or None,
        should_stop=(lambda: stop.is_set) if stop is not None else None,
    )
    venv: VecEnv = VecMonitor(inner)
    vecnormalize = VecNormalize(venv) if t.vecnormalize else None
    return vecnormalize or venv, inner, vecnormalize


def _load_for_resume(
    folder: Path, cfg: BotConfig, env: VecEnv, inner_vecnormalize: VecNormalize | None, device: str
) -> tuple[BaseAlgorithm, VecNormalize | None]:
    """Model (+ replay buffer, VecNormalize statistics) of the checkpoint in ``folder``, attached to ``env``.

    :raises CheckpointError: naming the file when one cannot be read.
    """
    name = MODEL
    try:
        model = load_class(cfg.training.algo, cfg.training.overlap, device).load(folder / MODEL, env=env, device=device)
        name = REPLAY_BUFFER
        if isinstance(model, OffPolicyAlgorithm) and (folder / REPLAY_BUFFER).is_file():
            model.load_replay_buffer(folder / REPLAY_BUFFER)
        name = VECNORMALIZE
        if inner_vecnormalize is not None and (folder / VECNORMALIZE).is_file():
            saved = VecNormalize.load(str(folder / VECNORMALIZE), inner_vecnormalize.venv)
            inner_vecnormalize.obs_rms, inner_vecnormalize.ret_rms = saved.obs_rms, saved.ret_rms
    except (OSError, EOFError, ValueError, KeyError, AttributeError, pickle.UnpicklingError) as e:
        raise CheckpointError(
            f"cannot resume from {folder / name}: {type(e).__name__}: {e}; the file is damaged: delete it (or the"
            " whole checkpoint folder) to resume from an older checkpoint, or start a new run"
        ) from e
    logger.info("Resuming %s from step %d (%s)", folder, model.num_timesteps, folder.name)
    return model, inner_vecnormalize


def _best_sharpe(run_dir: Path) -> float | None:
    manifest = run_dir / BEST / MANIFEST
    if not manifest.is_file():
        return None
    sharpe = json.loads(manifest.read_text(encoding="utf-8")).get("validation", {}).get("sharpe")
    return None if sharpe is None else float(sharpe)


def _hparams(cfg: BotConfig) -> dict[str, Any]:
    t = cfg.training
    section = t.dqn if t.algo == "ddqn" else t.ppo
    hparams: dict[str, Any] = {
        "algo": t.algo,
        "n_workers": t.n_workers,
        "n_envs_per_worker": t.n_envs_per_worker,
        "seed": cfg.seed,
        "window": cfg.env.window,
        "reward": cfg.env.reward,
    }
    for key, value in section.model_dump().items():
        hparams[key] = str(value) if isinstance(value, list) else value
    return hparams


@dataclass(slots=True)
class _Callbacks:
    """The callbacks of one ``learn`` call, with handles on the ones the trainer asks afterwards."""

    all: CallbackList
    validator: ValidationCallback
    progress: ProgressCallback
    throughput: ThroughputCallback


def _callbacks(
    cfg: BotConfig,
    writer: CheckpointWriter,
    validate: Callable[[], ValidationResult],
    vecnormalize: VecNormalize | None,
    best_sharpe: float | None,
    reporting: tuple[EventWriter, StopFlag, bool, LogStats | None, OnValidation | None],
) -> _Callbacks:
    events, stop, show_progress, log_stats, on_validation = reporting
    t = cfg.training
    validator = ValidationCallback(
        t.eval_freq, validate, writer, vecnormalize, t.early_stop_patience, best_sharpe, on_validation
    )
    progress = ProgressCallback(t.total_timesteps, events, stop, show_progress, t.progress_event_every_s)
    throughput = ThroughputCallback()
    callbacks = [
        throughput,
        HParamCallback(_hparams(cfg)),
        EnvMetricsCallback(log_stats),
        progress,
        PeriodicCheckpointCallback(t.checkpoint_freq, writer, vecnormalize, events),
        validator,
    ]
    return _Callbacks(CallbackList(callbacks), validator, progress, throughput)


def _finish(
    model: BaseAlgorithm,
    writer: CheckpointWriter,
    vecnormalize: VecNormalize | None,
    cbs: _Callbacks,
    stop: StopFlag,
    events: EventWriter,
    setup: tuple[WorkerLayout, str, str],
) -> TrainOutcome:
    """Final validation (unless interrupted), the latest checkpoint with its status, and the closing event.

    A stop requested during the final validation ends it: the run is saved as ``interrupted``, not ``completed``.
    """
    result: ValidationResult | None = None
    if not stop.is_set:
        cbs.validator.init_callback(model)  # also when learn() did not run (resumed at the end of the budget)
        try:
            result = cbs.validator.run_now()
            model.logger.dump(model.num_timesteps)
        except RunCancelledError:
            logger.warning("Final validation stopped on %s at step %d", stop.reason, model.num_timesteps)
    if stop.is_set:
        status, result = "interrupted", None
    else:
        status = "early_stopped" if cbs.validator.early_stopped else "completed"
    extra = {"validation": result.as_dict()} if result is not None else {}
    run_dir = writer.run_dir
    if writer.cfg.training.checkpoint_freq > 0 and not (run_dir / f"{STEP_PREFIX}{model.num_timesteps}").is_dir():
        writer.save_step(model, vecnormalize)  # the numbered series ends with the final model
    writer.save_latest(model, vecnormalize, status, extra)
    if status == "interrupted":
        events.emit("cancelled", reason=stop.reason, timesteps=model.num_timesteps, path=str(run_dir))
    else:
        events.emit("completed", timesteps=model.num_timesteps, path=str(run_dir), metrics=extra.get("validation", {}))
    if result is not None:
        cbs.validator.report_final(result)
    logger.info("Training %s at step %d; checkpoint %s", status, model.num_timesteps, run_dir)
    layout, device, device_reason = setup
    speed = cbs.throughput.result(device, device_reason)
    best = cbs.validator.best_sharpe
    return TrainOutcome(run_dir, status, model.num_timesteps, result, best, run_dir / TB_DIR, layout, speed)


def train(
    cfg: BotConfig,
    dataset: Dataset | Universe,
    run_dir: Path,
    *,
    resume: bool = False,
    events: EventWriter | None = None,
    stop: StopFlag | None = None,
    show_progress: bool = False,
    worker_init: WorkerInit | None = None,
    log_stats: LogStats | None = None,
    resume_from: Path | None = None,
    on_validation: OnValidation | None = None,
) -> TrainOutcome:
    """Train ``cfg.training.algo`` on ``dataset``'s train split, validating on its validation split (a supervised
    baseline, ``rf`` or ``gbm``, is fitted by :func:`bot.training.supervised.train_supervised` instead).

    :param cfg: the resolved config (saved with every checkpoint).
    :param dataset: built once in this process (scaler fit on train, or the resumed run's scaler); a universe
        (``env.mode: universe``) trains on every symbol, validates on each and saves every symbol's scaler.
    :param run_dir: the run folder (exists; holds the previous checkpoint when resuming).
    :param resume: continue the model, optimiser, normalisation and step count saved in ``run_dir``.
    :param resume_from: the checkpoint folder to resume from; default the newest complete one of ``run_dir``.
    :param events: the JSON-lines event writer (default: none written).
    :param stop: set by SIGINT/SIGTERM handlers; training then saves and ends with status ``interrupted``
        (default: a flag nobody sets).
    :param show_progress: rich progress bar instead of periodic log lines.
    :param worker_init: SmartLogger initialiser for worker processes.
    :param log_stats: the SmartLogger listener's counters, for ``logging/suppressed_*``.
    :param on_validation: called after every validation (periodic and final) with its metrics, once the run
        folder's latest checkpoint holds the validated model, e.g. to report to a tuner within one call.
    :raises TrainingError: when an environment or a worker fails (after saving a ``failed`` checkpoint).
    :raises RunCancelledError: when ``stop`` is set while the workers start (nothing is saved).
    :raises CheckpointError: when the checkpoint to resume from is incomplete or unreadable.
    :raises ValueError: when ``dataset`` carries no feature scaler.
    """
    scaler = SymbolScalers.of(dataset) if isinstance(dataset, Universe) else dataset.scaler
    if scaler is None:
        raise ValueError("the dataset carries no feature scaler; build it with bot.data.build_dataset")
    events = events if events is not None else EventWriter(None)
    stop = stop if stop is not None else StopFlag()
    if resume and resume_from is None:
        resume_from = checkpoint_folder(run_dir, "latest")
    if cfg.training.algo in SUPERVISED_ALGOS:  # rf / gbm: fitted in one process, saved in the same layout
        if isinstance(dataset, Universe):
            raise ConfigError(f"training.algo={cfg.training.algo!r} fits one symbol; env.mode=universe needs RL")
        fit = train_supervised(cfg, dataset, run_dir, events, stop, resume_from)
        if fit.validation is not None and on_validation is not None:  # its one validation, after the save
            on_validation(ValidationReport(fit.validation, fit.timesteps, final=True))
        sharpe = fit.validation.sharpe if fit.validation is not None else None
        return TrainOutcome(run_dir, fit.status, fit.timesteps, fit.validation, sharpe, run_dir / TB_DIR)
    device, device_reason = choose_device(cfg)
    logger.info("Policy device: %s (%s)", device, device_reason)
    layout = choose_layout(
        cfg, env_factory(cfg, dataset), worker_init=worker_init, should_stop=lambda: stop.is_set
    )
    cfg = layout.apply(cfg)  # the run's config (saved with it) names the layout it ran with
    logger.info("Worker layout: %d x %d envs (%s)", layout.n_workers, layout.n_envs_per_worker, layout.reason)
    th.set_num_threads(learner_threads(cfg))
    env, inner, vecnormalize = build_train_env(cfg, dataset, worker_init, stop)
    sb3_logger = configure(str(run_dir / TB_DIR), ["tensorboard"])
    eval_envs: list[gym.Env[Any, Any]] = []
    cbs: _Callbacks | None = None
    try:
        eval_envs = [StopOnFlag(e, stop) for e in validation_envs(cfg, dataset)]
        if resume_from is not None:
            model, vecnormalize = _load_for_resume(resume_from, cfg, env, vecnormalize, device)
        else:
            model = build_model(cfg.training, env, cfg.seed, device, tensorboard_log=None)
            # the run's config and scaler before the first checkpoint: a run killed before it can be resumed
            atomic_write_bytes(run_dir / CONFIG, cfg.to_yaml().encode())
            scaler.save(run_dir / SCALER)
        model.set_logger(sb3_logger)
        info = run_info(run_dir, cfg, dataset, env.observation_space, env.action_space)
        writer = CheckpointWriter(run_dir, cfg, info, scaler)
        cbs = _callbacks(
            cfg,
            writer,
            validator(model, eval_envs, vecnormalize, cfg.data.base_timeframe),
            vecnormalize,
            _best_sharpe(run_dir) if resume_from is not None else None,
            (events, stop, show_progress, log_stats, on_validation),
        )
        remaining = cfg.training.total_timesteps - model.num_timesteps
        total = cfg.training.total_timesteps
        events.emit("started", run_dir=str(run_dir), timesteps=model.num_timesteps, total_timesteps=total)
        try:
            if remaining > 0:
                model.learn(remaining, callback=cbs.all, reset_num_timesteps=resume_from is None)
        except RunCancelledError:  # a stop while waiting for a worker or validating: saved as interrupted below
            cbs.progress.close()
        except Exception as e:  # save what was learnt; the command reports the error and exits non-zero
            cbs.progress.close()
            try:
                writer.save_latest(model, vecnormalize, "failed", {"error": str(e)})
            except OSError as save_error:  # e.g. the disk is full: report the first error, not this one
                logger.error("Could not save the checkpoint of the failed run: %s", save_error)
            raise
        return _finish(model, writer, vecnormalize, cbs, stop, events, (layout, device, device_reason))
    finally:
        if cbs is not None:
            cbs.progress.close()
        sb3_logger.close()
        env.close()
        inner.close()
        for eval_env in eval_envs:
            eval_env.close()
