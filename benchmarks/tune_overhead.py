"""Ray Tune overhead: N small trials through ``bot tune`` vs the same trials run one after the other with ``bot train``.

Three measurements, all on the same tiny synthetic config (one in-process worker per trial, validation every
``--steps / 4`` env steps, as the tune trials report):

1. ``sequential_train_s``: ``python -m bot train`` N times, one after the other (seeds 1..N), wall time in total;
2. ``tune_one_at_a_time_s``: ``python -m bot tune`` over the same N seeds (a ``grid`` on ``seed``), ``--max-concurrent
   1``: the overhead of Ray and Tune itself is ``tune_one_at_a_time_s / sequential_train_s - 1`` (target <= 10 %);
3. ``tune_concurrent_s``: the same experiment with ``--max-concurrent C`` and ``C`` trials fitted to the cores
   (``--cpus-per-trial cores / C``), its trials per hour, and the peak memory (PSS of the driver and every process
   under it: Ray's GCS, raylet, workers and the trials) next to the size of the dataset every trial shares.

Writes benchmarks/out/tune_overhead.json. Runs unchanged on a bigger machine, e.g.
``python benchmarks/tune_overhead.py --trials 8 --concurrent 8 --steps 20000`` on 16 cores (8 concurrent vs 1).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out" / "tune_overhead.json"


def _overrides(steps: int, n_bars: int, checkpoint_dir: Path) -> list[str]:
    return [
        f"data.synthetic.n_bars={n_bars}",
        "data.timeframes=[5m]",
        "features.indicators=[log_return, rsi, macd]",
        "env.window=8",
        "env.episode_length=128",
        f"training.checkpoint_dir={checkpoint_dir}",
        "training.n_workers=1",
        "training.n_envs_per_worker=2",
        f"training.total_timesteps={steps}",
        "training.checkpoint_freq=0",
        f"training.eval_freq={steps // 4}",
        "training.ppo.n_steps=64",
        "training.ppo.batch_size=64",
        "training.ppo.n_epochs=2",
        "training.ppo.net_arch=[32, 32]",
        "training.torch_threads=1",
        "logging.console=false",
    ]


def _set_args(overrides: list[str]) -> list[str]:
    return [arg for o in overrides for arg in ("--set", o)]


class PeakMemory:
    """Samples the summed PSS of a process and all its descendants every ``every_s`` seconds, keeping the peak."""

    def __init__(self, pid: int, every_s: float = 0.5) -> None:
        self.root = psutil.Process(pid)
        self.every_s = every_s
        self.peak_bytes = 0
        self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            total = 0
            for proc in procs:
                try:
                    total += proc.memory_full_info().pss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            if total > self.peak_bytes:
                self.peak_bytes, self.peak_processes = total, len(procs)

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join()


def _run(command: list[str], label: str, measure_memory: bool = False) -> tuple[float, PeakMemory | None]:
    start = time.monotonic()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    memory = PeakMemory(proc.pid) if measure_memory else None
    _, stderr = proc.communicate()
    if memory is not None:
        memory.stop()
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed (exit {proc.returncode}):\n{stderr[-4000:]}")
    print(f"{label}: {elapsed:.1f} s")
    return elapsed, memory


def _dataset_bytes(overrides: list[str]) -> int:
    from bot.config import load_config
    from bot.data import build_dataset

    return len(pickle.dumps(build_dataset(load_config(ROOT / "config" / "demo.yaml", overrides)), protocol=5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4, help="trials N (seeds 1..N)")
    parser.add_argument("--steps", type=int, default=4096, help="env steps per trial")
    parser.add_argument("--concurrent", type=int, default=4, help="concurrent trials C of the third measurement")
    parser.add_argument("--n-bars", type=int, default=20000, help="bars of the synthetic market")
    parser.add_argument("--label", default="", help="free text saved with the figures (machine load etc.)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tune-bench-") as tmp:
        work = Path(tmp)
        overrides = _overrides(args.steps, args.n_bars, work / "checkpoints")
        space = work / "seeds.yaml"
        space.write_text(f"seed: {{grid: {list(range(1, args.trials + 1))}}}\n", encoding="utf-8")
        bot = [sys.executable, "-m", "bot"]

        sequential = 0.0
        for seed in range(1, args.trials + 1):
            elapsed, _ = _run([*bot, "train", "--no-progress", "--seed", str(seed), *_set_args(overrides)],
                              f"bot train seed {seed}")
            sequential += elapsed
        tune = [*bot, "tune", "--space", str(space), "--trials", "1", "--scheduler", "fifo",
                "--storage", str(work / "tune_runs"), *_set_args(overrides)]
        one_at_a_time, memory_one = _run([*tune, "--name", "one", "--max-concurrent", "1"], "bot tune, 1 at a time",
                                         measure_memory=True)
        cpus = max(0.01, round((os.cpu_count() or 1) / args.concurrent, 2))
        concurrent, memory_many = _run(
            [*tune, "--name", "many", "--max-concurrent", str(args.concurrent), "--cpus-per-trial", str(cpus)],
            f"bot tune, {args.concurrent} at a time", measure_memory=True,
        )
        dataset_bytes = _dataset_bytes(overrides)

    assert memory_one is not None and memory_many is not None
    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                   f"{psutil.virtual_memory().total / 1024**3:.0f} GiB",
        "load_average_1m_at_end": os.getloadavg()[0],
        "label": args.label,
        "trials": args.trials,
        "steps_per_trial": args.steps,
        "sequential_train_s": round(sequential, 2),
        "tune_one_at_a_time_s": round(one_at_a_time, 2),
        "tune_overhead": round(one_at_a_time / sequential - 1.0, 4),
        "concurrent": args.concurrent,
        "tune_concurrent_s": round(concurrent, 2),
        "trials_per_hour_sequential_train": round(3600 * args.trials / sequential, 1),
        "trials_per_hour_concurrent": round(3600 * args.trials / concurrent, 1),
        "speedup_concurrent_vs_sequential_train": round(sequential / concurrent, 2),
        "peak_pss_one_at_a_time_mib": round(memory_one.peak_bytes / 1024**2, 1),
        "peak_pss_concurrent_mib": round(memory_many.peak_bytes / 1024**2, 1),
        "peak_processes_concurrent": memory_many.peak_processes,
        "pss_per_extra_concurrent_trial_mib": round(
            (memory_many.peak_bytes - memory_one.peak_bytes) / max(1, args.concurrent - 1) / 1024**2, 1
        ),
        "dataset_pickle_mib": round(dataset_bytes / 1024**2, 2),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
