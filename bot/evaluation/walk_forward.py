"""Walk-forward evaluation: train on each fold's window, test on the window after it, over several seeds.

The folds come from :func:`bot.data.walk_forward_folds` over every row of the data (``splits.walk_forward``: fold
count from ``--cv-folds``, embargo and test fraction from the config). In each fold the last
``validation_fraction / (train_fraction + validation_fraction)`` of the training window is the validation split the
trainer selects ``best/`` on, and the feature scaler is fit on the rest of the training window only, so nothing of the
validation or test window leaks into training. The model is trained with the trainer's own Python API
(:func:`bot.training.trainer.train`) and tested with the same backtest as ``bot evaluate``. Every metric is reported
per fold and seed, and as the mean with a 95 % t confidence interval over all (fold, seed) runs.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.atomic import atomic_write_bytes
from bot.config import BotConfig
from bot.data import Fold, build_market, dataset_from_market, walk_forward_folds
from bot.data.types import Dataset, MarketData
from bot.errors import ConfigError
from bot.evaluation.backtest import evaluation_config
from bot.evaluation.baselines import mean_ci
from bot.evaluation.report import json_safe
from bot.evaluation.runner import backtest_split, run_baselines
from bot.training.checkpoints import load_checkpoint
from bot.training.events import EventWriter
from bot.training.metrics import LogStats
from bot.training.progress import StopFlag
from bot.training.trainer import train
from bot.training.worker import WorkerInit

logger = logging.getLogger(__name__)


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
    """

    fold: int
    seed: int
    train: range
    test: range
    test_period: tuple[str, str]
    run_dir: Path
    metrics: dict[str, dict[str, float]]


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


def run_walk_forward(
    cfg: BotConfig,
    n_folds: int,
    n_seeds: int,
    out_dir: Path,
    which: str = "best",
    fees_off: bool = False,
    worker_init: WorkerInit | None = None,
    log_stats: LogStats | None = None,
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
    :raises ConfigError: for fewer than 2 folds or 1 seed.
    :raises DataError: when a fold's windows are empty or hold no episode.
    """
    if n_folds < 2 or n_seeds < 1:
        raise ConfigError(f"walk-forward needs at least 2 folds and 1 seed, got {n_folds} folds and {n_seeds} seeds")
    market = build_market(cfg)
    wf_cfg = cfg.splits.walk_forward.model_copy(update={"n_folds": n_folds})
    folds = walk_forward_folds(len(market), wf_cfg)
    seeds = tuple(cfg.seed + s for s in range(n_seeds))
    runs = []
    for i, fold in enumerate(folds):
        dataset = fold_dataset(market, cfg, fold)
        for seed in seeds:
            run_cfg = cfg.model_copy(deep=True)
            run_cfg.seed = seed
            run_dir = out_dir / f"fold{i}_seed{seed}"
            run_dir.mkdir(parents=True, exist_ok=True)
            logger.info("Walk-forward fold %d seed %d: train rows %s, test rows %s", i, seed, fold.train, fold.test)
            train(
                run_cfg,
                dataset,
                run_dir,
                resume=False,
                events=EventWriter(None),
                stop=StopFlag(),
                show_progress=False,
                worker_init=worker_init,
                log_stats=log_stats,
            )
            loaded = load_checkpoint(run_dir, which, schema_hash=dataset.schema_hash)
            ecfg = evaluation_config(run_cfg, zero_costs=fees_off)
            env, agent, _ = backtest_split(ecfg, dataset, "test", loaded.model, loaded.vecnormalize, str(run_dir))
            results = {"agent": agent, **run_baselines(env, ecfg)}
            metrics = {name: {k: float(v) for k, v in r.metrics.as_dict().items()} for name, r in results.items()}
            period = (_iso(int(agent.time_ms[0])), _iso(int(agent.time_ms[-1])))
            runs.append(FoldRun(i, seed, fold.train, fold.test, period, run_dir, metrics))
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
                "test_period": list(r.test_period),
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
