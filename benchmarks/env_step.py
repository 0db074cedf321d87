"""Single-env step throughput of ``bot.env.TradingEnv`` against gym-trading-env and gym-anytrading, in one run.

All three step through the same year of real 5m BTC/USDT candles with pre-generated random actions, unwrapped (no
gymnasium checker wrappers), resetting whenever an episode ends. Ours runs the default config (5m/1h/4h features,
window 32, random 1024-step episodes, the PortfolioManager with fees, slippage, SL/TP and the DBE every step).
gym-trading-env gets the same normalised features as ``feature_*`` columns, the same window, positions [-1, 0, 1],
the same taker fee and one episode over the whole year; gym-anytrading's ``StocksEnv`` gets the closes (its own two
features), the same window and one episode over the whole year. Two action streams: ``uniform`` (a new random action
every step, so most steps trade) and ``sticky`` (a new random action with probability 0.05 per step, closer to a
trained policy). Each figure is the best and the median of ``--repeats`` timed runs of ``--steps`` steps (the machine
is shared, so the best run is the least disturbed one). Two settings (``--settings``): ``classic`` (a market-order
decision every bar with the first round's DBE stops: the settings of the issue-18 figure) and ``defaults`` (the
config's defaults: a limit-order decision every ``env.decision_every`` bars, so one of our steps spans that many bars
and ``ours_bars_per_s`` is given too).

Install the other two first: ``pip install gym-anytrading==2.0.0`` and ``pip install --no-deps gym-trading-env==0.3.5``
(``pip install -e .[bench]`` would pull an old ccxt). Run: ``python benchmarks/env_step.py [--profile]``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.config import BotConfig, load_config  # noqa: E402
from bot.data import build_dataset  # noqa: E402
from bot.data.types import Dataset  # noqa: E402
from bot.env import TradingEnv, make_env  # noqa: E402
from bot.env.step_kernel import SETTLE, TERMINATED  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "binance_spot_2023" / "BTC_USDT-5m.csv.gz"
OUT = REPO / "benchmarks" / "out" / "env_step.json"
#: scenario -> probability of drawing a new random action at each step (1.0: uniform random actions every step).
SCENARIOS = {"uniform": 1.0, "sticky": 0.05}
#: settings -> ``--set`` overrides. ``classic``: a market-order decision every bar, the DBE on with the first round's
#: stops (tests/support/classic.py pins the same for the tests of mechanics); ``defaults``: the config as shipped.
SETTINGS: dict[str, tuple[str, ...]] = {
    "classic": (
        "env.decision_every=1",
        "portfolio.order_type=market",
        "dbe.enabled=true",
        "dbe.base_stop_loss=0.02",
        "dbe.base_take_profit=0.04",
        "dbe.stop_loss.low=0.005",
        "dbe.stop_loss.high=0.05",
        "dbe.drawdown_halflife_bars=0",
    ),
    "defaults": (),
}


def timed_steps(env: Any, actions: list[int], repeats: int) -> list[float]:
    """Steps/s of each of ``repeats`` runs of ``len(actions)`` steps (reset on episode end)."""
    rates = []
    step, reset = env.step, env.reset
    for _ in range(repeats):
        reset(seed=0)
        start = time.perf_counter()
        for a in actions:
            _, _, terminated, truncated, _ = step(a)
            if terminated or truncated:
                reset()
        rates.append(len(actions) / (time.perf_counter() - start))
    return rates


def random_actions(n_actions: int, n_steps: int, switch_prob: float, seed: int = 0) -> list[int]:
    """Pre-generated random actions: a new uniform action with probability ``switch_prob`` per step (1 = every step)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_actions, n_steps)
    switch = rng.random(n_steps) < switch_prob
    switch[0] = True
    held = np.maximum.accumulate(np.where(switch, np.arange(n_steps), 0))
    return draws[held].tolist()


def our_env(cfg: BotConfig, dataset: Dataset) -> TradingEnv:
    return make_env(cfg, split="all", seed=0, dataset=dataset)


def gym_trading_env(cfg: BotConfig, dataset: Dataset) -> Any:
    from gym_trading_env.environments import TradingEnv as GteTradingEnv

    market = dataset.market
    frame = pd.DataFrame(
        {"open": market.open, "high": market.high, "low": market.low, "close": market.close, "volume": market.volume},
        index=pd.to_datetime(market.open_time_ms, unit="ms"),  # naive UTC: it reads index.values
    )
    for i in range(dataset.obs_features.shape[1]):
        frame[f"feature_{i}"] = dataset.obs_features[:, i]
    return GteTradingEnv(
        df=frame,
        positions=[-1, 0, 1],
        windows=cfg.env.window,
        trading_fees=cfg.portfolio.taker_fee,
        portfolio_initial_value=cfg.portfolio.initial_cash,
        initial_position=0,
        verbose=0,
        render_mode=None,
    )


def gym_anytrading(cfg: BotConfig, dataset: Dataset) -> Any:
    from gym_anytrading.envs import StocksEnv

    frame = pd.DataFrame({"Close": dataset.market.close})
    window = cfg.env.window
    return StocksEnv(frame, window_size=window, frame_bound=(window, len(frame)))


