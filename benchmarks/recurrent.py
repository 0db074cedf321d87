"""Recurrent PPO (``training.algo: recurrent_ppo``): training throughput and evaluation speed against MLP PPO, and a
hidden-regime learning test where only a policy with memory can know the regime.

``speed``: on a year of real BTC/USDT 5m candles (2023, 5m + 1h features, the default window), PPO and
RecurrentPPO each ``learn`` ``--timesteps`` env steps over 8 in-process envs (one learner thread); then the year
(train + validation + test splits) is run greedily through the policy interface
(:func:`bot.training.policy.make_policy`, the policy built inside the timing), ``--rounds`` times, the paths
interleaved: RecurrentPPO by the NumPy LSTM path (``FastLstmPolicy``) and by the torch step it replaces
(``PredictPolicy``), PPO by the batched exact MLP path (``FastMlpPolicy``). A last pass steps the NumPy path and the
torch step side by side and records differing actions, near-tie fallbacks, the largest state differences and the
largest error of the best-minus-second logit gap as a fraction of the tie margin.

``regime``: a synthetic market whose only predictable part is a persistent trend regime (down / flat / up drift,
``regime_persistence`` per bar) and whose observation is the newest bar alone (``env.window=1``, features
``log_return``): the drift of one bar is 5 % of its noise, so a memoryless policy sees almost nothing, while a
recurrent one can accumulate the returns of the regime. Fee-free, decisions every bar. Each algorithm trains
``--timesteps`` steps per seed on the train split; the test split (later bars, never trained on) is scored greedily.

``hidden``: the same question on a market made for it (written to benchmarks/out/hidden_regime.csv.gz): a regime of
sign +1 or -1 that persists (it flips with probability 1 % per bar) sets the drift of every bar's log return to
``+-0.3`` of its noise. From the newest return alone the regime is guessed right about 62 % of the time; from the
last 20 about 91 %. Same observation (``env.window=1``, ``log_return``), fee-free.

Writes benchmarks/out/recurrent.json.

    python benchmarks/recurrent.py [speed] [--timesteps 2048] [--rounds 2]
    python benchmarks/recurrent.py regime|hidden [--timesteps 30000] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.vec_env import DummyVecEnv

from bot.config import BotConfig, load_config
from bot.data import Dataset, build_dataset
from bot.env import make_env
from bot.training.algorithms import build_model
from bot.training.policy import make_policy
from bot.training.rollout import run_episode
from bot.training.validation import make_validation_env, run_validation, validate_policy

OUT = Path(__file__).resolve().parent / "out" / "recurrent.json"
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "binance_spot_2023" / "BTC_USDT-5m.csv.gz"
ALGOS = ("ppo", "recurrent_ppo")
SMALL = ["training.ppo.net_arch=[64, 64]", "training.recurrent.lstm_hidden_size=64"]

REGIME = [
    "data.source=synthetic",
    "data.synthetic.n_bars=60000",
    "data.synthetic.regime_persistence=0.998",
    "data.timeframes=[5m]",
    "features.indicators=[log_return]",
    "portfolio.taker_fee=0",
    "portfolio.maker_fee=0",
    "portfolio.slippage_bps=0",
    "portfolio.slippage_range_frac=0",
    "portfolio.order_type=market",
    "env.window=1",
    "env.decision_every=1",
    "env.episode_length=512",
    "dbe.enabled=false",
    "training.ppo.n_steps=256",
    "training.ppo.batch_size=256",
    "training.ppo.learning_rate=0.0003",
    "training.ppo.ent_coef=0.0",
]


HIDDEN_CSV = OUT.parent / "hidden_regime.csv.gz"


def write_hidden_market(n_bars: int = 60_000, seed: int = 11) -> Path:
    """The ``hidden`` market: persistent +-1 regimes, drift 0.3 sigma per bar in the regime's direction."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    flips = rng.random(n_bars) < 0.01
    regime = np.where(np.cumsum(flips) % 2 == 0, 1.0, -1.0)
    sigma = 0.002
    log_returns = regime * 0.3 * sigma + sigma * rng.standard_normal(n_bars)
    close = 30_000.0 * np.exp(np.cumsum(log_returns))
    open_ = np.concatenate([[30_000.0], close[:-1]])
    wiggle = sigma * np.abs(rng.standard_normal(n_bars))
    times = 1_704_067_200_000 + 300_000 * np.arange(n_bars, dtype=np.int64)
    frame = pd.DataFrame({
        "timestamp": times,
        "open": open_,
        "high": np.maximum(open_, close) * (1 + wiggle),
        "low": np.minimum(open_, close) * (1 - wiggle),
        "close": close,
        "volume": 100.0 + rng.random(n_bars),
    })
    HIDDEN_CSV.parent.mkdir(exist_ok=True)
    frame.to_csv(HIDDEN_CSV, index=False)
    return HIDDEN_CSV


