"""The terminal's live table of trials: fed by the trial events' rows, best first, redrawn on every row."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from bot.training.events import EventWriter
from bot.tune.events import TrialEvents
from bot.tune.live_table import LiveTable
from tests.tune.test_events import _Trial


def test_rows_from_the_trial_events_are_drawn_best_first(tmp_path: Path) -> None:
    out = io.StringIO()
    table = LiveTable("sharpe", "max", Console(file=out, width=160, force_terminal=False))
    callback = TrialEvents(EventWriter(None), "sharpe", "max", 256, on_row=table.update)
    with table:
        callback.on_trial_start(0, [], _Trial("low"))
        callback.on_trial_result(1, [], _Trial("low"), {"sharpe": -0.5, "timesteps": 64})
        callback.on_trial_result(2, [], _Trial("high", {"training.ppo.ent_coef": 0.01}),
                                 {"sharpe": 1.25, "timesteps": 1280})
        callback.on_trial_error(3, [], _Trial("broken"))
    assert set(table.rows) == {"low", "high", "broken"}
    drawn = out.getvalue()
    last = drawn[drawn.rindex("Trials (live)"):]
    lines = [line for line in last.splitlines() if any(t in line for t in ("low", "high", "broken"))]
    assert [next(t for t in ("high", "low", "broken") if t in line) for line in lines] == ["high", "low", "broken"]
    assert "1,280" in lines[0] and "1.250" in lines[0] and "ent_coef=0.01" in lines[0]
    assert "error" in lines[2] and "n/a" in lines[2]
