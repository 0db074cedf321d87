"""Results of an experiment: the leaderboard (Markdown + CSV), ``best/`` as a normal run folder, seed summaries."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.atomic import atomic_write_bytes
from bot.tune.trial import TRIAL_RECORD

LEADERBOARD = "leaderboard"
#: Terminal colour codes in Ray's error text (kept out of the files).
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: Metrics shown for every trial (its last report), besides the one optimised.
SHOWN_METRICS = ("sharpe", "total_return", "max_drawdown", "trades", "cost_drag", "timesteps", "folds")


@dataclass(slots=True)
class TrialRow:
    """One trial on the leaderboard.

    :param trial_id: Tune's trial id (also the run folder's name).
    :param status: ``ok``, ``error``, or ``stopped`` (a walk-forward trial stopped before its last fold).
    :param score: the best reported value of the optimised metric (NaN when it never reported); for a walk-forward
        trial the last, its mean over all the folds it did.
    :param metrics: the last report.
    :param params: the trial's sampled config keys.
    :param run_dir: its run folder.
    :param nodes: Ray node ids the trial ran on, in order (more than one after a restart elsewhere).
    :param restores: checkpoint restores (``from_trial``, ``timesteps``, ``changed``): retries and PBT exploits.
    :param error: the error with its traceback, for failed trials.
    """

    trial_id: str
    status: str
    score: float
    metrics: dict[str, float]
    params: dict[str, Any]
    run_dir: Path
    nodes: list[str] = field(default_factory=list)
    restores: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""


def _best(values: list[float], mode: str) -> float:
    finite = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if not finite:
        return math.nan
    return max(finite) if mode == "max" else min(finite)


def trial_rows(results: Any, runs_dir: Path, metric: str, mode: str) -> list[TrialRow]:
    """Leaderboard rows of a Ray ``ResultGrid``, best first, failed trials last.

    :param results: the ``ResultGrid`` of ``Tuner.fit()``.
    :param runs_dir: the folder of the trials' run folders.
    """
    rows: list[TrialRow] = []
    for result in results:
        trial_id = Path(result.path).name
        frame = result.metrics_dataframe
        history = [float(v) for v in frame[metric]] if frame is not None and metric in frame else []
        metrics = {k: float(v) for k, v in (result.metrics or {}).items() if k in (*SHOWN_METRICS, metric)
                   and isinstance(v, int | float)}
        run_dir = runs_dir / trial_id
        record = json.loads((run_dir / TRIAL_RECORD).read_text()) if (run_dir / TRIAL_RECORD).is_file() else {}
        last = result.metrics or {}
        # a walk-forward trial reports running means over its folds: only the mean over all K compares across trials
        walk_forward = "folds_total" in last
        stopped = walk_forward and last.get("folds", 0) < last["folds_total"]
        rows.append(TrialRow(
            trial_id=trial_id,
            status="error" if result.error is not None else "stopped" if stopped else "ok",
            score=_best(history[-1:] if walk_forward else history, mode),
            metrics=metrics,
            params=dict((result.config or {}).get("params", result.config or {})),
            run_dir=run_dir,
            nodes=list(record.get("nodes", [])),
            restores=list(record.get("restores", [])),
            error=_ANSI.sub("", str(result.error)) if result.error is not None else "",
        ))
    sign = -1.0 if mode == "max" else 1.0
    order = {"ok": 0, "stopped": 1, "error": 2}
    rows.sort(key=lambda r: (order[r.status], math.isnan(r.score), sign * r.score if not math.isnan(r.score) else 0))
    return rows


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.4g}"
    return str(value)


def write_leaderboard(rows: list[TrialRow], folder: Path, metric: str) -> tuple[Path, Path]:
    """``leaderboard.md`` (the first line of each error) and ``leaderboard.csv`` (whole tracebacks) in ``folder``.

    :return: the Markdown and CSV paths.
    """
    param_keys = sorted({k for r in rows for k in r.params})
    metric_keys = [m for m in SHOWN_METRICS if m != metric]
    header = ["rank", "trial", "status", f"best {metric}", *metric_keys, *param_keys, "restores", "run_dir", "error"]
    table: list[list[str]] = []
    for rank, r in enumerate(rows, start=1):
        table.append([
            str(rank), r.trial_id, r.status, _cell(r.score),
            *(_cell(r.metrics.get(m, math.nan)) for m in metric_keys),
            *(_cell(r.params.get(k, "")) for k in param_keys),
            str(len(r.restores)), str(r.run_dir), r.error,
        ])
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for line in table:
        first_line = line[-1].strip().splitlines()[-1] if line[-1].strip() else ""  # the exception's own line
        md.append("| " + " | ".join([*line[:-1], first_line.replace("|", "/")]) + " |")
    md_path, csv_path = folder / f"{LEADERBOARD}.md", folder / f"{LEADERBOARD}.csv"
    atomic_write_bytes(md_path, ("\n".join(md) + "\n").encode())
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(table)
    atomic_write_bytes(csv_path, buffer.getvalue().encode())
    return md_path, csv_path


def copy_best(rows: list[TrialRow], folder: Path) -> Path | None:
    """Copy the leading trial's run folder to ``folder/best`` (replacing an older one); None when no trial is ok."""
    leader = next((r for r in rows if r.status == "ok" and not math.isnan(r.score)), None)
    if leader is None:
        return None
    target = folder / "best"
    staging = folder / ".best.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(leader.run_dir, staging)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    return target
