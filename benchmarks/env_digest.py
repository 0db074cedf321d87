"""A digest of ``TradingEnv`` trajectories on real candles: run it before and after a change of the step to prove the
change bit-identical.

For each config below (perpetual and spot, market and limit orders, stops, funding, max-holding exits, the decision
controls, every reward, ``env.decision_every`` 1 and 12, discrete, delta and continuous actions) one env steps seeded
random actions through several episodes of real 5m BTC/USDT candles. Every step feeds a SHA-256 with the observation
arrays' bytes, the reward's and every info value's exact bits (keys in order), the flags and the per-bar marks, and
every episode's end feeds it the trade log. Bars come from ``--data`` limited to ``--start``/``--end`` (a quarter of
2023 by default: 26k bars; about 15 s for all configs).

Run: ``python benchmarks/env_digest.py [--out before.json]``; ``--check before.json`` compares with a recorded run and
exits 1 on any difference (naming the configs that differ).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from env_step import DEFAULT_DATA, SETTINGS  # noqa: E402  (benchmarks/, the script's own directory)

from bot.config import load_config  # noqa: E402
from bot.data import build_dataset  # noqa: E402
from bot.env import make_env  # noqa: E402

#: a market-order decision every bar with the first round's DBE stops (``env_step.py --settings classic``)
CLASSIC = SETTINGS["classic"]
#: name -> (``--set`` overrides, steps).
CONFIGS: dict[str, tuple[tuple[str, ...], int]] = {
    "classic_perpetual": (CLASSIC, 40_000),
    "classic_perpetual_x5_funding_hold": (
        (
            *CLASSIC,
            "portfolio.leverage=5",
            "portfolio.max_leverage=5",
            "portfolio.funding_rate_8h=0.0003",
            "portfolio.max_holding_bars=40",
            "portfolio.min_notional=50",
            "env.max_drawdown=0.3",
        ),
        30_000,
    ),
    "classic_spot_drawdown_reward": (
        (*CLASSIC, "portfolio.market=spot", "env.reward=drawdown_penalized"),
        30_000,
    ),
    "limit_repost_every1_sharpe": (
        (*CLASSIC, "portfolio.order_type=limit", "portfolio.limit_unfilled=repost", "env.reward=differential_sharpe"),
        30_000,
    ),
    "controls_delta_every3": (
        (
            *CLASSIC,
            "env.decision_every=3",
            "env.action_mode=delta",
            "portfolio.min_holding_bars=6",
            "env.rebalance_threshold=0.3",
            "env.turnover_penalty=0.5",
            "dbe.drawdown_halflife_bars=200",
        ),
        20_000,
    ),
    "continuous_perpetual_x2": (
        (*CLASSIC, "env.action_type=continuous", "portfolio.leverage=2", "portfolio.max_leverage=2"),
        30_000,
    ),
    "defaults_every12": ((), 10_000),
    "defaults_every12_expire_spot": (("portfolio.market=spot", "portfolio.limit_unfilled=expire"), 10_000),
    "sequential_episodes": ((*CLASSIC, "env.random_start=false"), 40_000),
}

_D = struct.Struct("<d").pack


def _feed(h: Any, value: Any) -> None:
    """Feed one info / mark value with its type and exact bits."""
    if isinstance(value, bool):
        h.update(b"b1" if value else b"b0")
    elif isinstance(value, int):
        h.update(b"i" + str(value).encode())
    elif isinstance(value, float):
        h.update(b"f" + _D(value))
    else:
        h.update(b"?" + type(value).__name__.encode() + repr(value).encode())


def _feed_trades(h: Any, trades: list[Any]) -> None:
    for trade in trades:
        for name in sorted(trade.__slots__ if hasattr(trade, "__slots__") else vars(trade)):
            if not name.startswith("_"):
                h.update(name.encode())
                _feed(h, getattr(trade, name))


def digest(overrides: tuple[str, ...], steps: int, dataset: Any, data: str) -> dict[str, Any]:
    """Step one env through ``steps`` seeded random actions; the trajectory's digest and a few counts."""
    cfg = load_config(None, ["data.source=file", f"data.path={data}", *overrides])
    env = make_env(cfg, split="all", seed=7, dataset=dataset)
    env.action_space.seed(11)
    rng = np.random.default_rng(3)
    h = hashlib.sha256()
    obs, info = env.reset(seed=5)
    episodes = trades = 0
    for i in range(steps):
        if cfg.env.action_type == "discrete":
            action: Any = int(rng.integers(env.action_space.n)) if rng.random() < 0.7 else int(env.action_space.n) // 2
        else:
            action = rng.uniform(-1.0, 1.0, 1).astype(np.float32)
        obs, reward, terminated, truncated, info = env.step(action)
        h.update(obs["market"].tobytes())
        h.update(obs["portfolio"].tobytes())
        h.update(str(obs["market"].dtype).encode() + str(obs["portfolio"].dtype).encode())
        _feed(h, reward)
        _feed(h, terminated)
        _feed(h, truncated)
        for key, value in info.items():
            h.update(key.encode())
            _feed(h, value)
        for mark in env.step_marks:
            for value in mark:
                _feed(h, value)
        h.update(env.action_masks().tobytes())
        if terminated or truncated:
            episodes += 1
            trades += len(env.portfolio.trades)
            _feed_trades(h, env.portfolio.trades)
            obs, info = env.reset(seed=i) if i % 3 == 0 else env.reset()
            h.update(obs["market"].tobytes() + obs["portfolio"].tobytes())
            for key, value in info.items():
                h.update(key.encode())
                _feed(h, value)
    return {"digest": h.hexdigest(), "steps": steps, "episodes": episodes, "trades": trades}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="5m OHLCV file")
    parser.add_argument("--start", default="2023-03-01", help="first day of the bars used")
    parser.add_argument("--end", default="2023-06-01", help="day after the last")
    parser.add_argument("--out", help="write the digests to this JSON file")
    parser.add_argument("--check", help="compare with a JSON file written by --out; exit 1 on a difference")
    args = parser.parse_args()
    if not Path(args.data).is_file():
        print(f"data file {args.data} not found; pass --data")
        return 2
    span = [f"data.start={args.start}", f"data.end={args.end}"]
    base = load_config(None, ["data.source=file", f"data.path={args.data}", *span])
    dataset = build_dataset(base)
    results: dict[str, Any] = {}
    for name, (overrides, steps) in CONFIGS.items():
        start = time.perf_counter()
        results[name] = digest((*span, *overrides), steps, dataset, args.data)
        row = results[name]
        print(f"{name:>36}: {row['digest'][:16]} {row['episodes']:>4} episodes {row['trades']:>6} trades"
              f" ({time.perf_counter() - start:.1f}s)")  # fmt: skip
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    if args.check:
        recorded = json.loads(Path(args.check).read_text(encoding="utf-8"))
        differ = [name for name in results if recorded.get(name) != results[name]]
        if differ or set(recorded) != set(results):
            print(f"DIFFERENT from {args.check}: {differ or sorted(set(recorded) ^ set(results))}")
            return 1
        print(f"identical to {args.check}: {len(results)} configs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
