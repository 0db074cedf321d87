"""``bot evaluate --compare RUN RUN ...``: several runs of any algorithm (RL or supervised) and the baselines in one
out-of-sample table on the same bars.

Each run is backtested exactly as ``bot evaluate --checkpoint`` does it (its own config, scaler and policy, through
:func:`bot.evaluation.runner.evaluate_model`); the baselines and random policies are those of the first run. Runs
whose backtests do not cover the same bars (other data, dates, splits or window) are refused rather than compared.
Writes ``compare.md`` and ``compare.json`` (every metric of every column) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.errors import ConfigError
from bot.evaluation.results import EvaluationReport


@dataclass(frozen=True, slots=True)
class Compared:
    """One run's evaluation in a comparison: its column label and report."""

    label: str
    report: EvaluationReport


def check_same_bars(compared: list[Compared]) -> None:
    """Refuse runs whose agent backtests cover other bars than the first one's.

    :raises ConfigError: naming both runs and their spans.
    """
    first = compared[0]
    times = first.report.agent.time_ms
    for other in compared[1:]:
        mine = other.report.agent.time_ms
        if not np.array_equal(mine, times):

            def span(t: np.ndarray) -> str:
                return f"{t.size} bars from {int(t[0])} to {int(t[-1])} ms" if t.size else "no bars"

            raise ConfigError(
                f"--compare: {other.label} is evaluated on {span(mine)}, but {first.label} on {span(times)}; compare"
                " runs trained with the same data, data.timeframes, splits and env.window (or align them with --set)"
            )


def compare_columns(compared: list[Compared]) -> list[tuple[str, dict[str, float | int]]]:
    """The table's columns: every run's agent, then the first run's baselines and random policies."""
    from bot.evaluation.commands import baseline_columns

    columns: list[tuple[str, dict[str, float | int]]] = [(c.label, c.report.agent.metrics.as_dict()) for c in compared]
    return columns + baseline_columns(compared[0].report)


def _finite(values: dict[str, float | int]) -> dict[str, float | int | None]:
    """JSON has no NaN: non-finite metrics become null."""
    return {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in values.items()}


def write_comparison(compared: list[Compared], table: str, out_dir: Path) -> dict[str, Path]:
    """Write ``compare.md`` (the table and each run's notes) and ``compare.json`` into ``out_dir``."""
    first = compared[0].report
    md = [
        f"# Comparison on the {first.split} split ({first.symbol}, {first.agent.metrics.n_bars} bars)",
        "",
        "```",
        table,
        "```",
        "",
    ]
    for c in compared:
        md += [f"## {c.label}", "", *(f"- {note}" for note in c.report.notes), ""]
    paths = {"markdown": out_dir / "compare.md", "json": out_dir / "compare.json"}
    paths["markdown"].write_text("\n".join(md), encoding="utf-8")
    payload = {
        "split": first.split,
        "symbol": first.symbol,
        "runs": [c.label for c in compared],
        "columns": {name: _finite(values) for name, values in compare_columns(compared)},
    }
    paths["json"].write_text(json.dumps(payload, indent=1), encoding="utf-8")
    return paths


def run_compare(args: argparse.Namespace) -> int:
    """Handler of ``bot evaluate --compare RUN RUN ...``: one table of every run and the baselines.

    :raises ConfigError: for fewer than two runs, flags a comparison does not take, or runs on other bars.
    :raises CheckpointError: for a missing or unreadable run.
    :raises SchemaMismatchError: when a run's observation schema differs from the data it is given.
    """
    runs = [str(run) for run in args.compare]
    if len(runs) < 2:
        raise ConfigError(f"--compare needs at least two runs, got {runs}; use --checkpoint for one run")
    if args.cv_folds:
        raise ConfigError("--cv-folds retrains one run per fold; it does not apply to --compare")
    from bot.data import FeatureScaler, build_dataset  # heavy imports after the arguments are checked
    from bot.evaluation.commands import metrics_table, resolve_config
    from bot.evaluation.report_format import is_short_span
    from bot.evaluation.runner import evaluate_model
    from bot.training import SCALER, load_checkpoint, training_logging

    configs = [resolve_config(run, args.which, list(args.overrides)) for run in runs]
    out_dir = Path(args.out) if args.out else Path(runs[0]).parent / f"compare_{args.split}"
    out_dir.mkdir(parents=True, exist_ok=True)
    compared: list[Compared] = []
    with training_logging(configs[0][0], out_dir):
        for run, (cfg, folder) in zip(runs, configs, strict=True):
            dataset = build_dataset(cfg, FeatureScaler.load(folder / SCALER))
            loaded = load_checkpoint(run, args.which, schema_hash=dataset.schema_hash)
            label = f"{Path(run).name}[{loaded.manifest.get('algorithm', '?')}]"
            report = evaluate_model(
                cfg, dataset, loaded.model, loaded.vecnormalize, args.split, label, fees_off=args.fees_off
            )
            compared.append(Compared(label, report))
        check_same_bars(compared)
    table = metrics_table(compare_columns(compared), is_short_span(compared[0].report))
    paths = write_comparison(compared, table, out_dir)
    first = compared[0].report
    costs = " with ZERO fees and slippage (--fees-off)" if first.fees_off else ""
    print(f"Comparison of {len(runs)} runs on the {first.split} split ({first.agent.metrics.n_bars} bars){costs}:")
    print(table)
    print(f"Report: {paths['markdown']}  (and {paths['json'].name})")
    return 0