def _envs(cfg: BotConfig, dataset: Dataset, n: int) -> DummyVecEnv:
    return DummyVecEnv([lambda s=i: make_env(cfg, "train", worker_id=s, seed=cfg.seed + s, dataset=dataset)
                        for i in range(n)])


def _evaluate_year(policies: dict[str, Any], envs: dict[str, Any], cfg: BotConfig) -> tuple[int, float]:
    """Steps and seconds of one greedy pass over every split (the whole year), policies built inside the timing."""
    steps, took = 0, 0.0
    for split, env in envs.items():
        start = time.perf_counter()
        result = validate_policy(policies[split](), env, cfg.data.base_timeframe)
        took += time.perf_counter() - start
        steps += result.steps
    return steps, took


class _Lockstep:
    """The NumPy LSTM path and the torch step side by side (the env follows the torch step): differing actions and
    the largest hidden- and cell-state differences."""

    def __init__(self, fast: Any, torch_step: Any) -> None:
        self.fast, self.torch_step = fast, torch_step
        self.steps = self.differing = 0
        self.h_diff = self.c_diff = self.margin_use = 0.0

    def reset(self) -> None:
        self.fast.reset()
        self.torch_step.reset()

    def act(self, obs: Any, row: int) -> int:
        ours, theirs = int(self.fast.act(obs, row)), int(self.torch_step.act(obs, row))
        self.steps += 1
        self.differing += ours != theirs
        h, c = self.fast.state
        h_torch, c_torch = (s.numpy()[:, 0, :] for s in self.torch_step.state)
        self.h_diff = max(self.h_diff, float(np.abs(h - h_torch).max()))
        self.c_diff = max(self.c_diff, float(np.abs(c - c_torch).max()))
        # the error of the best-minus-second gap over the tie margin of this step (< 1: the margin holds)
        policy = self.torch_step.model.policy
        with th.no_grad():
            latent = policy.mlp_extractor.forward_actor(self.torch_step.state[0][-1])
            torch_logits = policy.action_net(latent)[0].double().numpy()
        logits = self.fast.stages[-1].out
        best, second = np.argsort(logits)[::-1][:2]
        gap_error = abs((logits[best] - logits[second]) - (torch_logits[best] - torch_logits[second]))
        margin = self.fast._error_bound(int(best), int(second)) + 1e-6 * abs(logits[best])
        self.margin_use = max(self.margin_use, gap_error / margin)
        return theirs


