"""``python -m bot train`` (== ``scripts/train_parallel_agents.py``): resolve the config, set up the run folder and
logging, train with signal handling, and print where everything went plus the final validation metrics.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import re
import shutil
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from bot.config import ALGO_SECTIONS, SUPERVISED_ALGOS, BotConfig, load_config
from bot.data import SCALERS
from bot.errors import CheckpointError, ConfigError
from bot.training.checkpoints import (
    CONFIG,
    SCALER,
    checkpoint_folder,
    find_latest_run,
    is_run_folder,
    read_manifest,
    step_folders,
)
from bot.training.events import HEARTBEAT_INTERVAL_S, EventWriter
from bot.training.integrity import PENDING, manifest_timesteps, newest_complete, recover_run
from bot.training.manifest import MANIFEST
from bot.training.progress import StopFlag
from bot.training.timeouts import RunCancelledError
from bot.training.trainer import TB_DIR, TrainOutcome, train

logger = logging.getLogger(__name__)

#: CLI flag (argparse dest) -> config key.
FLAG_KEYS: dict[str, str] = {
    "checkpoint_dir": "training.checkpoint_dir",
    "algo": "training.algo",
    "workers": "training.n_workers",
    "envs_per_worker": "training.n_envs_per_worker",
    "timesteps": "training.total_timesteps",
    "seed": "seed",
    "device": "training.device",
}
#: exit code of a run stopped by SIGINT/SIGTERM after saving its checkpoint (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130
#: settings a resumed model is built on: an override would be written into the run's config but ignored by the model
_FIXED_ON_RESUME = (
    "training.algo",
    "training.ppo.net_arch",
    "training.dqn.net_arch",
    "training.extractor",
    "training.vecnormalize",
    "env.window",
)


def flag_overrides(args: argparse.Namespace) -> list[str]:
    """The ``--set`` overrides followed by the explicit flags, as ``dotted.key=value`` strings (flags win)."""
    overrides = list(getattr(args, "overrides", None) or [])
    for dest, key in FLAG_KEYS.items():
        value = getattr(args, dest, None)
        if value is not None:
            overrides.append(f"{key}={json.dumps(value)}")
    return overrides


def _new_run_dir(cfg: BotConfig) -> Path:
    parent = Path(cfg.training.checkpoint_dir)
    if cfg.run_name:
        run_dir = parent / cfg.run_name
        if is_run_folder(run_dir):
            raise ConfigError(
                f"run folder {run_dir} already holds a run; pass --resume {run_dir} to continue it or set another"
                " run_name"
            )
        run_dir.mkdir(parents=True, exist_ok=True)
        return run_dir
    symbol = re.sub(r"[^A-Za-z0-9]+", "", cfg.data.symbol)
    base = f"{cfg.training.algo}_{symbol}_{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
    parent.mkdir(parents=True, exist_ok=True)
    run_dir, n = parent / base, 1
    while True:
        try:
            # mkdir claims the name atomically: trainers started in the same second (the control API starts queued
            # jobs together) never share a run folder, as an exists() check followed by mkdir could
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            n += 1
            run_dir = parent / f"{base}-{n}"


@dataclass(frozen=True, slots=True)
class RunPlan:
    """What ``bot train`` will do.

    :param cfg: the resolved config.
    :param run_dir: the run folder.
    :param resume: whether an existing run folder is continued.
    :param resume_from: the checkpoint folder to continue from (None: from step 0, also when a resumed run was
        stopped before its first complete checkpoint).
    :param notes: repairs and choices made while resuming, logged once logging is set up.
    """

    cfg: BotConfig
    run_dir: Path
    resume: bool
    resume_from: Path | None = None
    notes: tuple[str, ...] = ()


def check_device(device: str) -> None:
    """Refuse ``cuda`` where torch sees no CUDA device, before anything is written.

    :raises ConfigError: naming the setting and the fix.
    """
    if device != "cuda":
        return
    import torch  # only here: torch is a heavy import and most runs never ask for CUDA

    if not torch.cuda.is_available():
        build = f"torch {torch.__version__}" + ("" if torch.version.cuda else " built without CUDA")
        raise ConfigError(
            f"training.device='cuda' but no CUDA device is available ({build}); use --device cpu, or --device auto"
            " to take CUDA when present"
        )


def _check_fixed_on_resume(saved: BotConfig, cfg: BotConfig, run_dir: Path) -> None:
    """Settings the saved model is built on cannot change on resume: the model would ignore them silently."""
    for key in _FIXED_ON_RESUME:
        before, after = saved, cfg
        for part in key.split("."):
            before, after = getattr(before, part), getattr(after, part)
        if before != after:
            raise ConfigError(
                f"{key}={after!r} cannot resume {run_dir}, a run built with {key}={before!r}: the saved model keeps"
                f" its own; drop the {key} override, or start a new run"
            )


def _resume_plan(args: argparse.Namespace, overrides: list[str]) -> RunPlan:
    if args.resume == "latest":
        parent = args.checkpoint_dir or load_config(args.config, overrides).training.checkpoint_dir
        run_dir = find_latest_run(Path(parent))
    else:
        run_dir = Path(args.resume)
    if not is_run_folder(run_dir):
        checkpoint_folder(run_dir, "latest")  # raises CheckpointError naming the folder
    notes = [f"repaired {run_dir}: {note}" for note in recover_run(run_dir)]
    folder, skipped = newest_complete(run_dir)
    if folder is None and skipped:  # checkpoints were written, but every one is damaged: never restart silently
        raise CheckpointError(
            f"cannot resume {run_dir}: no checkpoint in it is complete ({'; '.join(skipped)}); restore the named"
            " files, or delete the damaged checkpoint folders (or the run folder's manifest.json) to train the run"
            " again from step 0"
        )
    notes += [f"passed over the newer checkpoint {line}" for line in skipped]
    base = folder if folder is not None else run_dir
    if not (base / CONFIG).is_file():
        raise CheckpointError(f"{run_dir} has no {CONFIG}; it was not written by `bot train`, start a new run")
    saved = load_config(base / CONFIG)
    cfg = load_config(base / CONFIG, overrides)
    _check_fixed_on_resume(saved, cfg, run_dir)
    check_device(cfg.training.device)
    if folder is None:
        notes.append(f"{run_dir} holds no complete checkpoint (stopped before its first save); training from step 0")
    elif folder != run_dir:
        notes.append(f"resuming from {folder.name}, the newest complete checkpoint")
    return RunPlan(cfg, run_dir, True, folder, tuple(notes))


#: the algorithms whose runs refuse ``--set`` keys of the other algorithms' sections (the older ones keep accepting
#: them: configs and tests written for them set the PPO and DQN sections together)
_STRICT_SECTIONS = ("recurrent_ppo", "rf", "gbm")


def check_algo_keys(cfg: BotConfig, overrides: list[str]) -> None:
    """Refuse ``--set training.<section>.<key>`` overrides that ``training.algo`` would ignore (for the algorithms of
    :data:`_STRICT_SECTIONS`), e.g. Double-DQN keys on a recurrent PPO run.

    :raises ConfigError: naming the key, the algorithm and the sections it reads.
    """
    algo = cfg.training.algo
    if algo not in _STRICT_SECTIONS:
        return
    own = ALGO_SECTIONS[algo]
    others = {s for sections in ALGO_SECTIONS.values() for s in sections} - set(own)
    for override in overrides:
        key = override.partition("=")[0].strip()
        parts = key.split(".")
        if len(parts) >= 2 and parts[0] == "training" and parts[1] in others:
            raise ConfigError(
                f"{key} does not apply to training.algo={algo!r}, which reads"
                f" {', '.join(f'training.{s}.*' for s in own)}; drop the override or pick the algorithm it is for"
            )


def resolve_run(args: argparse.Namespace) -> RunPlan:
    """The resolved config, the run folder and where it resumes from.

    With ``--resume`` the run's own ``config.yaml`` is the base (``--config`` is ignored) and overrides apply on
    top, e.g. ``--timesteps`` to extend the budget; a kill's leftovers are repaired first and the newest complete
    checkpoint (the top level or a ``step_<N>/``) is chosen.

    :raises ConfigError: for a bad config or override, a ``run_name`` that already holds a run, ``cuda`` without
        CUDA, or an override of a setting the resumed model is built on (algorithm, network, window).
    :raises CheckpointError: when the run to resume does not exist.
    """
    overrides = flag_overrides(args)
    if args.resume:
        return _resume_plan(args, overrides)
    cfg = load_config(args.config, overrides)
    check_device(cfg.training.device)
    check_algo_keys(cfg, overrides)
    return RunPlan(cfg, _new_run_dir(cfg), False)


@contextmanager
def stop_on_signals(stop: StopFlag) -> Iterator[None]:
    """SIGINT/SIGTERM set ``stop`` (training then saves and ends); a second SIGINT interrupts at once."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stop.is_set and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set(name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _summary(outcome: TrainOutcome, log_file: Path | None, supervised: bool = False) -> str:
    """The closing lines of ``bot train``; a supervised baseline counts trees and has no TensorBoard log."""
    lines = [
        f"Fitting {outcome.status} with {outcome.timesteps} trees."
        if supervised
        else f"Training {outcome.status} after {outcome.timesteps} steps.",
        f"  checkpoint:  {outcome.run_dir}  (best model: {outcome.run_dir / 'best'})",
    ]
    if not supervised:
        lines.append(f"  TensorBoard: {outcome.tensorboard_dir}   ->  tensorboard --logdir {outcome.tensorboard_dir}")
    if log_file is not None:
        lines.append(f"  logs:        {log_file}")
    if outcome.layout is not None:
        layout = outcome.layout
        lines.append(f"  layout:      {layout.n_workers} x {layout.n_envs_per_worker} envs ({layout.reason})")
    if outcome.throughput is not None:
        speed = outcome.throughput
        lines.append(
            f"  speed:       {speed.env_steps_per_s:,.0f} env-steps/s, learner {speed.learner_share:.0%} of the time,"
            f" device {speed.device} ({speed.device_reason})"
        )
    if outcome.validation is not None:
        v = outcome.validation
        lines.append(
            f"Evaluation on the validation split ({v.steps} bars): Sharpe {v.sharpe:.3f}, return"
            f" {v.total_return:+.2%}, max drawdown {v.max_drawdown:.2%}, trades {v.trades}, fees {v.fees:.2f}"
        )
    if outcome.best_sharpe is not None:
        lines.append(f"  best validation Sharpe: {outcome.best_sharpe:.3f}")
    lines.append(f"Next: python -m bot evaluate --checkpoint {outcome.run_dir}")
    return "\n".join(lines)


