"""``python -m bot.api.evaluation_job --events-jsonl F <evaluate flags>``: ``python -m bot evaluate`` as an API job.

The evaluation has no events of its own; this wrapper writes the same events file as the trainer (``started``,
``heartbeat``, then ``completed`` with the agent's headline metrics or ``failed`` with the error), so the job runner
supervises an evaluation exactly like a training run.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.cli import build_parser
from bot.errors import BotError
from bot.training import HEARTBEAT_INTERVAL_S, EventWriter

logger = logging.getLogger(__name__)

#: Agent metrics reported in the ``completed`` event (they become the job's ``validation/...`` metrics).
_REPORTED = ("total_return", "sharpe", "max_drawdown", "trades", "turnover_per_day", "cost_drag", "fees_paid")


def _headline(out_dir: Path) -> dict[str, float]:
    try:
        agent = json.loads((out_dir / "metrics.json").read_text(encoding="utf-8")).get("agent", {})
    except (OSError, ValueError, AttributeError) as e:
        logger.warning("No metrics.json in %s: %s", out_dir, e)
        return {}
    return {k: agent[k] for k in _REPORTED if isinstance(agent.get(k), int | float)}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the evaluation and report it as events; the exit code of ``bot evaluate`` (2 for a bot error)."""
    wrapper = argparse.ArgumentParser(prog="python -m bot.api.evaluation_job")
    wrapper.add_argument("--events-jsonl", required=True, help="events file the API's job runner tails")
    wrapper.add_argument("--events-heartbeat-s", type=float, default=HEARTBEAT_INTERVAL_S,
                         help="seconds between heartbeats")
    known, rest = wrapper.parse_known_args(argv)
    args = build_parser().parse_args(["evaluate", *rest])
    out_dir = Path(args.out) if args.out else Path(args.checkpoint) / f"eval_{args.split}"
    events = EventWriter(known.events_jsonl, known.events_heartbeat_s)
    try:
        return _run(args, out_dir, events)
    finally:
        events.close()


def _run(args: argparse.Namespace, out_dir: Path, events: EventWriter) -> int:
    events.emit("started", run_dir=str(out_dir), total_timesteps=1)
    from bot.evaluation.commands import run_evaluate  # heavy (torch): after the events file has its first line

    try:
        code = run_evaluate(args)
    except BotError as e:
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        events.emit("failed", error=f"{type(e).__name__}: {e}")
        return 2
    except Exception as e:
        events.emit("failed", error=f"evaluation crashed: {type(e).__name__}: {e}")
        raise
    if code == 0:
        events.emit("completed", timesteps=1, path=str(out_dir), metrics=_headline(out_dir))
    else:
        events.emit("failed", error=f"bot evaluate ended with exit code {code}")
    return code

if __name__ == "__main__":
    sys.exit(main())
