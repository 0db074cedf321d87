"""Walk-forward evaluation: train on each fold's window, test on the window after it, over several seeds.

The folds come from :func:`bot.data.walk_forward_folds` over every row of the data (``splits.walk_forward``: fold
count from ``--cv-folds``, embargo and test fraction from the config). With the ``rolling`` window (the default) each
fold trains on its own block only, so the folds share no bars at all; with ``expanding`` it trains on every row from
the first fold's start up to its own embargo, so later folds learn from more history (earlier folds' test windows
included, which are in their past). A test window never overlaps its fold's training rows. In each fold the last
``validation_fraction / (train_fraction + validation_fraction)`` of the training window is the validation split the
trainer selects ``best/`` on, and the feature scaler is fit on the rest of the training window only, so nothing of the
validation or test window leaks into training. The model is trained with the trainer's own Python API
(:func:`bot.training.trainer.train`) and tested with the same backtest as ``bot evaluate``. Every metric is reported
per fold and seed, and as the mean with a 95 % t confidence interval over all (fold, seed) runs. The baselines are
buy-and-hold, flat, the MA crossover and the random policy at the agent's trading pace (mean of
``evaluation.n_random_runs`` seeded runs), all on the same bars and costs as the agent.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from bot.atomic import atomic_write_bytes
from bot.config import BotConfig
from bot.data import Dataset, Fold, MarketData, build_market, dataset_from_market, walk_forward_folds
from bot.errors import ConfigError
from bot.evaluation.backtest import episode_rows, evaluation_config
from bot.evaluation.baselines import agent_pace, mean_ci, random_baseline
from bot.evaluation.report import json_safe
from bot.evaluation.runner import backtest_split, run_baselines
from bot.training import EventWriter, LogStats, StopFlag, WorkerInit, load_checkpoint, train

logger = logging.getLogger(__name__)

#: How each fold's training window is chosen: its own block only, or everything since the first fold's start.
Window = Literal["rolling", "expanding"]
WINDOWS: tuple[Window, ...] = ("rolling", "expanding")
#: Name of the random policy at the agent's trading pace in :attr:`FoldRun.metrics`.
RANDOM_PACED = "random_paced"


@dataclass(frozen=True, slots=True)
class FoldRun:
    """One (fold, seed) run: where it trained and tested, and every policy's metrics on the test window.

    :param fold: fold index.
    :param seed: the training seed.
    :param train: training rows (validation rows included).
    :param test: test rows.
    :param test_period: ISO dates of the first and last test bars.
    :param run_dir: the run folder of the trained model.
    :param metrics: policy name -> metric name -> value.
    :param train_period: ISO dates of the first and last training bars (validation included).
    :param train_seconds: wall-clock seconds of the training (validation runs included).
    """

    fold: int
    seed: int
    train: range
    test: range
    test_period: tuple[str, str]
    run_dir: Path
    metrics: dict[str, dict[str, float]]
    train_period: tuple[str, str] = ("", "")
    train_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class WalkForwardResult:
    """All runs of a walk-forward evaluation.

    :param n_folds: folds.
    :param seeds: training seeds.
    :param runs: one per (fold, seed), fold-major.
    """

    n_folds: int
    seeds: tuple[int, ...]
    runs: tuple[FoldRun, ...]

    def aggregate(self, policy: str = "agent") -> dict[str, tuple[float, float, float]]:
        """Metric -> (mean, 95 % CI low, 95 % CI high) of ``policy`` over every (fold, seed) run."""
        keys = list(self.runs[0].metrics[policy])
        table = np.array([[run.metrics[policy][k] for k in keys] for run in self.runs], dtype=np.float64)
        mean, half = mean_ci(table)
        return {k: (float(m), float(m - h), float(m + h)) for k, m, h in zip(keys, mean, half, strict=True)}

    def summary(self) -> str:
        """A plain-text summary: the agent's and the baselines' mean total return and Sharpe with 95 % CIs."""
        lines = [f"Walk-forward: {self.n_folds} folds x {len(self.seeds)} seed(s), mean [95% CI] over the runs"]
        for policy in self.runs[0].metrics:
            agg = self.aggregate(policy)
            ret, sharpe = agg["total_return"], agg["sharpe"]
            lines.append(
                f"  {policy:<24} total return {ret[0]:+.2%} [{ret[1]:+.2%}, {ret[2]:+.2%}]   "
                f"Sharpe {sharpe[0]:.2f} [{sharpe[1]:.2f}, {sharpe[2]:.2f}]"
            )
        return "\n".join(lines)


def fold_dataset(market: MarketData, cfg: BotConfig, fold: Fold) -> Dataset:
    """The dataset of one fold: train / validation / test rows and a scaler fit on the fold's train rows only.

    :raises ConfigError: when ``splits.validation_fraction`` is 0 (the trainer needs a validation split).
    """
    s = cfg.splits
    if s.validation_fraction <= 0:
        raise ConfigError(
            "walk-forward needs splits.validation_fraction > 0 (the trainer selects best/ on it); set e.g. 0.15"
        )
    n_validation = round(len(fold.train) * s.validation_fraction / (s.train_fraction + s.validation_fraction))
    train = range(fold.train.start, fold.train.stop - n_validation)
    splits = {"train": train, "validation": range(train.stop, fold.train.stop), "test": fold.test}
    return dataset_from_market(market, splits, cfg)


def _iso(ms: int) -> str:
    return str(np.datetime64(int(ms), "ms"))


def plan_folds(n_rows: int, cfg: BotConfig, n_folds: int, window: Window = "rolling") -> list[Fold]:
    """The walk-forward folds over ``n_rows`` bars: :func:`bot.data.walk_forward_folds`, widened for ``expanding``.

    :param n_rows: bars of the market.
    :param cfg: the config (``splits.walk_forward`` gives the embargo and test fraction).
    :param n_folds: folds (>= 2).
    :param window: ``rolling`` (each fold's own block) or ``expanding`` (from the first row up to the embargo).
    :raises ConfigError: for fewer than 2 folds or an unknown window.
    :raises DataError: when a fold's training or test window would be empty.
    """
    if n_folds < 2:
        raise ConfigError(f"walk-forward needs at least 2 folds, got {n_folds}")
    if window not in WINDOWS:
        raise ConfigError(f"walk-forward window {window!r} is not one of {list(WINDOWS)}")
    folds = walk_forward_folds(n_rows, cfg.splits.walk_forward.model_copy(update={"n_folds": n_folds}))
    if window == "expanding":
        # the test windows and embargoes stay those of walk_forward_folds; only the training start moves back
        folds = [Fold(range(folds[0].train.start, f.train.stop), f.test) for f in folds]
    return folds


def _test_fold(
    cfg: BotConfig, dataset: Dataset, run_dir: Path, which: str, fees_off: bool
) -> tuple[dict[str, dict[str, float]], tuple[str, str]]:
    """The test-window metrics of the trained agent, the baselines and the random policy at the agent's pace."""
    loaded = load_checkpoint(run_dir, which, schema_hash=dataset.schema_hash)
    ecfg = evaluation_config(cfg, zero_costs=fees_off)
    env, agent, _ = backtest_split(ecfg, dataset, "test", loaded.model, loaded.vecnormalize, str(run_dir))
    results = {"agent": agent, **run_baselines(env, ecfg)}
    metrics = {name: {k: float(v) for k, v in r.metrics.as_dict().items()} for name, r in results.items()}
    levels = env.actions.targets
    ev = ecfg.evaluation
    paced = random_baseline(
        dataset.market,
        episode_rows(env),
        levels,
        ecfg.portfolio,
        ecfg.data.base_timeframe,
        ev.n_random_runs,
        ecfg.seed,
        ev.risk_free_rate,
        agent_pace(agent.exposure, len(levels)),
    )
    metrics[RANDOM_PACED] = {k: float(v) for k, v in paced.mean.items()}
    return metrics, (_iso(int(agent.time_ms[0])), _iso(int(agent.time_ms[-1])))


def run_fold(
    cfg: BotConfig,
    dataset: Dataset,
    fold: int,
    run_dir: Path,
    which: str = "best",
    fees_off: bool = False,
    worker_init: WorkerInit | None = None,
    log_stats: LogStats | None = None,
) -> FoldRun:
    """Train one (fold, seed) on the dataset's train split, select on its validation split, test on its test split.

    :param cfg: the run's config; ``cfg.seed`` seeds the training and the random baseline.
    :param dataset: the fold's dataset (:func:`fold_dataset`).
    :param fold: fold index, for the record.
    :param run_dir: the run folder (created when missing).
    :param which: which checkpoint to test (``best`` or ``latest``).
    :param fees_off: test with zero fees and slippage (training always uses the configured costs).
    :param worker_init: SmartLogger initialiser for worker processes.
    :param log_stats: the SmartLogger listener's counters.
    :return: the run with every policy's test metrics.
    """
    splits = dataset.splits
    train_rows = range(splits["train"].start, splits["validation"].stop)
    run_dir.mkdir(parents=True, exist_ok=True)
    logger.info("Walk-forward fold %d seed %d: train rows %s, test rows %s", fold, cfg.seed, train_rows, splits["test"])
    started = time.perf_counter()
    train(
        cfg,
        dataset,
        run_dir,
        resume=False,
        events=EventWriter(None),
        stop=StopFlag(),
        show_progress=False,
        worker_init=worker_init,
        log_stats=log_stats,
    )
    train_s = time.perf_counter() - started
    metrics, test_period = _test_fold(cfg, dataset, run_dir, which, fees_off)
    times = dataset.market.open_time_ms
    train_period = (_iso(int(times[train_rows.start])), _iso(int(times[train_rows.stop - 1])))
    return FoldRun(fold, cfg.seed, train_rows, splits["test"], test_period, run_dir, metrics, train_period, train_s)


def run_walk_forward(
    cfg: BotConfig,
    n_folds: int,
    n_seeds: int,
    out_dir: Path,
    which: str = "best",
    fees_off: bool = False,
    worker_init: WorkerInit | None = None,
    log_stats: LogStats | None = None,
    window: Window = "rolling",
) -> WalkForwardResult:
    """Train and test every (fold, seed) and collect the test metrics of the agent and the baselines.

    :param cfg: the config to train with (the checkpoint's plus overrides); ``cfg.seed + s`` seeds run ``s``.
    :param n_folds: folds (>= 2).
    :param n_seeds: seeds per fold (>= 1).
    :param out_dir: parent folder of the run folders ``fold<i>_seed<s>/``.
    :param which: which checkpoint of each run to test (``best`` or ``latest``).
    :param fees_off: test with zero fees and slippage (training always uses the configured costs).
    :param worker_init: SmartLogger initialiser for worker processes.
    :param log_stats: the SmartLogger listener's counters.
    :param window: ``rolling`` or ``expanding`` training windows (see :func:`plan_folds`).
    :raises ConfigError: for fewer than 2 folds or 1 seed.
    :raises DataError: when a fold's windows are empty or hold no episode.
    """
    if n_folds < 2 or n_seeds < 1:
        raise ConfigError(f"walk-forward needs at least 2 folds and 1 seed, got {n_folds} folds and {n_seeds} seeds")
    market = build_market(cfg)
    folds = plan_folds(len(market), cfg, n_folds, window)
    seeds = tuple(cfg.seed + s for s in range(n_seeds))
    runs = []
    for i, fold in enumerate(folds):
        dataset = fold_dataset(market, cfg, fold)
        for seed in seeds:
            run_cfg = cfg.model_copy(deep=True)
            run_cfg.seed = seed
            run = run_fold(
                run_cfg, dataset, i, out_dir / f"fold{i}_seed{seed}", which, fees_off, worker_init, log_stats
            )
            runs.append(run)
    return WalkForwardResult(n_folds, seeds, tuple(runs))


def write_walk_forward(result: WalkForwardResult, out_dir: Path) -> dict[str, Path]:
    """Write ``walk_forward.json`` (every run and the aggregates) and ``walk_forward.md``.

    :return: ``{"json": path, "markdown": path}``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    policies = list(result.runs[0].metrics)
    payload = {
        "n_folds": result.n_folds,
        "seeds": list(result.seeds),
        "runs": [
            {
                "fold": r.fold,
                "seed": r.seed,
                "train_rows": [r.train.start, r.train.stop],
                "test_rows": [r.test.start, r.test.stop],
                "train_period": list(r.train_period),
                "test_period": list(r.test_period),
                "train_seconds": r.train_seconds,
                "run_dir": str(r.run_dir),
                "metrics": r.metrics,
            }
            for r in result.runs
        ],
        "aggregate": {
            p: {k: {"mean": m, "ci95_low": lo, "ci95_high": hi} for k, (m, lo, hi) in result.aggregate(p).items()}
            for p in policies
        },
    }
    paths = {"json": out_dir / "walk_forward.json", "markdown": out_dir / "walk_forward.md"}
    atomic_write_bytes(paths["json"], json.dumps(json_safe(payload), indent=2).encode())
    lines = [
        f"# Walk-forward: {result.n_folds} folds x {len(result.seeds)} seed(s)",
        "",
        "Each model is trained on its fold's window and tested on the window after it (same costs and baselines as"
        " `bot evaluate`).",
        "",
        "| fold | seed | test period | agent return | agent Sharpe | agent max DD | buy & hold return |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result.runs:
        a = r.metrics["agent"]
        lines.append(
            f"| {r.fold} | {r.seed} | {r.test_period[0]} .. {r.test_period[1]} | {a['total_return']:+.2%} |"
            f" {a['sharpe']:.2f} | {a['max_drawdown']:.2%} | {r.metrics['buy_and_hold']['total_return']:+.2%} |"
        )
    lines += ["", "## Mean and 95% confidence interval over all runs", ""]
    lines += ["| metric | " + " | ".join(policies) + " |", "|---|" + "---|" * len(policies)]
    aggs = {p: result.aggregate(p) for p in policies}
    for key in aggs["agent"]:
        cells = [f"{aggs[p][key][0]:.4g} [{aggs[p][key][1]:.4g}, {aggs[p][key][2]:.4g}]" for p in policies]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    atomic_write_bytes(paths["markdown"], ("\n".join(lines) + "\n").encode())
    return paths