def speed(timesteps: int, rounds: int) -> dict[str, Any]:
    """Training throughput on the year's train split; then ``rounds`` interleaved greedy passes over the whole year
    (train + validation + test) by the NumPy LSTM path, the torch step it replaces and MLP PPO's batched path, and one
    lockstep pass that compares the NumPy path's actions, states and logits with the torch step's."""
    base = ["data.source=file", f"data.path={DATA}", "data.start=2023-01-01", "data.end=2024-01-01",
            "data.timeframes=[5m, 1h]", "env.decision_every=1", *SMALL]
    dataset = build_dataset(load_config(None, base))
    out: dict[str, Any] = {"bars": int(dataset.market.close.size), "load_average_start": os.getloadavg()}
    paths: dict[str, tuple[BotConfig, dict[str, Any], dict[str, Any]]] = {}
    for algo in ALGOS:
        cfg = load_config(None, [*base, f"training.algo={algo}", "training.ppo.n_steps=256"])
        model = build_model(cfg.training, _envs(cfg, dataset, 8), seed=0, device="cpu", tensorboard_log=None)
        start = time.perf_counter()
        model.learn(timesteps)
        out[f"{algo}_train_env_steps_per_s"] = round(timesteps / (time.perf_counter() - start), 1)
        envs = {split: make_validation_env(cfg, dataset, split) for split in ("train", "validation", "test")}
        for fast in (True, False) if algo == "recurrent_ppo" else (True,):
            policies = {split: partial(_policy, model, dataset, cfg, env, fast) for split, env in envs.items()}
            paths[type(policies["train"]()).__name__] = (cfg, policies, envs)
    timings: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(rounds):
        for name, (cfg, policies, envs) in paths.items():
            steps, took = _evaluate_year(policies, envs, cfg)
            timings[name].append(steps / took)
            out["eval_steps"] = steps
            print(f"{name}: {steps} steps, {steps / took:,.0f} steps/s", flush=True)
    for name, rates in timings.items():
        out[f"{name}_eval_steps_per_s"] = {"median": round(float(np.median(rates))), "runs": [round(r) for r in rates]}
    _, policies, envs = paths["FastLstmPolicy"]
    for split, env in envs.items():
        lockstep = _Lockstep(policies[split](), paths["PredictPolicy"][1][split]())
        for episode in env.unwrapped.evaluation_episodes:
            run_episode(env, lockstep, episode)
        out.setdefault("lockstep", []).append({
            "split": split, "steps": lockstep.steps, "differing_actions": lockstep.differing,
            "near_tie_fallbacks": lockstep.fast.n_fallbacks, "max_h_diff": lockstep.h_diff,
            "max_c_diff": lockstep.c_diff, "max_gap_error_over_margin": lockstep.margin_use,
        })
    out["load_average_end"] = os.getloadavg()
    return out


def _policy(model: Any, dataset: Dataset, cfg: BotConfig, env: Any, fast: bool) -> Any:
    episodes = env.unwrapped.evaluation_episodes
    rows = range(episodes[0].start, episodes[-1].stop)
    return make_policy(model, None, dataset.obs_features, cfg.env.window, rows, env.unwrapped.action_masks, fast)


def regime(timesteps: int, seeds: list[int], market: list[str]) -> dict[str, Any]:
    results: dict[str, list[float]] = {algo: [] for algo in ALGOS}
    for seed in seeds:
        for algo in ALGOS:
            cfg = load_config(None, [*REGIME, *market, *SMALL, f"training.algo={algo}", f"seed={seed}"])
            dataset = build_dataset(cfg)
            model = build_model(cfg.training, _envs(cfg, dataset, 8), seed=seed, device="cpu", tensorboard_log=None)
            start = time.perf_counter()
            model.learn(timesteps)
            took = time.perf_counter() - start
            test = run_validation(model, make_validation_env(cfg, dataset, "test"), None, cfg.data.base_timeframe)
            results[algo].append(test.total_return)
            print(f"seed {seed} {algo}: test return {test.total_return:+.4f}, Sharpe {test.sharpe:.2f},"
                  f" trades {test.trades}, {took:.0f} s", flush=True)
    dataset = build_dataset(load_config(None, [*REGIME, *market]))
    test, close = dataset.splits["test"], dataset.market.close
    figures: dict[str, Any] = {algo: {"test_returns": r, "mean": float(np.mean(r))} for algo, r in results.items()}
    figures["buy_and_hold"] = float(close[test.stop - 1] / close[test.start] - 1.0)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", nargs="?", default="speed", choices=["speed", "regime", "hidden"])
    parser.add_argument("--timesteps", type=int, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=2, help="speed: interleaved evaluation passes per path")
    args = parser.parse_args()
    th.set_num_threads(1)
    if args.part == "speed":
        figures = speed(args.timesteps or 2048, args.rounds)
    elif args.part == "regime":
        figures = regime(args.timesteps or 30_000, args.seeds, [])
    else:
        market = ["data.source=file", f"data.path={write_hidden_market()}", "data.symbol=HID/USDT"]
        figures = regime(args.timesteps or 30_000, args.seeds, market)
    record = json.loads(OUT.read_text()) if OUT.is_file() else {}
    record[args.part] = {
        "figures": figures,
        "timesteps": args.timesteps,
        "machine": f"{platform.machine()}, {th.get_num_threads()} torch thread, {platform.python_version()}",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(record, indent=1))
    print(json.dumps(record[args.part], indent=1))


if __name__ == "__main__":
    main()
