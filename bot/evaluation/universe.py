"""``bot evaluate`` of a run trained with ``env.mode: universe``: the backtest of every symbol, and their mean.

Each symbol is evaluated on its own, exactly as a single-symbol run (its split, its saved scaler, its baselines and
report in ``<out>/<symbol>/``), so the per-symbol figures compare with single-symbol runs. ``universe.json`` and
``universe.md`` in ``<out>`` hold one row per symbol (the agent's metrics and buy-and-hold's total return) and the
mean over the symbols of each metric (symbols weigh equally).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.config import BotConfig
from bot.errors import DataError
from bot.evaluation.report import write_report
from bot.evaluation.results import EvaluationReport

logger = logging.getLogger(__name__)

#: the agent's metrics of each symbol row (and of the mean row)
ROW_METRICS = ("total_return", "sharpe", "sortino", "max_drawdown", "win_rate", "trades", "exposure", "fees_paid")
UNIVERSE_JSON = "universe.json"
UNIVERSE_MD = "universe.md"


def symbol_folder(symbol: str) -> str:
    """A symbol's report folder name: ``BTC/USDT:USDT`` -> ``BTC_USDT_USDT``."""
    return re.sub(r"[^A-Za-z0-9]+", "_", symbol).strip("_") or "symbol"


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def universe_summary(reports: Sequence[EvaluationReport]) -> dict[str, Any]:
    """Per-symbol rows and their mean (JSON-ready; non-finite values become null and are left out of the mean).

    :param reports: one report per symbol, in the universe's order.
    """
    rows = []
    for report in reports:
        metrics = report.agent.metrics
        row: dict[str, Any] = {"symbol": report.symbol}
        row |= {key: _finite(float(getattr(metrics, key))) for key in ROW_METRICS}
        hold = report.baselines.get("buy_and_hold")
        row["buy_and_hold_return"] = _finite(hold.metrics.total_return) if hold is not None else None
        rows.append(row)
    mean: dict[str, float | None] = {}
    for key in (*ROW_METRICS, "buy_and_hold_return"):
        values = [r[key] for r in rows if r[key] is not None]
        mean[key] = sum(values) / len(values) if values else None
    split = reports[0].split if reports else ""
    return {"split": split, "n_symbols": len(rows), "symbols": rows, "mean": mean}


def _markdown(summary: dict[str, Any], label: str) -> str:
    keys = (*ROW_METRICS, "buy_and_hold_return")
    lines = [
        f"# {label}: {summary['n_symbols']} symbols, {summary['split']} split",
        "",
        "| symbol | " + " | ".join(keys) + " |",
        "|---" * (len(keys) + 1) + "|",
    ]
    for row in [*summary["symbols"], {"symbol": "**mean**", **summary["mean"]}]:
        cells = ["n/a" if row[k] is None else f"{row[k]:.4g}" for k in keys]
        lines.append(f"| {row['symbol']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_universe(
    reports: Sequence[EvaluationReport], out_dir: Path, label: str
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Write each symbol's report into ``out_dir/<symbol>/`` and the summary files into ``out_dir``.

    :return: the summary (see :func:`universe_summary`) and file kind -> path.
    """
    for report in reports:
        write_report(report, out_dir / symbol_folder(report.symbol))
    summary = universe_summary(reports)
    paths = {"json": out_dir / UNIVERSE_JSON, "markdown": out_dir / UNIVERSE_MD}
    paths["json"].write_text(json.dumps(summary, indent=1), encoding="utf-8")
    paths["markdown"].write_text(_markdown(summary, label), encoding="utf-8")
    return summary, paths


def evaluate_universe_run(
    cfg: BotConfig, checkpoint: str, which: str, folder: Path, split: str, out_dir: Path, fees_off: bool
) -> int:
    """``bot evaluate`` of a universe run: every symbol's backtest with the run's per-symbol scalers.

    :param cfg: the checkpoint's config plus overrides.
    :param checkpoint: the run folder (``bot evaluate``'s argument).
    :param which: ``latest``, ``best`` or a step, as ``--which``.
    :param folder: that checkpoint's folder (its ``scalers.json`` is read).
    :return: 0.
    :raises SchemaMismatchError: when the data's symbols or features differ from the model's.
    :raises DataError: naming the symbol whose split cannot be evaluated.
    """
    from bot.data import SymbolScalers, build_universe  # heavy imports after the arguments are checked
    from bot.env import symbol_config
    from bot.evaluation.runner import evaluate_model
    from bot.training import load_checkpoint

    universe = build_universe(cfg, SymbolScalers.load(folder))
    loaded = load_checkpoint(checkpoint, which, schema_hash=universe.schema_hash)
    label = f"{Path(checkpoint).name} ({which}, step {loaded.manifest.get('timesteps', '?')})"
    reports = []
    for symbol, dataset in zip(universe.symbols, universe.datasets, strict=True):
        try:
            scfg = symbol_config(cfg, symbol)  # the symbol's own costs (portfolio.assets)
            reports.append(evaluate_model(scfg, dataset, loaded.model, loaded.vecnormalize, split, label, fees_off))
        except DataError as e:
            raise DataError(f"{symbol}: {e}") from e
    summary, paths = write_universe(reports, out_dir, label)
    print(_markdown(summary, label))
    print(f"Per-symbol reports in {out_dir}/<symbol>/; summary {paths['json']}")
    return 0
