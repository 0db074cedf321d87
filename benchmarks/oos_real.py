"""Real-data out-of-sample walk-forward: is the configured agent worth trading after costs? (issue 11, item 4)

For each dataset, K walk-forward folds x S seeds. Every (fold, seed) run trains a fresh agent on the fold's past,
selects ``best/`` on a validation tail of that training window, and is tested on the fold's test window, which comes
after the training window and an embargo and is never used for training or selection. The folds are those of
``bot evaluate --cv-folds`` (:func:`bot.evaluation.walk_forward.plan_folds` over :func:`bot.data.walk_forward_folds`):
the data is cut into K consecutive blocks and each block's last ``splits.walk_forward.test_fraction`` (default 20 %)
is its test window. ``--window rolling`` (the default) trains each fold on its own block only (the folds share no bar,
so their results are independent); ``--window expanding`` trains on everything from the first block up to the
fold's embargo. The embargo is one day of bars (24 at 1h, 288 at 5m) unless ``--set splits.walk_forward.embargo_bars``
says otherwise.

On the same test bars and costs as the agent it runs buy-and-hold, flat, the MA crossover (``evaluation.ma_fast``/
``ma_slow``) and the random policy at the agent's trading pace (mean of ``evaluation.n_random_runs`` seeded runs).
It prints and writes JSON: per (fold, seed) and as the mean with a 95 % t confidence interval over all runs, net
Sharpe, total return, max drawdown, turnover, cost drag, trades per day and more (a metric that this version of
``bot.evaluation.metrics.Metrics`` does not have, or a NaN, is null; an infinite one is the string ``"inf"``).
Then the issue's targets as PASS/FAIL lines:

- real data: mean net Sharpe >= buy-and-hold's and > 0; mean max drawdown <= buy-and-hold's; cost drag <= 25 % of
  gross PnL, pooled over the runs (sum of fees + slippage + funding over sum of gross PnL: a mean of per-run ratios
  is undefined when a run has no gross edge);
- ``syn_trend`` (the embedded generator as a persistent, slowly switching trend market, no planted signal): mean net
  return >= the MA crossover's.

Datasets (read from ``../shared/data``, never copied): ``btc1h`` BTC/USDT 1h 2017-08..2022-12 (features 1h, 4h),
``btc5m`` and ``eth5m`` BTC/USDT and ETH/USDT 5m 2023 (features 5m, 1h, 4h), ``syn_trend`` synthetic 1h (1h, 4h).
Each run uses ``training.n_workers=1`` (its envs step in-process) and ``training.torch_threads=1``, so ``--jobs 2`` on
a 2-core machine keeps both cores busy with two runs at once. One torch thread, because the policy's small MLP gains
nothing from intra-op threads and loses a lot when the cores are shared: a 2,048-step btc1h run took 62 s with 2
threads and 10 s with 1 on a busy 2-core box. ``--set`` overrides come after these
presets and apply to every run, so decision controls are compared without editing this script::

    python benchmarks/oos_real.py --dry-run --synthetic-trend     # print every fold's dates, train nothing
    python benchmarks/oos_real.py --folds 3 --seeds 3 --timesteps 50000 --jobs 2 --label default
    python benchmarks/oos_real.py --datasets btc1h --label every12 --set env.decision_every=12
    python benchmarks/oos_real.py --synthetic-trend --label syn

Writes ``benchmarks/out/oos_real_<label>.json`` (rewritten after every run, ``"complete": false`` until the end).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from bot.atomic import atomic_write_bytes
from bot.config import BotConfig, load_config
from bot.data import build_market
from bot.data.types import MarketData
from bot.errors import BotError
from bot.evaluation.report import json_safe
from bot.evaluation.walk_forward import (
    RANDOM_PACED,
    WINDOWS,
    FoldRun,
    WalkForwardResult,
    Window,
    fold_dataset,
    plan_folds,
    run_fold,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
OUT_DIR = REPO_ROOT / "benchmarks" / "out"
#: Metrics reported per run and aggregated; those missing from this version's ``Metrics`` are null.
REPORT_KEYS = (
    "sharpe", "total_return", "max_drawdown", "turnover", "turnover_per_day", "cost_drag", "cost_drag_equity",
    "trades_per_day", "trades", "avg_holding_bars", "exposure", "win_rate", "gross_pnl", "fees", "slippage", "funding",
    "fees_paid", "fill_rate", "final_equity", "days",
)  # fmt: skip
#: Cost drag target: fees + slippage + funding at most this share of the gross PnL.
MAX_COST_DRAG = 0.25


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """One benchmark dataset: a data file in ``../shared/data`` (or the generator) and its timeframes."""

    description: str
    file: str | None  # relative to SHARED_DATA; None = synthetic
    overrides: tuple[str, ...]


def _real(description: str, file: str, symbol: str, timeframes: str, embargo_bars: int) -> DatasetSpec:
    """A dataset of ``SHARED_DATA / file``; the base timeframe is the first of ``timeframes``."""
    overrides = (
        "data.source=file",
        f"data.path={SHARED_DATA / file}",
        f"data.symbol={symbol}",
        f"data.base_timeframe={timeframes.strip('[]').split(',')[0]}",
        f"data.timeframes={timeframes}",
        f"splits.walk_forward.embargo_bars={embargo_bars}",  # one day of bars
    )
    return DatasetSpec(description, file, overrides)


DATASETS: dict[str, DatasetSpec] = {
    "btc1h": _real(
        "BTC/USDT 1h, 2017-08..2022-12, features 1h + 4h",
        "binance_btcusdt_1h_2017_2022/BTC_USDT-1h.csv.gz",
        "BTC/USDT",
        "[1h, 4h]",
        24,
    ),
    "btc5m": _real(
        "BTC/USDT 5m, 2023, features 5m + 1h + 4h",
        "binance_spot_2023/BTC_USDT-5m.csv.gz",
        "BTC/USDT",
        "[5m, 1h, 4h]",
        288,
    ),
    "eth5m": _real(
        "ETH/USDT 5m, 2023, features 5m + 1h + 4h",
        "binance_spot_2023/ETH_USDT-5m.csv.gz",
        "ETH/USDT",
        "[5m, 1h, 4h]",
        288,
    ),
    "syn_trend": DatasetSpec(
        "synthetic 1h, persistent slowly switching trends (persistence 0.999), no planted signal, features 1h + 4h",
        None,
        (
            "data.source=synthetic",
            "data.symbol=SYN/USDT",
            "data.base_timeframe=1h",
            "data.timeframes=[1h, 4h]",
            "data.synthetic.n_bars=30000",
            "data.synthetic.regime_persistence=0.999",
            "data.synthetic.signal_strength=0.0",
            "splits.walk_forward.embargo_bars=24",
        ),
    ),
}
REAL_DATASETS = ("btc1h", "btc5m", "eth5m")


@dataclass(frozen=True, slots=True)
class Task:
    """One (dataset, fold, seed) run, picklable for a worker process."""

    dataset: str
    cfg: BotConfig
    fold: int
    n_folds: int
    window: Window
    run_dir: Path
    which: str


@dataclass(frozen=True, slots=True)
class Target:
    """One of the issue's targets, judged on the aggregate of a dataset's runs."""

    name: str
    passed: bool
    detail: str


_MARKETS: dict[str, MarketData] = {}  # per process: each worker builds a dataset's market once


def _market(dataset: str, cfg: BotConfig) -> MarketData:
    if dataset not in _MARKETS:
        _MARKETS[dataset] = build_market(cfg)
    return _MARKETS[dataset]


def run_task(task: Task) -> tuple[Task, FoldRun]:
    """Train and test one (fold, seed) of a dataset (in this process or a pool worker)."""
    market = _market(task.dataset, task.cfg)
    folds = plan_folds(len(market), task.cfg, task.n_folds, task.window)
    dataset = fold_dataset(market, task.cfg, folds[task.fold])
    return task, run_fold(task.cfg, dataset, task.fold, task.run_dir, task.which)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The flags, checked: a bad value exits with status 2 and a message naming it."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--datasets", default=",".join(REAL_DATASETS), help=f"comma list of {sorted(DATASETS)}")
    parser.add_argument("--synthetic-trend", action="store_true", help="add the syn_trend dataset")
    parser.add_argument("--folds", type=int, default=3, help="walk-forward folds K (>= 2)")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per fold S (>= 1): seed, seed+1, ...")
    parser.add_argument("--timesteps", type=int, default=None, help="env steps per run (default: the config's)")
    parser.add_argument("--config", default=str(REPO_ROOT / "config" / "config.yaml"), help="base YAML config")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--window", choices=WINDOWS, default="rolling", help="training window of each fold")
    parser.add_argument("--which", choices=("best", "latest"), default="best", help="checkpoint of each run tested")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel processes (>= 1)")
    parser.add_argument("--label", default="default", help="names the output file")
    parser.add_argument("--out", default=None, help="JSON output (default benchmarks/out/oos_real_<label>.json)")
    parser.add_argument("--runs-dir", default=None, help="keep the run folders here (default: a deleted temp dir)")
    parser.add_argument(
        "--dry-run", action="store_true", help="check the flags, data and folds; print them; train nothing"
    )
    args = parser.parse_args(argv)
    names = [d.strip() for d in args.datasets.split(",") if d.strip()]
    if args.synthetic_trend and "syn_trend" not in names:
        names.append("syn_trend")
    unknown = [d for d in names if d not in DATASETS]
    if unknown or not names:
        parser.error(f"--datasets {args.datasets!r}: unknown {unknown}; use a comma list of {sorted(DATASETS)}")
    args.datasets = names
    for flag, value, low in (("--folds", args.folds, 2), ("--seeds", args.seeds, 1), ("--jobs", args.jobs, 1)):
        if value < low:
            parser.error(f"{flag}={value} must be >= {low}")
    if args.timesteps is not None and args.timesteps < 1:
        parser.error(f"--timesteps={args.timesteps} must be >= 1")
    if not args.label or not all(c.isalnum() or c in "-_." for c in args.label):
        parser.error(f"--label={args.label!r} must be a non-empty name of letters, digits, '-', '_' or '.'")
    bad = [o for o in args.overrides if "=" not in o]
    if bad:
        parser.error(f"--set {bad[0]!r} is not KEY=VALUE (e.g. --set env.decision_every=12)")
    files = [SHARED_DATA / file for d in names if (file := DATASETS[d].file) is not None]
    missing = [p for p in files if not p.is_file()]
    if missing:
        parser.error(
            f"real market data not found: {', '.join(map(str, missing))}; this benchmark reads ../shared/data beside"
            " the repository (see its README.md); use --datasets syn_trend to run without it"
        )
    return args


def dataset_config(name: str, args: argparse.Namespace) -> BotConfig:
    """The config of every run on ``name``: file, presets, the user's ``--set`` overrides, then ``--timesteps``."""
    overrides = [
        *DATASETS[name].overrides,
        "training.n_workers=1",  # in-process envs: one core per run, so --jobs sets the parallelism
        "training.torch_threads=1",  # see the module docstring
        "training.checkpoint_freq=0",  # only latest/ and best/ are used
        "logging.console=false",
        *args.overrides,
    ]
    if args.timesteps is not None:
        overrides.append(f"training.total_timesteps={args.timesteps}")
    return load_config(args.config, overrides)