def _os_error(e: OSError) -> CheckpointError:
    """One line naming the file, the system's reason and the fix, instead of a traceback."""
    fixes = {
        errno.ENOSPC: "free disk space or set training.checkpoint_dir to a disk with room",
        errno.EDQUOT: "free disk space (quota) or set training.checkpoint_dir to another disk",
        errno.EROFS: "the file system is read-only: set training.checkpoint_dir to a writable folder",
        errno.EACCES: "no permission: fix the folder's permissions or set training.checkpoint_dir elsewhere",
        errno.EPERM: "no permission: fix the folder's permissions or set training.checkpoint_dir elsewhere",
    }
    fix = fixes.get(e.errno or 0, "check the path and the disk")
    return CheckpointError(f"cannot write {e.filename or 'the run folder'}: {e.strerror or e}; {fix}")


def _discard_if_unsaved(plan: RunPlan) -> None:
    """Remove what a new run wrote when it ended before its first checkpoint (the folder would hold only a log).

    Only the run's own files go (log, config, scaler, TensorBoard folder, temp files); the folder itself only when
    that leaves it empty, so a ``run_name`` pointing at a folder of the user's keeps the user's files.
    """
    run_dir = plan.run_dir
    if plan.resume or not run_dir.is_dir() or (run_dir / MANIFEST).is_file() or step_folders(run_dir):
        return
    logs = tuple(Path(name).parts[0] for name in (plan.cfg.logging.file, plan.cfg.logging.jsonl_file) if name)
    for path in run_dir.iterdir():
        if path.name in (CONFIG, SCALER, SCALERS, TB_DIR, PENDING) or path.name.startswith((*logs, ".")):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    try:
        run_dir.rmdir()
    except OSError:
        logger.debug("kept %s: it holds files of its own", run_dir)


