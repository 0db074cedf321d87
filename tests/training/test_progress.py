"""Progress events carry the last value of every TensorBoard tag, at the configured cadence."""

from __future__ import annotations

import json
from pathlib import Path

from bot.cli import main
from tests.support.training import set_args, tiny_synthetic


def test_progress_events_mirror_the_tensorboard_tags(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    overrides = tiny_synthetic(
        tmp_path, "env.episode_length=16", "training.total_timesteps=256", "training.progress_event_every_s=0.001"
    )
    argv = ["train", "--no-progress", "--events-jsonl", str(events), "--set", "run_name=p"]
    assert main([*argv, *set_args(overrides)]) == 0
    progress = [e for e in map(json.loads, events.read_text().splitlines()) if e["type"] == "progress"]
    assert len(progress) >= 4  # one per step at this cadence (128 steps of 2 envs), not one per 2 s
    keys = set().union(*(e["metrics"] for e in progress))
    # the dashboard's tabs: losses, episode figures, costs, DBE modes, log counters
    assert {"train/value_loss", "env/sharpe", "costs/cost_drag", "dbe/mode_share_neutral"} <= keys
    assert any(k.startswith("logging/suppressed_") for k in keys)
    assert {"reward", "loss", "equity"} <= keys
    assert not any(k.startswith("time/") for k in keys)


def test_a_resume_already_past_its_target_completes(tmp_path: Path) -> None:
    overrides = tiny_synthetic(tmp_path, "training.total_timesteps=128")
    assert main(["train", "--no-progress", "--set", "run_name=r", *set_args(overrides)]) == 0
    # the saved run is past the new target: learn() never runs, and the run still ends completed
    resume = ["train", "--no-progress", "--resume", str(tmp_path / "r"), "--timesteps", "64"]
    assert main([*resume, *set_args(overrides)]) == 0
