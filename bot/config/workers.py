"""Worker counts derived from the training section: what ``training.n_workers: auto`` may start.

Kept beside the config (no torch import) so that light callers, such as the control API's resource checks, can ask.
"""

from __future__ import annotations

import os

from bot.config.training import TrainingConfig


def worker_candidates(n_envs: int, cores: int) -> list[int]:
    """Worker counts that ``n_workers: auto`` probes, largest first: divisors of ``n_envs`` in ``2 .. cores - 1``
    (the learner keeps a core), at most two: the most that fit and about half as many.

    :param n_envs: environments in all (``training.n_envs``).
    :param cores: CPU cores of the machine.
    """
    fitting = [n for n in range(2, min(n_envs, cores - 1) + 1) if n_envs % n == 0]
    if not fitting:
        return []
    half = [n for n in fitting if n <= fitting[-1] // 2]
    return [fitting[-1], *half[-1:]]


def worker_bound(training: TrainingConfig, cores: int | None = None) -> int:
    """The most worker processes a run of this config starts (``auto``: its largest candidate, else 1).

    :param training: the training section.
    :param cores: CPU cores to plan for (default ``os.cpu_count()``).
    """
    if training.n_workers != "auto":
        return training.n_workers
    candidates = worker_candidates(training.n_envs, cores or os.cpu_count() or 1)
    return candidates[0] if candidates else 1
