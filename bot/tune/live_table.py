"""The live table of trials in the terminal while ``bot tune`` runs (rich), fed by the rows of
:class:`bot.tune.events.TrialEvents`: one line per trial, best first, redrawn as the trials report."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table


def _param(key: str, value: Any) -> str:
    name = key.rsplit(".", 1)[-1]
    return f"{name}={value:.3g}" if isinstance(value, float) else f"{name}={value}"


def _number(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.3f}"


class LiveTable:
    """A rich ``Live`` table of the experiment's trials.

    :param metric: the optimised metric (its column and the order).
    :param mode: ``max`` or ``min``.
    :param console: where to draw (default: the terminal).
    """

    def __init__(self, metric: str, mode: str, console: Console | None = None) -> None:
        self.metric = metric
        self.mode = mode
        self.rows: dict[str, dict[str, Any]] = {}
        self.live = Live(self.render(), console=console, auto_refresh=False)

    def render(self) -> Table:
        """The table of the rows so far, best first (trials without a score last)."""
        table = Table(title=f"Trials (live) by best {self.metric}")
        for column in ("trial", "status", "step", self.metric, f"best {self.metric}", "params"):
            table.add_column(column)
        sign = -1.0 if self.mode == "max" else 1.0
        rows = sorted(self.rows.values(), key=lambda r: (r["best"] is None, sign * (r["best"] or 0.0), r["trial_id"]))
        for r in rows:
            table.add_row(r["trial_id"], r["status"], f"{r['step']:,}", _number(r["metric"]), _number(r["best"]),
                          ", ".join(_param(k, v) for k, v in r["params"].items()))
        return table

    def update(self, row: dict[str, Any]) -> None:
        """Take one trial's newest row and redraw."""
        self.rows[row["trial_id"]] = row
        self.live.update(self.render(), refresh=True)

    def __enter__(self) -> LiveTable:
        self.live.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.live.stop()
