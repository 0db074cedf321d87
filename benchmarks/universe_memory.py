"""Memory of a universe (``env.mode: universe``) of 5 symbols x 1 year of 5m bars with 5m/1h/4h features.

The claim: the trainer holds the aligned universe in under 1 GB, and its worker processes map it read-only from the
shared block instead of each holding a copy. The real 2023 candles of ``../shared/data/binance_spot_2023`` give BTC and
ETH; the other 3 symbols are a correlated synthetic basket over the same year (there are only 2 real 5m symbols),
written to a temp folder as Parquet and loaded like any symbol file. The script then

1. builds the universe in this process (the trainer's role) and reports its arrays' bytes, the (N, T) aligned prices
   of :func:`bot.data.aligned_prices`, the shared block, and the process's RSS and peak RSS;
2. starts the trainer's training VecEnv (``build_train_env``: 2 workers x 4 universe envs, default start method),
   resets and steps it, and reports each worker's PSS and private memory (``/proc/<pid>/smaps_rollup``); with
   ``--copies`` each worker gets its own pickled copy of the universe instead (what a plain factory would do), for
   comparison: the difference is what the shared block saves per worker.

Writes benchmarks/out/universe_memory[_copies].json.

    python benchmarks/universe_memory.py [--workers 2] [--envs-per-worker 4] [--steps 256] [--copies]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.worker_memory import pss_mb, start_train_env, step_workers
from bot.config import SyntheticConfig, load_config
from bot.data import aligned_prices, build_universe
from bot.data.synthetic import generate_basket
from bot.data.validation import index_to_ms
from bot.training.shared_dataset import SharedUniverse

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "binance_spot_2023"
OUT = Path(__file__).resolve().parent / "out" / "universe_memory.json"
YEAR_5M = 365 * 288


def rss_mb() -> float:
    """Resident set size of this process in MB (10^6 bytes)."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def private_mb(pid: int) -> float:
    """Private (unshared) memory of one process in MB: what it holds that no other process maps."""
    total = 0
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1]) * 1024
    return total / 1e6


def synthetic_files(folder: Path, n_assets: int) -> list[tuple[str, Path]]:
    """``n_assets`` correlated synthetic symbols over 2023 as Parquet files (timestamp in ms, OHLCV)."""
    basket = SyntheticConfig(assets=n_assets, n_bars=YEAR_5M, start="2023-01-01", correlation=0.6, seed=11)
    files = []
    for i, frame in enumerate(generate_basket(basket, "5m")):
        table = frame.reset_index(drop=True)
        table.insert(0, "timestamp", index_to_ms(frame.index))
        path = folder / f"SYN{i + 1}_USDT-5m.parquet"
        table.to_parquet(path, index=False)
        files.append((f"SYN{i + 1}/USDT", path))
    return files


def universe_bytes(universe: Any) -> int:
    """Bytes of every array the universe holds (candles, features raw and normalised, masks, clock, rows)."""
    total = universe.clock_ms.nbytes + universe.row.nbytes
    for dataset in universe.datasets:
        market = dataset.market
        total += dataset.obs_features.nbytes + market.features.nbytes + market.open_time_ms.nbytes
        total += sum(getattr(market, k).nbytes for k in ("open", "high", "low", "close", "volume"))
        total += market.segment_id.nbytes + market.valid.nbytes
    return int(total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--envs-per-worker", type=int, default=4)
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--copies", action="store_true", help="one pickled universe copy per worker (no shared block)")
    args = parser.parse_args()
    if not (REAL / "BTC_USDT-5m.csv.gz").is_file():
        sys.exit(f"real candles not found in {REAL}; clone ../shared beside the repo")
    with tempfile.TemporaryDirectory() as tmp:
        synthetic = synthetic_files(Path(tmp), 3)
        entries = [("BTC/USDT", REAL / "BTC_USDT-5m.csv.gz"), ("ETH/USDT", REAL / "ETH_USDT-5m.csv.gz"), *synthetic]
        symbols = "[" + ", ".join(f"{{symbol: {s}, path: '{p}'}}" for s, p in entries) + "]"
        cfg = load_config(
            None,
            [
                "env.mode=universe",
                f"data.symbols={symbols}",
                "data.timeframes=[5m, 1h, 4h]",
                f"training.n_workers={args.workers}",
                f"training.n_envs_per_worker={args.envs_per_worker}",
            ],
        )
        before = rss_mb()
        started = time.perf_counter()
        universe = build_universe(cfg)
        build_s = time.perf_counter() - started
    after_build = rss_mb()
    prices = aligned_prices(universe)
    aligned = sum(a.nbytes for a in (prices.open, prices.high, prices.low, prices.close, prices.mark, prices.tradable))
    block = SharedUniverse(universe).nbytes
    env, inner = start_train_env(cfg, universe, args.copies)
    try:
        workers = step_workers(env, inner, args.steps)
        worker_pss = [pss_mb(pid) for pid in workers]
        worker_private = [private_mb(pid) for pid in workers]
    finally:
        env.close()
    data_mb = universe_bytes(universe) / 1e6
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "symbols": list(universe.symbols),
        "synthetic_symbols": [s for s, _ in synthetic],
        "clock_bars": len(universe),
        "features_per_symbol": len(universe.feature_names),
        "build_s": build_s,
        "universe_arrays_mb": data_mb,
        "aligned_prices_mb": aligned / 1e6,
        "shared_block_mb": block / 1e6,
        "trainer_rss_before_mb": before,
        "trainer_rss_after_build_mb": after_build,
        "trainer_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3,
        "universe_in_workers": "a pickled copy per worker" if args.copies else "shared read-only block",
        "workers": args.workers,
        "envs_per_worker": args.envs_per_worker,
        "worker_pss_mb": worker_pss,
        "worker_private_mb": worker_private,
    }
    out = OUT.with_name(f"{OUT.stem}{'_copies' if args.copies else ''}.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
