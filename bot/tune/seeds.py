"""``--seeds S --top-k K``: retrain the K best configurations of an experiment over S seeds, as a second experiment.

The retraining is its own Tune experiment (``<experiment>/seeds``, FIFO, every configuration x seed once); its
summary gives each configuration's mean and spread over the seeds, which says whether a leader was luck, and the
``bot evaluate --ensemble`` command over its runs.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from pathlib import Path
from typing import Any

from ray import tune

from bot.atomic import atomic_write_bytes
from bot.errors import ConfigError
from bot.tune.experiment import ExperimentSpec, TrialData, run_config, trainable
from bot.tune.results import TrialRow, trial_rows, write_leaderboard
from bot.tune.trial import RANK_KEY, TrialSetup

SEEDS = "seeds"


def seed_params(rows: list[TrialRow], top_k: int, n_seeds: int, base_seed: int) -> list[dict[str, Any]]:
    """One parameter set per (configuration, seed): the ``top_k`` best ok trials' parameters with ``seed`` set.

    :raises ConfigError: when no trial ended ok.
    """
    leaders = [r for r in rows if r.status == "ok" and not math.isnan(r.score)][:top_k]
    if not leaders:
        raise ConfigError("--seeds: no trial of the experiment ended with a score; nothing to retrain")
    return [
        {**leader.params, "seed": base_seed + 1000 * (rank + 1) + s, RANK_KEY: rank + 1}
        for rank, leader in enumerate(leaders)
        for s in range(n_seeds)
    ]


def _summary(rows: list[TrialRow], metric: str) -> str:
    by_rank: dict[int, list[TrialRow]] = {}
    for r in rows:
        by_rank.setdefault(int(r.params.get(RANK_KEY, 0)), []).append(r)
    lines = [f"| rank | seeds | mean best {metric} | std | runs |", "|---|---|---|---|---|"]
    for rank, group in sorted(by_rank.items()):
        scores = [r.score for r in group if r.status == "ok" and math.isfinite(r.score)]
        mean = statistics.fmean(scores) if scores else math.nan
        std = statistics.stdev(scores) if len(scores) > 1 else math.nan
        runs = " ".join(str(r.run_dir) for r in group if r.status == "ok")
        lines.append(f"| {rank} | {len(scores)}/{len(group)} | {mean:.4g} | {std:.3g} | {runs} |")
    return "\n".join(lines) + "\n"


def retrain_top_k(spec: ExperimentSpec, dataset: TrialData, rows: list[TrialRow], top_k: int, n_seeds: int) -> Path:
    """Run the seed experiment and write ``seeds/leaderboard.*`` and ``seeds/summary.md``.

    :return: the summary file.
    """
    seeds_path = spec.path / SEEDS
    setup = TrialSetup(spec.setup.config_path, spec.setup.overrides, str(seeds_path / "runs"))
    seed_spec = dataclasses.replace(spec, name=SEEDS, storage=spec.path, setup=setup)
    params = seed_params(rows, top_k, n_seeds, spec.seed)
    tuner = tune.Tuner(
        trainable(seed_spec, dataset),
        param_space={"params": tune.grid_search(params)},
        tune_config=tune.TuneConfig(metric=spec.metric, mode=spec.mode, num_samples=1,
                                    trial_dirname_creator=lambda trial: trial.trial_id, reuse_actors=True),
        run_config=run_config(seed_spec),
    )
    seed_rows = trial_rows(tuner.fit(), Path(setup.runs_dir), spec.metric, spec.mode)
    write_leaderboard(seed_rows, seeds_path, spec.metric)
    summary = seeds_path / "summary.md"
    atomic_write_bytes(summary, _summary(seed_rows, spec.metric).encode())
    runs = " ".join(str(r.run_dir) for r in seed_rows if r.status == "ok")
    print(f"Seed retraining of the top {top_k} over {n_seeds} seeds: {summary}")
    print(f"Ensemble of these runs: python -m bot evaluate --ensemble {runs}")
    return summary
