"""``python -m bot tune`` (== ``scripts/tune.py``): a hyperparameter search, PBT or seed retraining on Ray Tune.

Everything the user gave is checked before Ray starts (flags, config, search space against the schema, the
cluster address); the dataset is built once here and shared with every trial through Ray's object store.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import signal
import sys
from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.config import BotConfig
from bot.errors import ConfigError
from bot.training import EventWriter
from bot.tune.address import check_address
from bot.tune.space import WALK_FORWARD_PBT, SearchSpace, check_against_schema, check_scheduler, load_space

#: Exit code of an experiment stopped by SIGINT (saved; ``--resume`` continues it).
EXIT_INTERRUPTED = 130
#: Exit code of an experiment whose trials all failed (the leaderboard names their errors).
EXIT_NO_TRIAL = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def metric_names() -> list[str]:
    """The metrics a trial reports: the validation metrics (net of costs) and ``timesteps``."""
    from bot.training import ValidationResult

    return [f.name for f in fields(ValidationResult)] + ["timesteps"]


def check_args(args: argparse.Namespace) -> None:
    """Refuse bad flags with the flag, the value and the fix.

    :raises ConfigError: for any bad flag.
    """
    if args.trials < 1:
        raise ConfigError(f"--trials {args.trials} must be >= 1")
    if args.seeds < 1:
        raise ConfigError(f"--seeds {args.seeds} must be >= 1")
    if args.top_k < 1:
        raise ConfigError(f"--top-k {args.top_k} must be >= 1")
    if args.cpus_per_trial is not None and args.cpus_per_trial <= 0:
        raise ConfigError(f"--cpus-per-trial {args.cpus_per_trial} must be > 0")
    if args.gpus_per_trial < 0:
        raise ConfigError(f"--gpus-per-trial {args.gpus_per_trial} must be >= 0")
    if args.max_concurrent is not None and args.max_concurrent < 1:
        raise ConfigError(f"--max-concurrent {args.max_concurrent} must be >= 1")
    if args.max_failures < 0:
        raise ConfigError(f"--max-failures {args.max_failures} must be >= 0 (0: a failed trial is not retried)")
    if args.metric not in metric_names():
        raise ConfigError(f"--metric {args.metric!r} is not reported by a trial; use one of {metric_names()}")
    if args.name is not None and not _NAME.match(args.name):
        raise ConfigError(f"--name {args.name!r}: use letters, digits, '.', '_' and '-' (it names a folder)")
    if args.walk_forward is not None and args.walk_forward < 2:
        raise ConfigError(f"--walk-forward {args.walk_forward} must be >= 2 (folds)")
    if args.walk_forward is not None and args.scheduler == "pbt":
        raise ConfigError(WALK_FORWARD_PBT.format(flag="--walk-forward", scheduler="--scheduler"))
    if args.resume and args.name is None:
        raise ConfigError("--resume needs --name NAME: the experiment to continue (a folder under --storage)")


def default_cpus(cfg: BotConfig) -> float:
    """CPUs of one trial: the learner plus its worker processes (workers run in-process when ``n_workers`` is 1)."""
    n_workers = cfg.training.n_workers
    return float(1 + n_workers) if isinstance(n_workers, int) and n_workers > 1 else 1.0


def _spec(args: argparse.Namespace, cfg: BotConfig, space: SearchSpace) -> Any:
    from bot.tune.experiment import ExperimentSpec
    from bot.tune.trial import TrialSetup, interval_steps

    name = args.name or f"tune_{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
    storage = Path(args.storage).resolve()
    setup = TrialSetup(str(Path(args.config).resolve()), tuple(args.overrides), str(storage / name / "runs"))
    return ExperimentSpec(
        name=name,
        storage=storage,
        space=space,
        setup=setup,
        n_trials=args.trials,
        scheduler=args.scheduler,
        search=args.search,
        metric=args.metric,
        mode=args.mode,
        cpus_per_trial=args.cpus_per_trial or default_cpus(cfg),
        gpus_per_trial=args.gpus_per_trial,
        max_failures=args.max_failures,
        # walk-forward: one report per fold (ASHA's rungs count folds)
        max_intervals=args.walk_forward or math.ceil(cfg.training.total_timesteps / interval_steps(cfg)),
        perturbation_interval=args.perturbation_interval,
        pbt_synch=args.pbt_synch,
        seed=cfg.seed,
        max_concurrent=args.max_concurrent,
    )


def _print_rows(rows: list[Any], metric: str, limit: int = 10) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Trials by best {metric}")
    for column in ("rank", "trial", "status", f"best {metric}", "timesteps", "restores", "params"):
        table.add_column(column)
    for rank, r in enumerate(rows[:limit], start=1):
        params = ", ".join(f"{k.rsplit('.', 1)[-1]}={v:.3g}" if isinstance(v, float) else f"{k.rsplit('.', 1)[-1]}={v}"
                           for k, v in r.params.items())
        table.add_row(str(rank), r.trial_id, r.status, "n/a" if math.isnan(r.score) else f"{r.score:.3f}",
                      f"{r.metrics.get('timesteps', 0):.0f}", str(len(r.restores)), params)
    Console().print(table)


def _interrupted(results: Any) -> bool:
    """Whether the experiment stopped before its trials ended (SIGINT): a trial neither done nor failed."""
    return any(r.error is None and not (r.metrics or {}).get("done", False) for r in results)


def run_tune(args: argparse.Namespace) -> int:
    """Handler of ``bot tune``: check everything, start or join Ray, run the experiment, write the results.

    With ``--events-jsonl`` (a control-API job) the experiment writes the trainer's events: ``started``, a ``trial``
    event per trial change, ``progress``, then ``completed`` (the best score), ``cancelled`` (SIGINT or SIGTERM:
    trials stopped, leaderboard written) or ``failed``.

    :return: 0 when the trials ended and at least one has a score (failed trials are on the leaderboard), 1 when
        every trial failed, 130 when interrupted by SIGINT (saved; ``--resume`` continues).
    :raises ConfigError: for a bad flag, config, search space or address.
    """
    heartbeat = {"heartbeat_s": args.events_heartbeat_s} if args.events_heartbeat_s else {}
    events = EventWriter(args.events_jsonl, **heartbeat)
    try:
        return _run(args, events)
    except Exception as e:  # the API job's error; the command reports it as any other and exits non-zero
        events.emit("failed", error=f"{type(e).__name__}: {e}")
        raise
    finally:
        events.close()


def _fold_datasets(cfg: BotConfig, n_folds: int) -> tuple[Any, ...]:
    """The datasets of the walk-forward folds of ``bot evaluate --cv-folds`` (each with its own scaler)."""
    from bot.data import build_market
    from bot.evaluation import fold_dataset, plan_folds

    market = build_market(cfg)
    return tuple(fold_dataset(market, cfg, fold) for fold in plan_folds(len(market), cfg, n_folds))


@contextlib.contextmanager
def _sigterm_stops_like_sigint() -> Iterator[None]:
    """While inside: SIGTERM (the control API's cancel) stops the experiment as Ctrl-C does (Tune stops the trials
    and saves); the previous handler comes back after."""
    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: os.kill(os.getpid(), signal.SIGINT))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace, events: EventWriter) -> int:
    check_args(args)
    if args.address is not None:
        check_address(args.address)  # fail fast on a bad address, before Ray and torch are imported
    space = load_space(args.space)
    cfg = check_against_schema(space, args.config, list(args.overrides))
    check_scheduler(space, args.scheduler, args.search)
    spec = _spec(args, cfg, space)
    if not args.resume and spec.path.exists():
        raise ConfigError(f"{spec.path} already holds an experiment; pass --resume to continue it or another --name")

    from bot.data import build_dataset  # heavy imports after the arguments are checked
    from bot.tune.events import TrialEvents
    from bot.tune.experiment import build_tuner, restore_tuner, start_ray
    from bot.tune.live_table import LiveTable
    from bot.tune.results import copy_best, trial_rows, write_leaderboard
    from bot.tune.seeds import retrain_top_k

    dataset = build_dataset(cfg) if args.walk_forward is None else _fold_datasets(cfg, args.walk_forward)
    started = start_ray(args.address, None)
    import ray

    budget = args.trials * space.n_grid * cfg.training.total_timesteps * (args.walk_forward or 1)
    # the live table in a terminal (it replaces Tune's own status tables); none for a job or a pipe
    live = LiveTable(spec.metric, spec.mode) if sys.stdout.isatty() and not args.events_jsonl else None
    trial_events = TrialEvents(events, spec.metric, spec.mode, budget, live.update if live is not None else None)
    events.emit("started", run_dir=str(spec.path), total_timesteps=budget)
    try:
        verbose = 0 if live is not None else 1
        tuner = (restore_tuner(spec, dataset, trial_events, verbose) if args.resume
                 else build_tuner(spec, dataset, [trial_events], verbose=verbose))
        with _sigterm_stops_like_sigint(), live if live is not None else contextlib.nullcontext():
            results = tuner.fit()
        trial_events.settle(results)
        rows = trial_rows(results, Path(spec.setup.runs_dir), spec.metric, spec.mode)
        spec.path.mkdir(parents=True, exist_ok=True)
        md, _csv = write_leaderboard(rows, spec.path, spec.metric)
        _print_rows(rows, spec.metric)
        if _interrupted(results):
            print(f"Experiment interrupted; saved. Continue it with: python -m bot tune --resume --name {spec.name}"
                  f" --storage {spec.storage} --space {args.space} --config {args.config}", file=sys.stderr)
            events.emit("cancelled", reason="SIGINT", timesteps=sum(trial_events.steps.values()),
                        path=str(spec.path))
            return EXIT_INTERRUPTED
        best = copy_best(rows, spec.path)
        print(f"Leaderboard: {md} (and .csv)")
        print(f"TensorBoard of every trial: tensorboard --logdir {spec.setup.runs_dir}")
        if best is None:
            print("No trial ended with a score: see the errors in the leaderboard.", file=sys.stderr)
            events.emit("failed", error=f"every trial failed; see {md}")
            return EXIT_NO_TRIAL
        print(f"Best run: {best}  ->  python -m bot evaluate --checkpoint {best}")
        if args.seeds > 1:
            retrain_top_k(spec, dataset, rows, args.top_k, args.seeds)
        events.emit("completed", timesteps=sum(trial_events.steps.values()), path=str(spec.path),
                    metrics={spec.metric: rows[0].score})
    finally:
        if started:
            ray.shutdown()
    return 0