def _clean(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def pick(metrics: dict[str, float]) -> dict[str, float | None]:
    """The reported keys of one policy's metrics, null where this version of ``Metrics`` lacks one or it is NaN."""
    return {k: _clean(metrics.get(k)) for k in REPORT_KEYS}


def aggregate(runs: Sequence[FoldRun], n_folds: int) -> dict[str, dict[str, dict[str, float | None] | None]]:
    """Policy -> metric -> mean and 95 % CI over every run (null for a missing metric)."""
    result = WalkForwardResult(n_folds, tuple(sorted({r.seed for r in runs})), tuple(runs))
    out: dict[str, dict[str, dict[str, float | None] | None]] = {}
    for policy in runs[0].metrics:
        agg = result.aggregate(policy)
        out[policy] = {
            k: (
                {"mean": _clean(agg[k][0]), "ci95_low": _clean(agg[k][1]), "ci95_high": _clean(agg[k][2])}
                if k in agg
                else None
            )
            for k in REPORT_KEYS
        }
    return out


def _ma_name(policies: Sequence[str]) -> str:
    return next(p for p in policies if p.startswith("ma_crossover"))


def pooled_cost_drag(runs: Sequence[FoldRun], policy: str, initial_cash: float) -> dict[str, float | None]:
    """Sums over ``policy``'s runs of fees + slippage + funding and of gross PnL, and costs / gross (null without an
    edge).

    Without the split cost metrics (an older ``Metrics``), costs are ``fees_paid`` (fees + slippage) and the gross PnL
    is the net PnL plus them.
    """
    costs = gross = 0.0
    for run in runs:
        m = run.metrics[policy]
        if all(k in m for k in ("fees", "slippage", "funding", "gross_pnl")):
            cost, run_gross = m["fees"] + m["slippage"] + m["funding"], m["gross_pnl"]
        else:
            cost = m["fees_paid"]
            run_gross = m["final_equity"] - initial_cash + cost
        costs += cost
        gross += run_gross
    return {"costs": costs, "gross_pnl": gross, "ratio": costs / gross if gross > 0 else None}


def _mean(agg: dict[str, dict[str, dict[str, float | None] | None]], policy: str, key: str) -> float:
    cell = agg[policy][key]
    value = None if cell is None else cell["mean"]
    return math.nan if value is None else value


def judge(name: str, agg: dict[str, Any], pooled: dict[str, float | None], n_runs: int) -> list[Target]:
    """The issue's targets for dataset ``name`` (the trend target on ``syn_trend``, the three others on real data).

    :param agg: :func:`aggregate` of the dataset's runs.
    :param pooled: :func:`pooled_cost_drag` of the agent.
    :param n_runs: runs aggregated.
    """
    if name == "syn_trend":
        ma = _ma_name(list(agg))
        a, m = _mean(agg, "agent", "total_return"), _mean(agg, ma, "total_return")
        return [Target("mean net return >= MA crossover's", a >= m, f"agent {a:+.2%} vs {ma} {m:+.2%}")]
    sharpe, bh_sharpe = _mean(agg, "agent", "sharpe"), _mean(agg, "buy_and_hold", "sharpe")
    dd, bh_dd = _mean(agg, "agent", "max_drawdown"), _mean(agg, "buy_and_hold", "max_drawdown")
    costs, gross, ratio = pooled["costs"] or 0.0, pooled["gross_pnl"] or 0.0, pooled["ratio"]
    if ratio is not None:
        drag_ok, drag = ratio <= MAX_COST_DRAG, f"{ratio:.1%} of gross PnL"
    else:
        drag_ok, drag = costs <= 0, "no gross edge (gross PnL <= 0)"
    return [
        Target(
            "mean net Sharpe >= buy-and-hold's and > 0",
            sharpe >= bh_sharpe and sharpe > 0,
            f"agent {sharpe:.3f} vs buy-and-hold {bh_sharpe:.3f}",
        ),
        Target("mean max drawdown <= buy-and-hold's", dd <= bh_dd, f"agent {dd:.2%} vs buy-and-hold {bh_dd:.2%}"),
        Target(
            f"cost drag <= {MAX_COST_DRAG:.0%} of gross PnL (pooled)",
            drag_ok,
            f"costs {costs:,.0f} vs gross PnL {gross:,.0f} over {n_runs} runs: {drag}",
        ),
    ]


def _fmt(cell: dict[str, float | None] | None, spec: str, ci: bool = True) -> str:
    if cell is None or cell["mean"] is None:
        return "n/a"
    text = format(cell["mean"], spec)
    if ci and cell["ci95_low"] is not None and cell["ci95_high"] is not None:
        text += f" [{format(cell['ci95_low'], spec)}, {format(cell['ci95_high'], spec)}]"
    return text


def summary_lines(
    name: str, agg: dict[str, Any], pooled: dict[str, dict[str, float | None]], targets: Sequence[Target]
) -> list[str]:
    """The printed aggregate table and target lines of one dataset (cost drag pooled over the runs)."""
    lines = [f"{name}: mean [95% CI] over all folds x seeds; cost drag = sum of costs / sum of gross PnL"]
    for policy, c in agg.items():
        ratio = pooled[policy]["ratio"]
        drag = "no edge" if ratio is None else f"{ratio:.0%}"
        lines.append(
            f"  {policy:<20} Sharpe {_fmt(c['sharpe'], '.2f'):<24} return {_fmt(c['total_return'], '+.1%'):<26}"
            f" max DD {_fmt(c['max_drawdown'], '.1%'):<24} turnover/day {_fmt(c['turnover_per_day'], '.2f', False)}"
            f"  trades/day {_fmt(c['trades_per_day'], '.2f', False)}  cost drag {drag}"
        )
    lines += [f"TARGET {'PASS' if t.passed else 'FAIL'}  {name}: {t.name}: {t.detail}" for t in targets]
    return lines


def _git_revision() -> str:
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip()


def _run_record(run: FoldRun) -> dict[str, Any]:
    return {
        "fold": run.fold,
        "seed": run.seed,
        "train_rows": [run.train.start, run.train.stop],
        "test_rows": [run.test.start, run.test.stop],
        "train_period": list(run.train_period),
        "test_period": list(run.test_period),
        "train_seconds": round(run.train_seconds, 1),
        "metrics": {policy: pick(m) for policy, m in run.metrics.items()},
    }


def _run_line(dataset: str, run: FoldRun) -> str:
    a, bh = run.metrics["agent"], run.metrics["buy_and_hold"]
    return (
        f"{dataset} fold {run.fold} seed {run.seed} ({run.test_period[0]} .. {run.test_period[1]},"
        f" trained {run.train_seconds:.0f} s): agent Sharpe {a['sharpe']:.2f} return {a['total_return']:+.1%}"
        f" max DD {a['max_drawdown']:.1%}; buy-and-hold Sharpe {bh['sharpe']:.2f} return {bh['total_return']:+.1%}"
    )


def execute(tasks: Sequence[Task], jobs: int, done: Callable[[Task, FoldRun], None]) -> None:
    """Run the tasks in this process (one job) or a process pool, calling ``done(task, run)`` as each finishes.

    :raises RuntimeError: naming the dataset, fold and seed of the first run that failed (the others are cancelled).
    """
    if jobs == 1:
        for task in tasks:
            try:
                run = run_task(task)[1]
            except Exception as e:
                raise RuntimeError(f"{task.dataset} fold {task.fold} seed {task.cfg.seed} failed: {e}") from e
            done(task, run)
        return
    # forkserver: a child forked from a parent whose torch/OpenMP threads are running can deadlock
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("forkserver")) as pool:
        futures = {pool.submit(run_task, t): t for t in tasks}
        for future in as_completed(futures):
            task = futures[future]
            try:
                run = future.result()[1]
            except Exception as e:
                pool.shutdown(cancel_futures=True)
                raise RuntimeError(f"{task.dataset} fold {task.fold} seed {task.cfg.seed} failed: {e}") from e
            done(task, run)


