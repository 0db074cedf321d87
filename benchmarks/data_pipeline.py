"""Benchmark: load + validate + 5m/1h/4h features for one year of 5m BTC/USDT and ETH/USDT, time and peak RSS.

Each repeat runs in a fresh Python process (``--child``), so the figures include the cold start of the pipeline as
a training run sees it: imports, reading the gzip CSVs, validation, gap handling, per-segment TA-Lib features on
every timeframe, the float32 matrix and the candle fingerprint (``bot.data.build_market`` for both symbols). Peak
RSS is the child's ``ru_maxrss`` (the whole process: interpreter, pandas, pyarrow, TA-Lib and the data).

Run: ``python benchmarks/data_pipeline.py``; prints the figures and writes ``benchmarks/out/data_pipeline.json``.
Targets: under 3 s and under 500 MB peak RSS.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "binance_spot_2023"
OUT = ROOT / "benchmarks" / "out" / "data_pipeline.json"
SYMBOLS = {"BTC/USDT": "BTC_USDT-5m.csv.gz", "ETH/USDT": "ETH_USDT-5m.csv.gz"}
TARGET_S, TARGET_MB = 3.0, 500.0


def _child() -> dict[str, object]:
    """One cold run of the pipeline in this process; returns its timings and peak RSS."""
    t0 = time.perf_counter()
    from bot.config import load_config
    from bot.data import build_market, load_ohlcv

    t_import = time.perf_counter() - t0
    stages: dict[str, float] = {}
    n_bars, n_features, n_valid = 0, 0, 0
    t1 = time.perf_counter()
    for symbol, name in SYMBOLS.items():
        cfg = load_config(
            None,
            ["data.source=file", f"data.path={DATA / name}", f"data.symbol={symbol}", "data.timeframes=[5m, 1h, 4h]"],
        )
        market = build_market(cfg)
        n_bars += len(market)
        n_features = len(market.feature_names)
        n_valid += int(market.valid.sum())
    stages["pipeline_s"] = time.perf_counter() - t1
    # stage split for one symbol (already warm): loading + validation alone
    t2 = time.perf_counter()
    load_ohlcv(DATA / SYMBOLS["BTC/USDT"])
    stages["load_validate_one_symbol_s"] = time.perf_counter() - t2
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    return {
        "import_s": t_import,
        **stages,
        "total_s": t_import + stages["pipeline_s"],
        "peak_rss_mb": peak_mb,
        "bars": n_bars,
        "features": n_features,
        "valid_rows": n_valid,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="fresh-process runs")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child()))
        return 0
    if not DATA.is_dir():
        print(f"skipped: real data not found at {DATA}")
        return 0
    runs = []
    for _ in range(args.repeats):
        done = subprocess.run(
            [sys.executable, __file__, "--child"], capture_output=True, text=True, check=True, timeout=300, cwd=ROOT
        )
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    keys = ["import_s", "pipeline_s", "total_s", "load_validate_one_symbol_s", "peak_rss_mb"]
    summary = {k: {"best": min(r[k] for r in runs), "median": statistics.median(r[k] for r in runs)} for k in keys}
    result = {
        "benchmark": "data_pipeline",
        "time_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "symbols": list(SYMBOLS),
        "timeframes": ["5m", "1h", "4h"],
        "bars": runs[0]["bars"],
        "features_per_symbol": runs[0]["features"],
        "valid_rows": runs[0]["valid_rows"],
        "repeats": args.repeats,
        "summary": summary,
        "runs": runs,
        "target": {"total_s": TARGET_S, "peak_rss_mb": TARGET_MB},
        "met": summary["total_s"]["median"] < TARGET_S and summary["peak_rss_mb"]["median"] < TARGET_MB,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    print(f"{result['bars']} bars x {result['features_per_symbol']} features, {args.repeats} fresh processes")
    for k in keys:
        print(f"  {k:<28} best {summary[k]['best']:8.3f}   median {summary[k]['median']:8.3f}")
    print(f"target: < {TARGET_S} s and < {TARGET_MB} MB -> {'met' if result['met'] else 'NOT met'}; wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
