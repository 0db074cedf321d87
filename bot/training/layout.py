"""``training.n_workers: auto``: the worker layout (in-process, or N worker processes x K envs) chosen per machine.

The total number of environments is ``training.n_envs`` whatever the layout, and env ``j`` gets seed ``seed + j``
in every layout, so the choice changes the speed of a run, never its result (with the default learner threads, see
:func:`bot.training.resources.learner_threads`). Candidates are in-process and the worker counts that divide
``n_envs`` and leave the learner a core (``N <= cores - 1``): on 2 cores that leaves in-process only, where a worker
round trip costs more than it saves (benchmarks/RESULTS.md, "Training throughput"). With more cores a short probe
steps each candidate with random actions for about ``probe_s`` seconds and takes the fastest, a worker layout only
when it beats in-process by :data:`MIN_GAIN`: the learner's share of a step is the same in every layout, so the
fastest rollout is the fastest run, and auto is never slower than in-process by more than the probe's noise.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bot.config import BotConfig, worker_candidates
from bot.training.vec_env import ParallelVecEnv
from bot.training.worker import EnvFactory, WorkerInit

logger = logging.getLogger(__name__)

#: A worker layout must step this much faster than in-process in the probe to be chosen (probe noise margin).
MIN_GAIN = 1.1


@dataclass(frozen=True, slots=True)
class WorkerLayout:
    """A chosen layout and why.

    :param n_workers: worker processes (1 = the envs step in the trainer's process).
    :param n_envs_per_worker: environments stepped as one batch by each worker.
    :param reason: one sentence for the log and the run summary.
    :param probe: env-steps/s measured per probed layout, ``"NxK"`` -> rate (empty when nothing was probed).
    """

    n_workers: int
    n_envs_per_worker: int
    reason: str
    probe: dict[str, float]

    def apply(self, cfg: BotConfig) -> BotConfig:
        """``cfg`` with this layout written into ``training.n_workers`` and ``training.n_envs_per_worker``."""
        training = cfg.training.model_copy(
            update={"n_workers": self.n_workers, "n_envs_per_worker": self.n_envs_per_worker}
        )
        return cfg.model_copy(update={"training": training})


def probe_rate(venv: ParallelVecEnv, probe_s: float, seed: int = 0) -> float:
    """Env-steps/s of ``venv`` with random actions, timed for about ``probe_s`` seconds after a short warm-up."""
    space = venv.action_space
    space.seed(seed)
    venv.reset()

    def actions() -> np.ndarray:
        return np.stack([np.asarray(space.sample()) for _ in range(venv.num_envs)])

    for _ in range(4):
        venv.step(actions())
    steps = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < probe_s or steps < 8:
        venv.step(actions())
        steps += 1
    return steps * venv.num_envs / elapsed


def choose_layout(
    cfg: BotConfig,
    factory: EnvFactory,
    *,
    cores: int | None = None,
    probe_s: float = 1.0,
    worker_init: WorkerInit | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> WorkerLayout:
    """The layout of this run: the configured one, or for ``n_workers: auto`` the fastest candidate on this machine.

    :param factory: builds the envs of one probe worker, as for the run (``factory(worker_id, n_envs)``).
    :param cores: CPU cores to plan for (default ``os.cpu_count()``).
    :param probe_s: seconds each candidate is stepped in the probe.
    :param worker_init: initialiser of probe worker processes (the SmartLogger's).
    :param should_stop: ends a probe worker's start-up wait with ``RunCancelledError`` when it returns True.
    """
    t = cfg.training
    if t.n_workers != "auto":
        return WorkerLayout(t.n_workers, t.n_envs_per_worker, "set in the config", {})
    cores = cores or os.cpu_count() or 1
    n_envs = t.n_envs
    candidates = worker_candidates(n_envs, cores)
    if not candidates:
        return WorkerLayout(
            1,
            n_envs,
            f"{cores} cores leave no core beside the learner for a worker process: all {n_envs} envs in-process",
            {},
        )
    probe: dict[str, float] = {}
    best_n, best_rate, in_process_rate = 1, 0.0, 0.0
    for n in [1, *candidates]:
        k = n_envs // n
        startup_s = t.worker_startup_timeout_s or None
        venv = ParallelVecEnv(
            factory, n, k, worker_init=worker_init, startup_timeout_s=startup_s, should_stop=should_stop
        )
        try:
            rate = probe_rate(venv, probe_s)
        finally:
            venv.close()
        probe[f"{n}x{k}"] = round(rate, 1)
        if n == 1:
            in_process_rate = rate
        if rate > best_rate and (n == 1 or rate >= MIN_GAIN * in_process_rate):
            best_n, best_rate = n, rate
    rates = ", ".join(f"{name}: {rate:,.0f}" for name, rate in probe.items())
    chosen = "in-process" if best_n == 1 else f"{best_n} workers x {n_envs // best_n} envs"
    reason = (
        f"{chosen}, the fastest rollout of the probe on {cores} cores (env-steps/s {rates}; a worker layout must"
        f" beat in-process by {MIN_GAIN - 1:.0%})"
    )
    return WorkerLayout(best_n, n_envs // best_n, reason, probe)