def _span(market: MarketData, rows: range) -> str:
    days = [str(np.datetime64(int(market.open_time_ms[r]), "ms").astype("datetime64[D]")) for r in (rows[0], rows[-1])]
    return f"{days[0]}..{days[1]} (rows {rows.start}..{rows.stop - 1})"


def plan(args: argparse.Namespace, runs_root: Path, payload: dict[str, Any]) -> tuple[list[Task], dict[str, BotConfig]]:
    """Every dataset's config, market and folds (checked before any training), as tasks fold-major then seed.

    :raises BotError: for a bad ``--set`` override, unreadable data or folds that do not fit the data.
    """
    tasks: list[Task] = []
    configs: dict[str, BotConfig] = {}
    for name in args.datasets:
        cfg = dataset_config(name, args)
        market = _market(name, cfg)
        folds = plan_folds(len(market), cfg, args.folds, cast(Window, args.window))
        configs[name] = cfg
        payload["datasets"][name] = {
            "description": DATASETS[name].description,
            "path": cfg.data.path if cfg.data.source == "file" else None,
            "timeframes": list(cfg.data.timeframes),
            "n_bars": len(market),
            "timesteps": cfg.training.total_timesteps,
            "embargo_bars": cfg.splits.walk_forward.embargo_bars,
            "resolved_config": cfg.model_dump(mode="json"),  # what every run of this dataset trained with
            "runs": [],
        }
        print(f"{name}: {DATASETS[name].description}; {len(market)} bars, {cfg.training.total_timesteps} steps per run")
        for i, fold in enumerate(folds):
            print(f"  fold {i}: train {_span(market, fold.train)}, test {_span(market, fold.test)}")
            for s in range(args.seeds):
                run_cfg = cfg.model_copy(deep=True)
                run_cfg.seed = cfg.seed + s
                run_dir = runs_root / f"{args.label}_{name}_fold{i}_seed{run_cfg.seed}"
                tasks.append(Task(name, run_cfg, i, args.folds, args.window, run_dir, args.which))
    return tasks, configs


