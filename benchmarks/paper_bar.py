"""Paper trading: wall time the trader spends on one bar against the loopback Bybit V5 emulator.

One bar is everything the paper trader does at a bar close: fetch the candles through ccxt, rebuild the features and
the observation, ask the policy, reconcile, send the orders, record the bar in the SQLite state file. The policy
flips long/short with the last feature's sign (``tests.support.bybit_trading.SignPolicy``), so most bars send
orders; the emulator's clock advances instead of sleeping, so the figure is the bot's own cost plus the loopback HTTP
round trips and ccxt's own request throttle (``enableRateLimit``), which is most of the wall time. The process's CPU
time per bar (the trader and the in-process emulator together) is the bot's cost. Best and median of ``--repeats``
runs of ``--bars`` bars each (the machine is shared).

Run: ``python benchmarks/paper_bar.py``; JSON goes to ``benchmarks/out/paper_bar.json``. To compare two trees, run
this file with ``PYTHONPATH=<tree>`` (the trader and the emulator are imported from there).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if "tests" not in sys.modules:
    sys.path.append(str(REPO))  # after PYTHONPATH: a tree given there wins

from tests.support.bybit_candles import make_candles  # noqa: E402
from tests.support.bybit_emulator import BybitEmulator  # noqa: E402
from tests.support.bybit_trading import SignPolicy, make_trader  # noqa: E402

OUT = REPO / "benchmarks" / "out" / "paper_bar.json"
START_BAR = 400


def time_bars(n_bars: int) -> tuple[float, float, int]:
    """Wall and CPU seconds per bar of one paper run of ``n_bars`` bars on a fresh emulator and state file, and its
    order count."""
    candles = make_candles(START_BAR + n_bars + 50, seed=3)
    with BybitEmulator() as emu, tempfile.TemporaryDirectory() as tmp:
        emu.feed("BTCUSDT", candles)
        emu.set_bar(START_BAR)
        trader = make_trader(emu, candles, Path(tmp) / "state.sqlite", SignPolicy())
        started, cpu_started = time.perf_counter(), time.process_time()
        summary = trader.run(n_bars)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        trader.state.close()
    return elapsed / n_bars, cpu / n_bars, int(summary.orders)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=60, help="bars per timed run")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs (best and median are reported)")
    parser.add_argument("--out", default=str(OUT), help="JSON output")
    args = parser.parse_args()
    if args.bars < 1 or args.repeats < 1:
        parser.error("--bars and --repeats must be >= 1")
    import bot

    per_bar, cpu_per_bar = [], []
    orders = 0
    for _ in range(args.repeats):
        seconds, cpu, orders = time_bars(args.bars)
        per_bar.append(seconds)
        cpu_per_bar.append(cpu)
    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {platform.system()}",
        "tree": str(Path(bot.__file__).resolve().parent.parent),
        "bars": args.bars,
        "orders_per_run": orders,
        "ms_per_bar_best": round(min(per_bar) * 1000, 2),
        "ms_per_bar_median": round(statistics.median(per_bar) * 1000, 2),
        "cpu_ms_per_bar_best": round(min(cpu_per_bar) * 1000, 2),
        "cpu_ms_per_bar_median": round(statistics.median(cpu_per_bar) * 1000, 2),
    }
    print(json.dumps(result, indent=2))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