@dataclass(frozen=True, slots=True)
class _Ran:
    """A run that ended without an exception: its outcome and its log file."""

    outcome: TrainOutcome
    log_file: Path | None


def _train_in_folder(plan: RunPlan, args: argparse.Namespace, events: EventWriter, stop: StopFlag) -> _Ran:
    from bot.training.logsetup import training_logging  # heavy imports after the arguments are checked
    from bot.training.universe import build_training_data

    cfg, run_dir, source = plan.cfg, plan.run_dir, plan.resume_from
    show_progress = not args.no_progress and sys.stderr.isatty()
    with training_logging(cfg, run_dir) as (worker_init, log_stats, log_file), stop_on_signals(stop):
        logger.info("Run folder %s (%s)", run_dir, "resumed" if plan.resume else "new")
        if plan.notes:  # one record: the SmartLogger deduplicates WARNINGs by their template
            logger.warning("Resuming %s: %s", run_dir, "; ".join(plan.notes))
        dataset = build_training_data(cfg, source)
        if source is not None:
            read_manifest(source, dataset.schema_hash)
        if stop.is_set:
            raise RunCancelledError(f"stop requested ({stop.reason}) while the dataset was built")
        outcome = train(
            cfg,
            dataset,
            run_dir,
            resume=source is not None,
            resume_from=source,
            events=events,
            stop=stop,
            show_progress=show_progress,
            worker_init=worker_init,
            log_stats=log_stats,
        )
    return _Ran(outcome, log_file)


