"""Portfolio env steps/s of this checkout against another checkout of the repo, interleaved under the same load.

Each tree runs in its own long-lived process (its own ``bot`` package on ``PYTHONPATH``) that builds the 5-asset
synthetic basket of ``benchmarks/portfolio_env.py --part speed`` once, then times ``--steps`` random-weight steps each
time it is told to; the rounds alternate between the two trees, so both see the same machine load.

    git worktree add --detach /tmp/before <commit>
    python benchmarks/portfolio_env_ab.py --before /tmp/before [--steps 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def worker(steps: int) -> None:
    """Build the basket env, then time ``steps`` steps for every line read on stdin (with the tree's own
    ``benchmarks/portfolio_env.py`` settings and timing loop)."""
    sys.path.insert(0, str(Path.cwd() / "benchmarks"))
    from portfolio_env import CLASSIC, _rates

    from bot.config import load_config
    from bot.data import build_universe
    from bot.env import PortfolioEnv

    basket = ["data.source=synthetic", "data.synthetic.assets=5", "data.synthetic.n_bars=105120", *CLASSIC]
    cfg = load_config(None, [*basket, "env.mode=portfolio", "env.action_type=continuous", "training.algo=ppo"])
    env = PortfolioEnv(cfg, build_universe(cfg), split="all", seed=0)
    actions = list(np.random.default_rng(0).uniform(-1.0, 1.0, (steps, 5)).astype(np.float32))
    print("ready", flush=True)
    for _ in sys.stdin:
        print(_rates(env, actions, 1)[0], flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="the other checkout (its repository root)")
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.steps)
        return
    if args.before is None or not (args.before / "bot").is_dir():
        parser.error(f"--before {args.before} is not a checkout of this repository (no bot/ folder in it)")
    trees = {"before": args.before.resolve(), "after": ROOT}
    procs = {}
    for name, root in trees.items():
        env = dict(os.environ, PYTHONPATH=str(root))
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--steps", str(args.steps)]
        procs[name] = subprocess.Popen(cmd, cwd=root, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    rates: dict[str, list[float]] = {name: [] for name in trees}
    try:
        for name, proc in procs.items():
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", f"{name} worker failed"
        for _ in range(args.rounds):
            for name, proc in procs.items():
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write("go\n")
                proc.stdin.flush()
                rates[name].append(float(proc.stdout.readline()))
    finally:
        for proc in procs.values():
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait()
    for name, values in rates.items():
        rounds = [round(v) for v in values]
        print(f"{name}: best {max(values):,.0f} median {statistics.median(values):,.0f} steps/s, rounds {rounds}")


if __name__ == "__main__":
    main()
