"""Benchmark: seconds per ``bot.data.synthetic.generate_synthetic`` call (the claim: 1M bars in well under 1 s).

Also reports how close the realised signal strength (squared correlation of ``signal[t]`` with the next log-return)
and the oracle's mean gross log-return per bar come to their configured / documented values.

Run: ``python benchmarks/synthetic_generator.py``; prints the figures and writes ``benchmarks/out/synthetic.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from bot.config import SyntheticConfig
from bot.data.synthetic import generate_synthetic, oracle_log_returns

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out" / "synthetic.json"


def _time(n_bars: int, strength: float, repeats: int) -> list[float]:
    cfg = SyntheticConfig(n_bars=n_bars, seed=1, signal_strength=strength)
    generate_synthetic(cfg, "5m")  # warm-up: imports, allocator
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        generate_synthetic(cfg, "5m")
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    runs: list[dict[str, float]] = []
    for n_bars in (100_000, 1_000_000, 5_000_000):
        for strength in (0.0, 0.1):
            times = _time(n_bars, strength, args.repeats)
            best, median = min(times), statistics.median(times)
            runs.append({"n_bars": n_bars, "signal_strength": strength, "best_s": best, "median_s": median})
            print(f"{n_bars:>9,} bars, signal {strength}: best {best:.3f} s, median {median:.3f} s")
    results: dict[str, object] = {"machine": platform.platform(), "python": platform.python_version(), "runs": runs}
    df = generate_synthetic(SyntheticConfig(n_bars=1_000_000, seed=1, signal_strength=0.1), "5m")
    r = np.diff(np.log(df["close"].to_numpy()))
    signal = df["signal"].to_numpy()
    r2 = float(np.corrcoef(signal[:-1], r)[0, 1] ** 2)
    oracle, expected = float(oracle_log_returns(df).mean()), float(np.abs(signal).mean())
    results["signal_r2_at_0.1"] = r2
    results["oracle_mean_log_return"] = oracle
    results["mean_abs_signal"] = expected
    print(f"signal_strength 0.1 on 1M bars: realised R^2 {r2:.4f}; oracle {oracle:.3e}/bar vs E|signal| {expected:.3e}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