def run_train(args: argparse.Namespace) -> int:
    """Handler of ``bot train``; returns 0 when done, 130 when stopped by a signal (checkpoint saved, or none yet when
    stopped during start-up).

    A new run that fails or is stopped before its first checkpoint leaves no run folder behind.

    :raises TrainingError: when an environment or worker fails (a ``failed`` checkpoint is saved first).
    :raises CheckpointError: for a run folder that cannot be written (disk full, read-only, permissions).
    """
    try:
        plan = resolve_run(args)
    except OSError as e:  # the run folder cannot be created
        raise _os_error(e) from e
    events = EventWriter(args.events_jsonl, args.events_heartbeat_s or HEARTBEAT_INTERVAL_S)
    stop = StopFlag()
    try:
        ran = _train_in_folder(plan, args, events, stop)
    except RunCancelledError:
        _discard_if_unsaved(plan)
        done = manifest_timesteps(plan.resume_from) if plan.resume_from is not None else 0
        events.emit("cancelled", reason=stop.reason, timesteps=done or 0, path=str(plan.run_dir))
        print(f"Training cancelled ({stop.reason}) before it started; nothing was saved.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:
        _discard_if_unsaved(plan)
        error = _os_error(e) if isinstance(e, OSError) else e
        events.emit("failed", error=f"{type(error).__name__}: {error}")
        if error is not e:
            raise error from e
        raise
    finally:
        events.close()
    print(_summary(ran.outcome, ran.log_file, plan.cfg.training.algo in SUPERVISED_ALGOS))
    return EXIT_INTERRUPTED if ran.outcome.status == "interrupted" else 0
