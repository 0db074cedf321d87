"""SIGKILL inside every window of the checkpoint save path, then ``--resume``: real trainer processes.

One run is killed and resumed again and again: each trainer process (``bot train`` in a process of its own) resumes
from what the previous kill left and SIGKILLs itself at the next named point of the save path
(:func:`bot.training.integrity.fault_point`), so every window is hit deterministically and every resume is a real one.
After each kill the newest complete checkpoint must hold a model, VecNormalize statistics and a manifest of one and the
same step, at most one checkpoint interval behind; the last process runs to the end.

The trainers are forked from a forkserver that has imported torch and the bot once: a fresh interpreter per trainer
would spend most of the test importing.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import pickle
import signal
import sys
from pathlib import Path

from stable_baselines3 import PPO

from bot.training.integrity import newest_complete
from tests.support.training import set_args, tiny_synthetic

EVERY = 64  # checkpoint_freq = one PPO rollout (32 steps x 2 envs)
TOTAL = 640

#: (kill point, what the newest complete checkpoint is then, relative to the save that was killed)
KILL_POINTS = (
    ("step.files", "previous"),  # the run's first save: step_64/ half written, nothing complete yet
    ("step.renamed", "this"),  # first save again: step_64/ complete, no latest checkpoint at all
    ("latest.files", "this"),  # the latest checkpoint half written in its temp folder
    ("latest.pending", "this"),  # complete in .latest.pending/, nothing promoted yet
    ("recovery.promoted:model.zip", "same"),  # the resume's own repair of that save, killed half way
    ("latest.promoted:model.zip", "this"),  # new model.zip beside the old statistics and manifest
    ("latest.promoted:scaler.json", "this"),  # every file promoted, the old manifest still in place
    ("latest.manifest", "this"),  # promoted; the pending folder not yet removed
)


def _overrides(checkpoint_dir: Path) -> list[str]:
    return tiny_synthetic(
        checkpoint_dir,
        "run_name=killed",
        f"training.total_timesteps={TOTAL}",
        f"training.checkpoint_freq={EVERY}",
        "training.keep_checkpoints=2",
        "training.vecnormalize=true",
    )


def _trainer(argv: list[str], kill_at: str | None) -> None:
    """A trainer process: ``bot train argv``, SIGKILLed at the first pass through the fault point ``kill_at``."""
    from bot.cli import main
    from bot.training import integrity

    def kill_here(name: str) -> None:
        if name == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    integrity.fault_point = kill_here
    sys.exit(main(["train", "--no-progress", *argv]))


def _run(argv: list[str], kill_at: str | None) -> int | None:
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["bot.cli", "bot.training.commands", "bot.training.trainer", "bot.data"])
    proc = ctx.Process(target=_trainer, args=(argv, kill_at))
    proc.start()
    proc.join(180)
    if proc.is_alive():
        proc.kill()
        proc.join()
    return proc.exitcode


def _consistent_steps(run: Path) -> int:
    """Timesteps of the newest complete checkpoint, after checking model, statistics and manifest agree."""
    folder, _ = newest_complete(run)
    if folder is None:
        return 0
    manifest = json.loads((folder / "manifest.json").read_text())
    steps = int(manifest["timesteps"])
    assert PPO.load(folder / "model.zip", device="cpu").num_timesteps == steps
    with (folder / "vecnormalize.pkl").open("rb") as fh:
        count = pickle.load(fh).obs_rms["market"].count
    # the statistics see every step's 2 observations (+ 2 per reset at each learn() start): count ~ steps
    assert steps <= count <= steps + 2 * 2 * len(KILL_POINTS) + 1, (folder, steps, count)
    return steps


def test_sigkill_at_every_point_of_the_save_path_then_resume(tmp_path: Path) -> None:
    run = tmp_path / "killed"
    args = set_args(_overrides(tmp_path))
    done = 0
    for point, expected in KILL_POINTS:
        assert _run(args, point) == -signal.SIGKILL, point
        killed_save = done + EVERY  # each process trains one interval past its start, then saves (or dies repairing)
        steps = _consistent_steps(run)
        assert steps == {"this": killed_save, "previous": done, "same": done}[expected], (point, steps, killed_save)
        done = steps
        args = ["--resume", str(run)]

    assert _run(args, None) == 0
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["timesteps"] == TOTAL
    assert newest_complete(run)[0] == run and _consistent_steps(run) == TOTAL
    leftovers = [p.name for p in run.iterdir() if p.name.startswith(".")]
    assert not leftovers, leftovers  # temp files and folders of the kills were cleaned up on resume
    log = (run / "bot.log").read_text()  # each repair is said once, as a WARNING (console and log)
    assert "WARNING" in log and "finished the interrupted save of the latest checkpoint (step " in log
    assert "removed 1 temp file(s) or folder(s) of interrupted saves" in log
