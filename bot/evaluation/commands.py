"""``python -m bot evaluate`` (== ``scripts/evaluate.py``): out-of-sample backtest of a checkpoint with baselines, a
report, and optionally walk-forward retraining over folds and seeds.
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

from bot.config import BotConfig, load_config
from bot.errors import ConfigError
from bot.evaluation.in_sample import in_sample_warning
from bot.evaluation.report import write_report
from bot.evaluation.report_format import ANNUALISED, is_short_span
from bot.evaluation.results import EvaluationReport

logger = logging.getLogger(__name__)

#: Metrics of the printed summary, with their format.
_SUMMARY = (
    ("total_return", "{:+.2%}"),
    ("cagr", "{:+.2%}"),
    ("sharpe", "{:.2f}"),
    ("sortino", "{:.2f}"),
    ("max_drawdown", "{:.2%}"),
    ("win_rate", "{:.1%}"),
    ("trades", "{:d}"),
    ("exposure", "{:.1%}"),
    ("turnover_per_day", "{:.2f}"),
    ("cost_drag", "{:.1%}"),
    ("fees_paid", "{:.2f}"),
)


def _cell(value: float | int, fmt: str) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return fmt.format(int(value) if fmt == "{:d}" else value)


def _summary_cell(key: str, value: float | int, fmt: str, short_span: bool) -> str:
    if short_span and key in ANNUALISED:
        return "n/a(<90d)"  # annualising a few weeks extrapolates noise
    return _cell(value, fmt)


def summary_table(report: EvaluationReport) -> str:
    """A plain-text table: one row per metric, one column per policy (the random policy as its mean)."""
    columns: list[tuple[str, dict[str, float | int]]] = [(report.agent.name, report.agent.metrics.as_dict())]
    return metrics_table(columns + baseline_columns(report), is_short_span(report))


def baseline_columns(report: EvaluationReport) -> list[tuple[str, dict[str, float | int]]]:
    """The baselines' columns of a summary table: each baseline, then each random policy as its mean."""
    columns: list[tuple[str, dict[str, float | int]]] = [
        (name, res.metrics.as_dict()) for name, res in report.baselines.items()
    ]
    columns += [
        (f"random(x{r.n_runs})" if r.switch_prob >= 1.0 else f"random@pace(x{r.n_runs})", r.mean)
        for r in report.randoms
    ]
    return columns