def report(
    args: argparse.Namespace, results: dict[str, list[FoldRun]], configs: dict[str, BotConfig], payload: dict[str, Any]
) -> None:
    """Aggregate each dataset's runs, judge the targets, print them and add them to ``payload``."""
    all_targets: list[Target] = []
    for name in args.datasets:
        runs = sorted(results[name], key=lambda r: (r.fold, r.seed))
        agg = aggregate(runs, args.folds)
        cash = configs[name].portfolio.initial_cash
        pooled = {policy: pooled_cost_drag(runs, policy, cash) for policy in agg}
        targets = judge(name, agg, pooled["agent"], len(runs))
        all_targets += targets
        entry = payload["datasets"][name]
        entry["runs"].sort(key=lambda r: (r["fold"], r["seed"]))
        entry["policies"] = {"ma_crossover": _ma_name(list(agg)), "random_paced": RANDOM_PACED}
        entry["aggregate"] = agg
        entry["cost_drag_pooled"] = pooled
        entry["targets"] = [{"name": t.name, "passed": t.passed, "detail": t.detail} for t in targets]
        print("\n".join(summary_lines(name, agg, pooled, targets)))
    payload["all_targets_passed"] = all(t.passed for t in all_targets)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` atomically (non-finite floats as strings)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(json_safe(payload), indent=1).encode())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark: 0 when it ran (the targets are reported, not enforced), 2 for bad flags, config or data."""
    args = parse_args(argv)
    out = Path(args.out) if args.out else OUT_DIR / f"oos_real_{args.label}.json"
    started = time.perf_counter()
    payload: dict[str, Any] = {
        "benchmark": "oos_real",
        "label": args.label,
        "complete": False,
        "command": " ".join(["python", "benchmarks/oos_real.py", *(sys.argv[1:] if argv is None else argv)]),
        "revision": _git_revision(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "config": args.config,
        "overrides": args.overrides,
        "folds": args.folds,
        "seeds": args.seeds,
        "window": args.window,
        "which": args.which,
        "jobs": args.jobs,
        "datasets": {},
    }
    with tempfile.TemporaryDirectory(prefix="oos_real_") as tmp:
        try:
            tasks, configs = plan(args, Path(args.runs_dir) if args.runs_dir else Path(tmp), payload)
        except BotError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        if args.dry_run:
            print(f"dry run: {len(tasks)} runs planned, none trained")
            return 0
        results: dict[str, list[FoldRun]] = {name: [] for name in args.datasets}

        def done(task: Task, run: FoldRun) -> None:
            results[task.dataset].append(run)
            payload["datasets"][task.dataset]["runs"].append(_run_record(run))
            print(_run_line(task.dataset, run), flush=True)
            write_json(out, payload)  # a long benchmark that dies later keeps what it measured

        execute(tasks, args.jobs, done)
    report(args, results, configs, payload)
    payload["complete"] = True
    payload["wall_seconds"] = round(time.perf_counter() - started, 1)
    write_json(out, payload)
    print(f"wrote {out} ({payload['wall_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
