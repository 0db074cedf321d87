"""Torn or refused runs over many SIGKILLs inside the checkpoint save window, each followed by ``--resume``.

One run (tiny synthetic market, PPO with VecNormalize, a checkpoint every 64 steps) is killed and resumed again and
again. Each trainer is a process of its own (``bot train``, forked from a forkserver that imported the bot once) and
SIGKILLs itself at a named point of the save path (:func:`bot.training.integrity.fault_point`), cycling through every
point (and through the resume's own repair when the previous kill left one to do). After each kill the script checks
the newest complete checkpoint: model, VecNormalize statistics and manifest of the same step (else the run is torn),
at most one checkpoint interval lost; a resume that exits with an error counts as refused. The last trainer runs to
the end. Writes benchmarks/out/kill_resume.json.

    python benchmarks/kill_resume.py [--kills 20]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import pickle
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from stable_baselines3 import PPO

from bot.training.integrity import newest_complete

OUT = Path(__file__).resolve().parent / "out" / "kill_resume.json"
EVERY = 64
N_ENVS = 2
POINTS = (
    "step.files",
    "step.renamed",
    "latest.files",
    "latest.pending",
    "recovery.promoted:model.zip",
    "latest.promoted:model.zip",
    "latest.promoted:vecnormalize.pkl",
    "latest.promoted:config.yaml",
    "latest.pending",
    "recovery.manifest",
    "latest.promoted:scaler.json",
    "latest.manifest",
)


def _overrides(checkpoint_dir: Path, total: int) -> list[str]:
    return [
        "data.synthetic.n_bars=2000",
        "data.timeframes=[5m]",
        "features.indicators=[log_return, rsi]",
        "env.window=4",
        "env.episode_length=64",
        "run_name=killed",
        f"training.checkpoint_dir={checkpoint_dir}",
        "training.n_workers=1",
        f"training.n_envs_per_worker={N_ENVS}",
        f"training.total_timesteps={total}",
        f"training.checkpoint_freq={EVERY}",
        "training.keep_checkpoints=2",
        "training.eval_freq=0",
        "training.vecnormalize=true",
        "training.ppo.n_steps=32",
        "training.ppo.batch_size=32",
        "training.ppo.n_epochs=1",
        "training.ppo.net_arch=[16]",
        "training.torch_threads=1",
        "logging.console=false",
    ]


def _trainer(argv: list[str], kill_at: str | None) -> None:
    from bot.cli import main
    from bot.training import integrity

    def kill_here(name: str) -> None:
        if name == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    integrity.fault_point = kill_here
    with open(os.devnull, "w") as quiet:
        os.dup2(quiet.fileno(), 2)
        sys.exit(main(["train", "--no-progress", *argv]))


def _run(argv: list[str], kill_at: str | None) -> int | None:
    proc = mp.get_context("forkserver").Process(target=_trainer, args=(argv, kill_at))
    proc.start()
    proc.join(300)
    return proc.exitcode


def _check(run: Path, resumes: int) -> tuple[int, str | None]:
    """Steps of the newest complete checkpoint, and what is wrong with it (None when consistent)."""
    folder, _ = newest_complete(run)
    if folder is None:
        return 0, None
    steps = int(json.loads((folder / "manifest.json").read_text())["timesteps"])
    if PPO.load(folder / "model.zip", device="cpu").num_timesteps != steps:
        return steps, "model and manifest of different steps"
    with (folder / "vecnormalize.pkl").open("rb") as fh:
        count = pickle.load(fh).obs_rms["market"].count
    if not steps <= count <= steps + 2 * N_ENVS * (resumes + 1) + 1:
        return steps, f"VecNormalize statistics of another step (count {count:.0f} for {steps} steps)"
    return steps, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    args = parser.parse_args()
    mp.get_context("forkserver").set_forkserver_preload(["bot.cli", "bot.training.trainer", "bot.data"])
    total = EVERY * (args.kills + 3)
    started = time.monotonic()
    kills: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "killed"
        argv = [arg for o in _overrides(Path(tmp), total) for arg in ("--set", o)]
        done = 0
        for i in range(args.kills):
            point = POINTS[i % len(POINTS)]
            code = _run(argv, point)
            steps, torn = _check(run, i)
            kills.append(
                {
                    "point": point,
                    "exit": code,
                    "steps_before": done,
                    "steps_after": steps,
                    "refused": code not in (-signal.SIGKILL, 0),
                    "torn": torn,
                    "lost_more_than_an_interval": steps < done,
                }
            )
            done = max(done, steps)
            argv = ["--resume", str(run)]
        final = _run(argv, None)
        status = json.loads((run / "manifest.json").read_text())["status"] if final == 0 else None
        leftovers = [p.name for p in run.iterdir() if p.name.startswith(".")]
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "kills": kills,
        "n_kills": sum(k["exit"] == -signal.SIGKILL for k in kills),
        "n_torn": sum(k["torn"] is not None for k in kills),
        "n_refused": sum(k["refused"] for k in kills),
        "n_lost_more_than_an_interval": sum(k["lost_more_than_an_interval"] for k in kills),
        "final_exit": final,
        "final_status": status,
        "leftover_temp_files": leftovers,
        "wall_s": time.monotonic() - started,
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1))
    print(
        f"{result['n_kills']} kills inside the save window: {result['n_torn']} torn, {result['n_refused']} refused,"
        f" {result['n_lost_more_than_an_interval']} lost more than one interval; final run {status} (exit {final}),"
        f" leftover temp files {leftovers or 'none'}; {result['wall_s']:.0f} s"
    )


if __name__ == "__main__":
    main()