def metrics_table(columns: list[tuple[str, dict[str, float | int]]], short: bool) -> str:
    """A plain-text table of the summary metrics: one row per metric, one column per ``(name, metrics)``.

    :param short: the span is too short to annualise (those cells read ``n/a``).
    """
    rows = [["metric", *(name for name, _ in columns)]]
    for key, fmt in _SUMMARY:
        rows.append([key, *(_summary_cell(key, values[key], fmt, short) for _, values in columns)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _check_args(args: argparse.Namespace) -> None:
    if args.config:
        raise ConfigError(
            f"--config {args.config}: evaluate always starts from the checkpoint's config.yaml; change keys with"
            " --set (e.g. --set data.path=other.csv.gz)"
        )
    if args.cv_folds < 0 or args.cv_folds == 1:
        raise ConfigError(f"--cv-folds {args.cv_folds} must be 0 (no walk-forward) or at least 2")
    if args.seeds < 1:
        raise ConfigError(f"--seeds {args.seeds} must be >= 1")
    if args.seeds > 1 and not args.cv_folds:
        raise ConfigError(f"--seeds {args.seeds} needs --cv-folds K: seeds repeat the walk-forward training")


def resolve_config(checkpoint: str | Path, which: str, overrides: list[str]) -> tuple[BotConfig, Path]:
    """The checkpoint's resolved config with the ``--set`` overrides applied, and the checkpoint folder.

    :raises CheckpointError: when the run folder or the requested checkpoint does not exist.
    :raises ConfigError: for a bad override.
    """
    from bot.training import CONFIG, checkpoint_folder

    folder = checkpoint_folder(checkpoint, which)
    return load_config(folder / CONFIG, overrides), folder


def _print_summary(report: EvaluationReport, label: str, warning: str | None, html: Path) -> None:
    costs = " with ZERO fees and slippage (--fees-off)" if report.fees_off else ""
    print(f"Evaluation of {label} on the {report.split} split ({report.agent.metrics.n_bars} bars){costs}:")
    print(summary_table(report))
    for r in report.randoms:
        share = r.share_beaten_by(report.agent.metrics.total_return)
        print(f"The agent's total return beats {share:.0%} of the runs of the {r.name} policy.")
    if warning is not None:
        print(f"WARNING: {warning}")
    print(f"Report: {html}  (also report.md, metrics.json, equity.csv and PNG charts in {html.parent})")


def run_evaluate(args: argparse.Namespace) -> int:
    """Handler of ``bot evaluate``: backtest, baselines, report; walk-forward with ``--cv-folds K``.

    :return: 0 on success (bot errors become exit code 2 in :func:`bot.cli.main`).
    :raises SchemaMismatchError: when the data's observation schema differs from the model's.
    :raises CheckpointError: for a missing or unreadable checkpoint.
    """
    if getattr(args, "ensemble", None):
        from bot.evaluation.ensemble import run_ensemble

        return run_ensemble(args)
    if getattr(args, "compare", None):
        from bot.evaluation.compare import run_compare

        return run_compare(args)
    _check_args(args)
    cfg, folder = resolve_config(args.checkpoint, args.which, list(args.overrides))
    if cfg.env.mode != "single" and (args.cv_folds or getattr(args, "ensemble", None)):
        raise ConfigError(
            f"--cv-folds and --ensemble evaluate single-symbol runs; this run was trained with env.mode={cfg.env.mode}"
            " (evaluate it without them: every symbol's backtest and their mean, or the portfolio and its baselines)"
        )
    out_dir = Path(args.out) if args.out else Path(args.checkpoint) / f"eval_{args.split}"
    out_dir.mkdir(parents=True, exist_ok=True)

    from bot.data import FeatureScaler, build_dataset  # heavy imports after the arguments are checked
    from bot.evaluation.runner import evaluate_model
    from bot.training import SCALER, load_checkpoint, training_logging

    with training_logging(cfg, out_dir) as (worker_init, log_stats, _log_file):
        if cfg.env.mode == "portfolio":
            from bot.evaluation.portfolio_eval import evaluate_portfolio_run

            return evaluate_portfolio_run(cfg, args.checkpoint, args.which, folder, args.split, out_dir, args.fees_off)
        if cfg.env.mode == "universe":
            from bot.evaluation.universe import evaluate_universe_run

            return evaluate_universe_run(cfg, args.checkpoint, args.which, folder, args.split, out_dir, args.fees_off)
        dataset = build_dataset(cfg, FeatureScaler.load(folder / SCALER))
        loaded = load_checkpoint(args.checkpoint, args.which, schema_hash=dataset.schema_hash)
        fingerprint = loaded.manifest.get("data_fingerprint")
        warning = in_sample_warning(loaded.config, fingerprint, dataset, args.split)
        label = f"{Path(args.checkpoint).name} ({args.which}, step {loaded.manifest.get('timesteps', '?')})"
        report = evaluate_model(
            cfg, dataset, loaded.model, loaded.vecnormalize, args.split, label, fees_off=args.fees_off
        )
        if warning is not None:
            logger.warning("%s", warning)
            report.notes.insert(0, warning)
        paths = write_report(report, out_dir)
        _print_summary(report, label, warning, paths["html"])
        if args.cv_folds:
            from bot.evaluation.walk_forward import run_walk_forward, write_walk_forward

            wf = run_walk_forward(
                cfg,
                args.cv_folds,
                args.seeds,
                out_dir / "walk_forward",
                args.which,
                fees_off=args.fees_off,
                worker_init=worker_init,
                log_stats=log_stats,
            )
            wf_paths = write_walk_forward(wf, out_dir / "walk_forward")
            print(wf.summary())
            print(f"Walk-forward report: {wf_paths['markdown']}")
    return 0
