"""``python -m bot train`` (== ``scripts/train_parallel_agents.py``): resolve the config, set up the run folder and
logging, train with signal handling, and print where everything went plus the final validation metrics.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from bot.config import BotConfig, load_config
from bot.errors import ConfigError
from bot.training.checkpoints import CONFIG, SCALER, checkpoint_folder, find_latest_run, read_manifest
from bot.training.events import EventWriter
from bot.training.manifest import MANIFEST
from bot.training.progress import StopFlag
from bot.training.trainer import TrainOutcome, train

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
        if (run_dir / MANIFEST).exists():
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


def resolve_run(args: argparse.Namespace) -> tuple[BotConfig, Path, bool]:
    """The resolved config, the run folder and whether it resumes.

    With ``--resume`` the run's own ``config.yaml`` is the base (``--config`` is ignored) and overrides apply on
    top, e.g. ``--timesteps`` to extend the budget.

    :raises ConfigError: for a bad config or override, a ``run_name`` that already holds a run, or an algorithm
        other than the resumed run's.
    :raises CheckpointError: when the run to resume does not exist.
    """
    overrides = flag_overrides(args)
    if not args.resume:
        cfg = load_config(args.config, overrides)
        return cfg, _new_run_dir(cfg), False
    if args.resume == "latest":
        parent = args.checkpoint_dir or load_config(args.config, overrides).training.checkpoint_dir
        run_dir = find_latest_run(Path(parent))
    else:
        run_dir = Path(args.resume)
    checkpoint_folder(run_dir, "latest")  # raises CheckpointError naming the folder when it is not a run
    cfg = load_config(run_dir / CONFIG, overrides)
    saved_algo = read_manifest(run_dir).get("algorithm")
    if cfg.training.algo != saved_algo:
        raise ConfigError(
            f"training.algo={cfg.training.algo!r} cannot resume {run_dir}, a {saved_algo!r} run; drop --algo (or the"
            " training.algo override) or start a new run"
        )
    return cfg, run_dir, True


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


def _summary(outcome: TrainOutcome, log_file: Path | None) -> str:
    lines = [
        f"Training {outcome.status} after {outcome.timesteps} steps.",
        f"  checkpoint:  {outcome.run_dir}  (best model: {outcome.run_dir / 'best'})",
        f"  TensorBoard: {outcome.tensorboard_dir}   ->  tensorboard --logdir {outcome.tensorboard_dir}",
    ]
    if log_file is not None:
        lines.append(f"  logs:        {log_file}")
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


def run_train(args: argparse.Namespace) -> int:
    """Handler of ``bot train``; returns 0 when done, 130 when stopped by a signal (checkpoint saved).

    :raises TrainingError: when an environment or worker fails (a ``failed`` checkpoint is saved first).
    """
    cfg, run_dir, resume = resolve_run(args)
    events = EventWriter(args.events_jsonl)
    stop = StopFlag()
    show_progress = not args.no_progress and sys.stderr.isatty()
    from bot.data import FeatureScaler, build_dataset  # heavy imports after the arguments are checked
    from bot.training.logsetup import training_logging

    try:
        with training_logging(cfg, run_dir) as (worker_init, log_stats, log_file), stop_on_signals(stop):
            logger.info("Run folder %s (%s)", run_dir, "resumed" if resume else "new")
            dataset = build_dataset(cfg, FeatureScaler.load(run_dir / SCALER) if resume else None)
            if resume:
                read_manifest(run_dir, dataset.schema_hash)
            outcome = train(
                cfg,
                dataset,
                run_dir,
                resume=resume,
                events=events,
                stop=stop,
                show_progress=show_progress,
                worker_init=worker_init,
                log_stats=log_stats,
            )
    except Exception as e:
        events.emit("failed", error=f"{type(e).__name__}: {e}")
        raise
    finally:
        events.close()
    print(_summary(outcome, log_file))
    return EXIT_INTERRUPTED if outcome.status == "interrupted" else 0
