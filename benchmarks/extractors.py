"""PPO training throughput of each market-window extractor (``training.extractor.kind``) against the MLP, same env.

The env is the real TradingEnv on three months of real BTC/USDT 5m candles (5m + 1h features, the default window),
8 envs stepped in this process (DummyVecEnv), one learner thread. For each extractor the script times ``PPO.learn``
over ``--timesteps`` env steps (rollout collection, whose policy forward passes grow with the extractor, plus the
updates); each kind is measured ``--repeats`` times, interleaved round-robin because the machine is shared, and the best
is reported with its ratio to the MLP measured in the same run. CUDA is used when present (``--device auto``).
Writes benchmarks/out/extractors.json.

    python benchmarks/extractors.py [--timesteps 4096] [--repeats 2] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import torch as th
from stable_baselines3.common.vec_env import DummyVecEnv

from bot.config import load_config
from bot.data import build_dataset
from bot.env import make_env
from bot.training.algorithms import build_model

OUT = Path(__file__).resolve().parent / "out" / "extractors.json"
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "binance_spot_2023" / "BTC_USDT-5m.csv.gz"
KINDS = ("mlp", "cnn1d", "lstm", "transformer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args()
    device = ("cuda" if th.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    th.set_num_threads(1)
    base = [
        "data.source=file",
        f"data.path={DATA}",
        "data.start=2023-01-01",
        "data.end=2023-04-01",
        "data.timeframes=[5m, 1h]",
    ]
    dataset = build_dataset(load_config(None, base))
    best: dict[str, float] = {}
    for _ in range(args.repeats):
        for kind in KINDS:
            cfg = load_config(None, [*base, f"training.extractor.kind={kind}", "training.ppo.n_steps=256"])
            envs = DummyVecEnv([lambda c=cfg: make_env(c, dataset=dataset) for _ in range(8)])  # type: ignore[misc]
            model = build_model(cfg.training, envs, seed=0, device=device, tensorboard_log=None)
            start = time.perf_counter()
            model.learn(args.timesteps)
            rate = args.timesteps / (time.perf_counter() - start)
            best[kind] = max(best.get(kind, 0.0), rate)
            print(f"{kind:12s} {rate:9.0f} env-steps/s")
    window = load_config(None, base).env.window
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}, {th.get_num_threads()} thread",
        "device": device,
        "window": window,
        "timesteps": args.timesteps,
        "env_steps_per_s": best,
        "ratio_to_mlp": {kind: best[kind] / best["mlp"] for kind in KINDS},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    print(json.dumps(result["ratio_to_mlp"], indent=2))


if __name__ == "__main__":
    main()
