"""A stand-in for the tune job's command (`python -m bot.api.tune_job`) for the API's trials-table tests.

It accepts `bot tune`'s flags, checks that the search space file the runner wrote is there, and writes the events
of an experiment of ``--trials`` trials to ``--events-jsonl``: ``started``, a ``trial`` event per trial change and
``progress``, then ``completed``. With ``--scenario slow`` the trials after the first keep reporting until SIGTERM,
which ends them as the real command does: the unfinished trials ``stopped``, then ``cancelled``. Its events keep
to the contract of ``bot.training.event_schema`` without importing it (as tests/api/fake_trainer.py).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    p.add_argument("--scenario", choices=("complete", "slow"), required=True)
    p.add_argument("--space", required=True)
    p.add_argument("--trials", type=int, required=True)
    p.add_argument("--storage", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--events-jsonl", required=True)
    return p


def _stop(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    args, _rest = _parser().parse_known_args()
    print("fake tuner argv:", " ".join(sys.argv[1:]), flush=True)
    signal.signal(signal.SIGTERM, _stop)
    space = json.loads(Path(args.space).read_text(encoding="utf-8"))
    events = Path(args.events_jsonl)
    experiment = str(Path(args.storage) / args.name)

    def emit(kind: str, **fields: Any) -> None:
        with events.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"type": kind, "time": time.time(), **fields}) + "\n")

    def trial(i: int, status: str, step: int, metric: float | None) -> None:
        params = {key: 0.001 * (i + 1) for key in space}
        emit("trial", trial_id=f"t{i}", params=params, status=status, step=step, metric=metric,
             best=metric, error=None)

    emit("started", run_dir=experiment, total_timesteps=args.trials * 100)
    for i in range(args.trials):
        trial(i, "running", 0, None)
    try:
        for step in range(1, 10_000):
            for i in range(args.trials):
                if args.scenario == "slow" and i == 0 and step > 1:
                    continue  # the first trial has ended; the others go on until SIGTERM
                trial(i, "running", 100 * step, 0.5 * i + 0.1 * step)
                emit("progress", timesteps=100 * step, total_timesteps=args.trials * 100, fps=None, metrics={})
            if args.scenario == "complete" or step == 1:
                trial(0, "terminated", 100 * step, 0.1 * step)
            if args.scenario == "complete":
                for i in range(1, args.trials):
                    trial(i, "terminated", 100 * step, 0.5 * i + 0.1 * step)
                emit("completed", timesteps=100 * args.trials, path=experiment, metrics={"sharpe": 0.6})
                return 0
            time.sleep(0.2)
    except KeyboardInterrupt:  # the tune job turns the runner's SIGTERM into SIGINT
        for i in range(1, args.trials):
            trial(i, "stopped", 100, 0.5 * i + 0.1)
        emit("cancelled", reason="SIGINT", timesteps=100, path=experiment)
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
