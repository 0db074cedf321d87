"""Benchmark: PortfolioManager.process_bar + DynamicBehaviorEngine.update calls per second on one year of real 5m BTC.

Replays every bar of ``../shared/data/binance_spot_2023/BTC_USDT-5m.csv.gz`` (about 105k bars) in episodes of
``--episode`` bars, as the env does: at each bar the portfolio executes the previous decision, then the DBE updates
from the new drawdown and the closed trade. Targets are random exposure levels held for a geometric number of bars
(mean ``1 / --switch-prob``), so trades, stops and take profits happen at a realistic rate. Also timed alone: the
portfolio, the DBE, and a worst case where the target changes every bar.

Run: ``python benchmarks/portfolio_step.py``; prints the figures and writes ``benchmarks/out/portfolio_step.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from bot.config import DBEConfig, PortfolioConfig
from bot.dbe import DynamicBehaviorEngine, dbe_inputs
from bot.portfolio import PortfolioManager

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "binance_spot_2023" / "BTC_USDT-5m.csv.gz"
OUT = ROOT / "benchmarks" / "out" / "portfolio_step.json"

Bars = tuple[list[int], list[float], list[float], list[float], list[float]]


def _targets(n: int, switch_prob: float, levels: list[float], seed: int) -> list[float]:
    rng = random.Random(seed)
    out, target = [], 0.0
    for _ in range(n):
        if rng.random() < switch_prob:
            target = rng.choice(levels)
        out.append(target)
    return out


def _run_both(pm: PortfolioManager, dbe: DynamicBehaviorEngine, bars: Bars, targets: list[float], episode: int) -> int:
    times, opens, highs, lows, closes = bars
    process, update = pm.process_bar, dbe.update
    for t in range(len(times)):
        if t % episode == 0:
            pm.reset()
            dbe.reset()
        process(
            times[t], opens[t], highs[t], lows[t], closes[t], targets[t], dbe.stop_loss_pct,
            dbe.take_profit_pct, dbe.size_fraction,
        )  # fmt: skip
        update(t, pm.drawdown, pm.last_trade_pnl)
    return len(times)


def _run_portfolio(pm: PortfolioManager, bars: Bars, targets: list[float], episode: int) -> int:
    times, opens, highs, lows, closes = bars
    process = pm.process_bar
    for t in range(len(times)):
        if t % episode == 0:
            pm.reset()
        process(times[t], opens[t], highs[t], lows[t], closes[t], targets[t], 0.02, 0.04, 1.0)
    return len(times)


def _count_trades(pm: PortfolioManager, bars: Bars, targets: list[float], episode: int) -> int:
    times, opens, highs, lows, closes = bars
    n_trades = 0
    for t in range(len(times)):
        if t % episode == 0:
            n_trades += pm.n_trades
            pm.reset()
        pm.process_bar(times[t], opens[t], highs[t], lows[t], closes[t], targets[t], 0.02, 0.04, 1.0)
    return n_trades + pm.n_trades


def _run_dbe(dbe: DynamicBehaviorEngine, n: int) -> int:
    update = dbe.update
    for t in range(n):
        update(t, 0.03, None if t % 50 else 1.0)
    return n


def _best_rate(fn: Callable[[], int], repeats: int) -> tuple[float, float]:
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        n = fn()
        rates.append(n / (time.perf_counter() - start))
    return max(rates), statistics.median(rates)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--episode", type=int, default=2_048)
    parser.add_argument("--switch-prob", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"data file {args.data} not found; pass --data or clone ../shared beside the repo")
        return 2

    df = pd.read_csv(args.data)
    times = df["timestamp"].astype("int64").tolist()
    bars: Bars = (times, df["open"].tolist(), df["high"].tolist(), df["low"].tolist(), df["close"].tolist())
    n = len(times)
    start = time.perf_counter()
    atr_rel, trend = dbe_inputs(df["close"].to_numpy(), df["high"].to_numpy(), df["low"].to_numpy())
    dbe = DynamicBehaviorEngine(DBEConfig(), atr_rel, trend)
    build_s = time.perf_counter() - start
    pm = PortfolioManager(PortfolioConfig(market="perpetual", leverage=2.0, funding_rate_8h=0.0001))
    targets = _targets(n, args.switch_prob, [-1.0, 0.0, 1.0], args.seed)
    every_bar = _targets(n, 1.0, [-1.0, -0.5, 0.0, 0.5, 1.0], args.seed)

    both_best, both_median = _best_rate(lambda: _run_both(pm, dbe, bars, targets, args.episode), args.repeats)
    n_trades = _count_trades(pm, bars, targets, args.episode)
    pm_best, pm_median = _best_rate(lambda: _run_portfolio(pm, bars, targets, args.episode), args.repeats)
    worst_best, worst_median = _best_rate(lambda: _run_portfolio(pm, bars, every_bar, args.episode), args.repeats)
    dbe_best, dbe_median = _best_rate(lambda: _run_dbe(dbe, n), args.repeats)

    result = {
        "benchmark": "portfolio_step",
        "data": str(args.data.name),
        "bars": n,
        "episode_bars": args.episode,
        "switch_prob": args.switch_prob,
        "closed_trades_per_1000_bars": round(1000 * n_trades / n, 2),
        "dbe_build_s": round(build_s, 3),
        "portfolio_plus_dbe_per_s": {"best": round(both_best), "median": round(both_median)},
        "portfolio_only_per_s": {"best": round(pm_best), "median": round(pm_median)},
        "portfolio_target_changes_every_bar_per_s": {"best": round(worst_best), "median": round(worst_median)},
        "dbe_only_per_s": {"best": round(dbe_best), "median": round(dbe_median)},
        "repeats": args.repeats,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(json.dumps(result, indent=2))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