class PortfolioOnly:
    """The floor under our env: its step's one compiled call (``run_bars``: the account's bar, the DBE's update, the
    portfolio observation and the info's figures), without the decision, the market window, the reward or the info
    dict.

    ``ours - portfolio_only`` is what the env itself adds per step. Episodes reset like ours: at the episode's end,
    on bankruptcy or past ``env.max_drawdown``.
    """

    def __init__(self, cfg: BotConfig, dataset: Dataset) -> None:
        self.env = our_env(cfg, dataset)
        self.action_space = self.env.action_space
        self.max_drawdown = cfg.env.max_drawdown
        self.portfolio = np.empty(len(self.env.portfolio_feature_names), np.float32)
        self.t = self.stop = 0

    def reset(self, seed: int | None = None) -> None:
        self.env.reset(seed=seed)
        self.t, self.stop = self.env.episode.start, self.env.episode.stop - 1

    def step(self, action: int) -> tuple[None, float, bool, bool, None]:
        env = self.env
        pm, dbe, record = env.portfolio, env.dbe, env._bars
        target, size = env.actions.targets[action], dbe.size_fraction
        status, t, record.n, _, flags, _ = env._kernels.run_bars(
            pm.state, env._bar_table, dbe.state, dbe.tables, record.bars, env.obs_refs.values, self.portfolio,
            env._portfolio_scales, record.n, self.t, self.t + 1, target, size, True, 0.0, 0.0, self.max_drawdown, False,
        )  # fmt: skip
        if status & SETTLE:
            pm.settle(flags, target, size)
        self.t = t
        terminated = bool(status & TERMINATED)
        return None, 0.0, terminated, not terminated and t >= self.stop, None


def profile_ours(env: TradingEnv, actions: list[int]) -> str:
    """cProfile of our step loop, top 15 by own time."""
    profiler = cProfile.Profile()
    profiler.runcall(timed_steps, env, actions, 1)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(15)
    return text.getvalue()


def run_settings(cfg: BotConfig, dataset: Dataset, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Every env, every scenario, round robin; returns ``{scenario: {env: {best, median}, ratios...}}``."""
    builders: dict[str, Callable[[BotConfig, Dataset], Any]] = {
        "ours": our_env,
        "gym_trading_env": gym_trading_env,
        "gym_anytrading": gym_anytrading,
        "portfolio_only": PortfolioOnly,
    }
    envs = {name: build(cfg, dataset) for name, build in builders.items()}
    results: dict[str, dict[str, Any]] = {}
    for scenario, switch_prob in SCENARIOS.items():
        print(f"scenario {scenario}: a new random action with probability {switch_prob} per step")
        actions = {name: random_actions(int(env.action_space.n), args.steps, switch_prob) for name, env in envs.items()}
        rates: dict[str, list[float]] = {name: [] for name in envs}
        for name, env in envs.items():
            timed_steps(env, actions[name][: min(5_000, args.steps)], 1)  # warm-up
        # round robin, so that every env meets the same (shared, fluctuating) machine load
        for _ in range(args.repeats):
            for name, env in envs.items():
                rates[name] += timed_steps(env, actions[name], 1)
        row: dict[str, Any] = {}
        for name, r in rates.items():
            row[name] = {"best": max(r), "median": statistics.median(r)}
            print(f"{name:>16}: best {max(r):>10,.0f} steps/s, median {statistics.median(r):>10,.0f}")
        row["ours_bars_per_s"] = {k: v * cfg.env.decision_every for k, v in row["ours"].items()}
        for other in ("gym_trading_env", "gym_anytrading"):
            row[f"ratio_vs_{other}"] = {k: row["ours"][k] / row[other][k] for k in ("best", "median")}
        # what the env adds per step on top of the PortfolioManager + DBE work, in microseconds (one bar per step)
        if cfg.env.decision_every == 1:
            row["env_overhead_us"] = {
                k: 1e6 / row["ours"][k] - 1e6 / row["portfolio_only"][k] for k in ("best", "median")
            }
        print(
            f"ours / gym-trading-env = {row['ratio_vs_gym_trading_env']['best']:.2f}x (best), "
            f"ours / gym-anytrading = {row['ratio_vs_gym_anytrading']['best']:.2f}x (best), "
            f"ours = {row['ours_bars_per_s']['best']:,.0f} bars/s (best)"
        )
        results[scenario] = row
    if args.profile:
        print(profile_ours(envs["ours"], random_actions(int(envs["ours"].action_space.n), args.steps, 1.0)))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="5m OHLCV file (one year)")
    parser.add_argument("--steps", type=int, default=100_000, help="steps per timed run")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per env (best is reported)")
    parser.add_argument("--settings", choices=[*SETTINGS, "both"], default="both", help="which settings to run")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of our step loop")
    parser.add_argument("--out", default=str(OUT), help="JSON output")
    args = parser.parse_args()
    if not Path(args.data).is_file():
        print(f"data file {args.data} not found; pass --data or clone ../shared beside the repo")
        return 2
    names = list(SETTINGS) if args.settings == "both" else [args.settings]
    results: dict[str, Any] = {}
    for name in names:
        cfg = load_config(None, ["data.source=file", f"data.path={args.data}", *SETTINGS[name]])
        start = time.perf_counter()
        dataset = build_dataset(cfg)
        print(f"settings {name}: {len(dataset.market)} bars x {dataset.obs_features.shape[1]} features"
              f" in {time.perf_counter() - start:.2f}s")  # fmt: skip
        results[name] = run_settings(cfg, dataset, args)
    report = {
        "benchmark": "env_step",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "data": Path(args.data).name,
        "n_bars": len(dataset.market),
        "n_features": int(dataset.obs_features.shape[1]),
        "window": cfg.env.window,
        "steps_per_run": args.steps,
        "repeats": args.repeats,
        "settings": {name: list(SETTINGS[name]) for name in names},
        "steps_per_s": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
