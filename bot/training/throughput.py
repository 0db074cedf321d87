"""Where a run's time went: env-steps/s, and the learner's share of the wall time (the rest is collection)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from stable_baselines3.common.callbacks import BaseCallback


@dataclass(frozen=True, slots=True)
class Throughput:
    """Speed of one ``learn`` call.

    :param env_steps_per_s: env steps over all envs per second of ``learn``.
    :param learner_share: fraction of that time spent outside rollout collection (gradient updates, for PPO the
        advantage computation); collection includes the policy's inference and the callbacks run at each step
        (validation and checkpoint saves among them).
    :param device: the torch device of the policy.
    :param device_reason: why that device (``training.device: auto`` chooses per policy).
    """

    env_steps_per_s: float
    learner_share: float
    device: str
    device_reason: str


class ThroughputCallback(BaseCallback):
    """Times rollout collection against everything else in ``learn``."""

    def __init__(self) -> None:
        super().__init__()
        self._started = 0.0
        self._rollout_started = 0.0
        self._collect_s = 0.0
        self._ended = 0.0
        self._first_step = 0

    def _on_training_start(self) -> None:
        self._started = time.perf_counter()
        self._first_step = self.num_timesteps

    def _on_rollout_start(self) -> None:
        self._rollout_started = time.perf_counter()

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self._collect_s += time.perf_counter() - self._rollout_started

    def _on_training_end(self) -> None:
        self._ended = time.perf_counter()

    def result(self, device: str, device_reason: str) -> Throughput | None:
        """The figures of the finished ``learn`` call, or None when it did not run."""
        if not self._started or not self._ended:
            return None
        wall_s = self._ended - self._started
        if wall_s <= 0.0:
            return None
        steps = self.num_timesteps - self._first_step
        learner_share = max(0.0, 1.0 - self._collect_s / wall_s)
        return Throughput(steps / wall_s, learner_share, device, device_reason)
