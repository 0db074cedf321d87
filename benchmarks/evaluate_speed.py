"""Backtest throughput of ``bot evaluate``: one year of real 5m BTC/USDT, the agent's policy run over every bar.

The policy is a PPO ``MultiInputPolicy`` with the default config's architecture (5m/1h/4h features, window 32, MLP
[128, 128]; untrained weights: inference cost does not depend on the weights) evaluated with
:func:`bot.evaluation.run_agent` over the ``all`` split (every gap-free run of the year, chained), exactly as the
evaluate command does. Three figures, best and median of ``--repeats`` runs (the machine is shared):

- ``fast``: the batched exact MLP path (:class:`bot.training.FastMlpPolicy`), precomputation included;
- ``predict``: plain ``model.predict(obs, deterministic=True)`` per step, on the first ``--predict-steps`` bars;
- ``env_only``: the env stepping a fixed action, the floor any policy adds to.

It also checks that both paths chose the same actions on the bars ``predict`` ran. Run:
``python benchmarks/evaluate_speed.py [--data FILE]``; JSON goes to ``benchmarks/out/evaluate_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch as th

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from stable_baselines3.common.vec_env import DummyVecEnv  # noqa: E402

from bot.config import load_config  # noqa: E402
from bot.data import build_dataset  # noqa: E402
from bot.env import EpisodeBounds, make_env  # noqa: E402
from bot.evaluation import evaluation_config, run_agent  # noqa: E402
from bot.evaluation.backtest import decision_rows  # noqa: E402
from bot.training import FastMlpPolicy, Obs, PredictPolicy, make_policy, run_episode  # noqa: E402
from bot.training.algorithms import build_model  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "binance_spot_2023" / "BTC_USDT-5m.csv.gz"
OUT = REPO / "benchmarks" / "out" / "evaluate_speed.json"


class _Recorder:
    """Wraps a policy and records its actions."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self.actions: list[int] = []

    def act(self, obs: Obs, row: int) -> Any:
        action = self.policy.act(obs, row)
        self.actions.append(int(action))
        return action

    def reset(self) -> None:
        self.policy.reset()


class _Fixed:
    """Always the same action: measures the env alone."""

    def act(self, obs: Obs, row: int) -> int:
        return 1

    def reset(self) -> None:
        pass


def rates(fn: Any, steps: int, repeats: int) -> list[float]:
    """Steps/s of ``fn()`` in each of ``repeats`` runs."""
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(steps / (time.perf_counter() - start))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="5m OHLCV file (one year)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (best is reported)")
    parser.add_argument("--predict-steps", type=int, default=10_000, help="bars run with plain model.predict")
    parser.add_argument("--out", default=str(OUT), help="JSON output")
    args = parser.parse_args()
    if not Path(args.data).is_file():
        print(f"data file {args.data} not found; pass --data or clone ../shared beside the repo")
        return 2
    th.set_num_threads(1)
    cfg = evaluation_config(load_config(None, ["data.source=file", f"data.path={args.data}"]))
    dataset = build_dataset(cfg)
    env = make_env(cfg, "all", seed=0, dataset=dataset)
    model = build_model(cfg.training, DummyVecEnv([lambda: env]), seed=0, device="cpu", tensorboard_log=None)
    steps = sum(e.n_steps for e in env.evaluation_episodes)
    print(
        f"{len(dataset.market)} bars, {len(env.evaluation_episodes)} gap-free runs, {steps} steps, "
        f"observation market {(env.window, dataset.obs_features.shape[1])}"
    )

    rows = decision_rows(env)
    start = time.perf_counter()
    make_policy(model, None, dataset.obs_features, cfg.env.window, rows, env.action_masks)
    precompute_s = time.perf_counter() - start

    def fast_run() -> None:
        policy = make_policy(model, None, dataset.obs_features, cfg.env.window, rows, env.action_masks)
        run_agent(env, policy)

    fast = rates(fast_run, steps, args.repeats)
    env_only = rates(lambda: run_agent(env, _Fixed()), steps, args.repeats)

    first = env.evaluation_episodes[0]
    part = EpisodeBounds(first.start, min(first.stop, first.start + args.predict_steps + 1))
    plain = _Recorder(PredictPolicy(model, None, None))
    predict = rates(lambda: run_episode(env, plain, part), part.n_steps, 1)
    fast_policy = make_policy(model, None, dataset.obs_features, cfg.env.window, rows, env.action_masks)
    if not isinstance(fast_policy, FastMlpPolicy):
        raise SystemExit(f"the batched path is not in use ({type(fast_policy).__name__}): the figures would mislead")
    fast_rec = _Recorder(fast_policy)
    run_episode(env, fast_rec, part)
    same = fast_rec.actions == plain.actions

    result = {
        "benchmark": "evaluate_speed",
        "date": datetime.now(UTC).isoformat(timespec="minutes"),
        "machine": platform.platform(),
        "python": platform.python_version(),
        "bars": len(dataset.market),
        "steps": steps,
        "observation_market_shape": [env.window, dataset.obs_features.shape[1]],
        "net_arch": list(cfg.training.ppo.net_arch),
        "fast_steps_per_s": round(max(fast)),
        "fast_steps_per_s_median": round(statistics.median(fast)),
        "fast_precompute_s": round(precompute_s, 3),
        "predict_steps_per_s": round(predict[0]),
        "env_only_steps_per_s": round(max(env_only)),
        "env_only_steps_per_s_median": round(statistics.median(env_only)),
        "predict_steps": part.n_steps,
        "same_actions_as_predict": same,
        "near_tie_fallbacks": getattr(fast_policy, "n_fallbacks", None),
        "target_steps_per_s": 20_000,
    }
    print(json.dumps(result, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
