"""A stand-in for `python -m bot train` used ONLY by the runner-plumbing unit tests (the real trainer is heavy).

It accepts the trainer's flags (and an evaluation job's), prints its argv, and writes the events of one scripted
scenario (``--mode``) to ``--events-jsonl``, with a ``heartbeat`` every ``--heartbeat-s`` from a thread, as the real
trainer's EventWriter. Its events keep to the contract of ``bot.training.event_schema`` (it does not import it: that
would load the trainer's packages, torch included, into every fake launch).
SIGTERM makes it write a checkpoint and a ``cancelled`` event, as the real trainer does (modes ``*broken_pipe*``
and ``starting`` report the ``BrokenPipeError`` that workers killed by the same SIGTERM cause instead).
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

MODES = ("complete", "fail_event", "crash", "slow", "ignore_term", "hang_before_start", "garbage", "leave_child",
         "starting", "broken_pipe_on_term", "echo_data")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=MODES, required=True)
    p.add_argument("--step-delay", type=float, default=0.01)
    p.add_argument("--heartbeat-s", type=float, default=0.2)
    p.add_argument("--events-heartbeat-s", type=float)  # sent by the runner; the scenario's --heartbeat-s rules
    p.add_argument("--config")
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--checkpoint-dir", default=".")
    p.add_argument("--algo")
    p.add_argument("--workers", type=int)
    p.add_argument("--timesteps", type=int, default=1)
    # the flags of an evaluation job (the fake stands in for the evaluator too); --out is its run folder
    p.add_argument("--checkpoint")
    p.add_argument("--which")
    p.add_argument("--split")
    p.add_argument("--out")
    p.add_argument("--fees-off", action="store_true")
    p.add_argument("--seed", type=int)
    p.add_argument("--resume")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--events-jsonl", required=True)
    return p


def main() -> int:
    args = _parser().parse_args()
    print("fake trainer argv:", " ".join(sys.argv[1:]), flush=True)
    events = Path(args.events_jsonl)
    run_dir = Path(args.resume or args.out or Path(args.checkpoint_dir) / f"fake_{events.parent.name}")
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "bot.log").open("a", encoding="utf-8") as log:
        log.write(f"INFO fake run log of {events.parent.name}\n")

    def emit(kind: str, **fields: Any) -> None:
        with events.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"type": kind, "time": time.time(), **fields}) + "\n")

    def on_term(_signum: int, _frame: object) -> None:
        emit("checkpoint", path=str(run_dir / "step_0"), timesteps=0)
        emit("cancelled", path=str(run_dir), reason="SIGTERM", timesteps=0)
        sys.exit(130)

    def on_term_broken_pipe(_signum: int, _frame: object) -> None:
        emit("failed", error="BrokenPipeError: [Errno 32] Broken pipe")
        sys.exit(1)

    def beat() -> None:
        while True:
            time.sleep(args.heartbeat_s)
            emit("heartbeat")

    if args.heartbeat_s > 0:
        threading.Thread(target=beat, daemon=True).start()
    if args.mode in ("starting", "broken_pipe_on_term"):
        signal.signal(signal.SIGTERM, on_term_broken_pipe)
    else:
        signal.signal(signal.SIGTERM, signal.SIG_IGN if args.mode == "ignore_term" else on_term)
    if args.mode == "crash":
        print("Traceback (most recent call last):\nRuntimeError: boom in the fake trainer", file=sys.stderr)
        return 3
    if args.mode in ("hang_before_start", "starting"):
        time.sleep(600)
        return 0
    emit("started", run_dir=str(run_dir), total_timesteps=args.timesteps)
    if args.mode == "garbage":
        with events.open("a", encoding="utf-8") as f:
            f.write("this is not json\n")
        emit("completed", path=str(run_dir), timesteps=args.timesteps)
        return 0
    if args.mode == "leave_child":  # a worker that outlives its trainer, in the trainer's process group
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        events.with_name("child.pid").write_text(str(child.pid))  # an event has no field for it
        emit("completed", path=str(run_dir), timesteps=args.timesteps)
        return 0
    if args.mode == "echo_data":  # what the data loader says about a file without OHLCV columns
        path = next(item.partition("=")[2] for item in args.set if item.startswith("data.path="))
        header = Path(path).read_text().splitlines()[0]
        message = f"DataValidationError: {path}: missing columns ['open', 'high']; found {header.split(',')}"
        print(f"Traceback (most recent call last):\n{message}", file=sys.stderr, flush=True)
        emit("failed", error=message)
        return 2
    if args.mode == "fail_event":
        emit("failed", error="ConfigError: data.path=/nope.csv does not exist")
        return 2
    n_steps = 5 if args.mode == "complete" else 100_000
    for i in range(1, n_steps + 1):
        steps = min(args.timesteps, i * max(1, args.timesteps // min(n_steps, 10_000)))
        emit("progress", timesteps=steps, total_timesteps=args.timesteps, fps=1000.0 + i,
             metrics={"rollout/ep_rew_mean": 0.1 * i, "train/loss": 1.0 / i, "env/equity": 10_000 + i,
                      "nan_metric": float("nan")})
        time.sleep(args.step_delay)
    emit("checkpoint", path=str(run_dir / f"step_{args.timesteps}"), timesteps=args.timesteps)
    emit("completed", path=str(run_dir), timesteps=args.timesteps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
