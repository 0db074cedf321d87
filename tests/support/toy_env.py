"""A small gymnasium stand-in for the TradingEnv: the same Dict/Discrete spaces, info keys and ``action_masks()``.

The market observation carries a planted signal in ``market[-1, 0]``: its sign announces whether action 2 ("long") or
action 0 ("short") earns the next reward, so a learner can beat a random policy. ``raise_at_step`` makes the env raise
a ``RuntimeError`` at that step, to test how workers report failures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium import spaces

TOY_ERROR = "toy env exploded on purpose"


class ToyTradingEnv(gym.Env[dict[str, npt.NDArray[np.float32]], np.int64]):
    """Dict observation ``{"market": float32 [window, n_features], "portfolio": float32 [3]}``, Discrete(3) actions.

    :param window: rows of the market observation.
    :param n_features: columns of the market observation.
    :param episode_length: steps until truncation.
    :param worker_id: reported in every info dict.
    :param raise_at_step: raise ``RuntimeError(TOY_ERROR)`` on this step number (1-based, counted over all episodes).
    :param step_cost: extra work per step (matrix products), to make the env heavier in benchmarks.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012  (gymnasium's own type)

    def __init__(
        self,
        window: int = 8,
        n_features: int = 4,
        episode_length: int = 64,
        worker_id: int = 0,
        raise_at_step: int | None = None,
        step_cost: int = 0,
    ) -> None:
        self.window = window
        self.n_features = n_features
        self.episode_length = episode_length
        self.worker_id = worker_id
        self.raise_at_step = raise_at_step
        self.step_cost = step_cost
        self.observation_space = spaces.Dict(
            {
                "market": spaces.Box(-np.inf, np.inf, (window, n_features), np.float32),
                "portfolio": spaces.Box(-np.inf, np.inf, (3,), np.float32),
            }
        )
        self.action_space = spaces.Discrete(3)
        self.total_steps = 0
        self._t = 0
        self._position = 0.0
        self._equity = 1.0
        self._peak = 1.0
        self._returns: list[float] = []
        self._market = np.zeros((window, n_features), np.float32)

    def _obs(self) -> dict[str, npt.NDArray[np.float32]]:
        portfolio = np.array([self._position, self._equity - 1.0, self._t / self.episode_length], np.float32)
        return {"market": self._market.copy(), "portfolio": portfolio}

    def _roll_market(self) -> None:
        self._market = np.roll(self._market, -1, axis=0)
        self._market[-1] = self.np_random.standard_normal(self.n_features).astype(np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, npt.NDArray[np.float32]], dict[str, Any]]:
        super().reset(seed=seed)
        self._t = 0
        self._position = 0.0
        self._equity = self._peak = 1.0
        self._returns = []
        self._market = self.np_random.standard_normal((self.window, self.n_features)).astype(np.float32)
        return self._obs(), {"equity": self._equity, "worker_id": self.worker_id}

    def action_masks(self) -> npt.NDArray[np.bool_]:
        """All actions valid except "long" (2) while already long, so masks are not trivially all True."""
        return np.array([True, True, self._position < 1.0])

    def step(
        self, action: np.int64 | int
    ) -> tuple[dict[str, npt.NDArray[np.float32]], float, bool, bool, dict[str, Any]]:
        self.total_steps += 1
        if self.raise_at_step is not None and self.total_steps == self.raise_at_step:
            raise RuntimeError(TOY_ERROR)
        for _ in range(self.step_cost):
            np.dot(self._market.T, self._market)
        exposure = float(int(action) - 1)
        signal = float(np.sign(self._market[-1, 0]))
        step_return = 0.01 * exposure * signal - 0.001 * abs(exposure - self._position)
        self._position = exposure
        self._equity *= 1.0 + step_return
        self._peak = max(self._peak, self._equity)
        self._returns.append(step_return)
        self._t += 1
        self._roll_market()
        truncated = self._t >= self.episode_length
        info: dict[str, Any] = {
            "equity": self._equity,
            "fees_paid": 0.0,
            "trades": self._t,
            "drawdown": 1.0 - self._equity / self._peak,
            "dbe_mode": "neutral",
            "worker_id": self.worker_id,
        }
        if truncated:
            rets = np.asarray(self._returns)
            info.update(
                episode_return=self._equity - 1.0,
                final_equity=self._equity,
                sharpe=float(rets.mean() / (rets.std() + 1e-9)),
                max_drawdown=info["drawdown"],
                win_rate=float((rets > 0).mean()),
                exposure_mean=0.5,
            )
        return self._obs(), 100.0 * step_return, False, truncated, info


@dataclass(frozen=True)
class ToyEnvFactory:
    """Picklable env factory for :class:`bot.training.ParallelVecEnv`: ``factory(worker_id, n_envs) -> envs``.

    :param raise_at_step: passed to the env at ``(raise_worker, raise_env)`` only.
    :param fail_build_worker: this worker raises ``OSError`` while building its envs.
    """

    window: int = 8
    n_features: int = 4
    episode_length: int = 64
    raise_at_step: int | None = None
    raise_worker: int = 0
    raise_env: int = 0
    step_cost: int = 0
    fail_build_worker: int | None = None

    def __call__(self, worker_id: int, n_envs: int) -> list[gym.Env[Any, Any]]:
        if worker_id == self.fail_build_worker:
            raise OSError(f"worker {worker_id} cannot open its data")
        return [
            ToyTradingEnv(
                window=self.window,
                n_features=self.n_features,
                episode_length=self.episode_length,
                worker_id=worker_id,
                raise_at_step=self.raise_at_step if (worker_id, i) == (self.raise_worker, self.raise_env) else None,
                step_cost=self.step_cost,
            )
            for i in range(n_envs)
        ]


@dataclass(frozen=True)
class CartPoleFactory:
    """Picklable factory of gymnasium's CartPole (a plain Box observation) for the non-dict code path."""

    def __call__(self, worker_id: int, n_envs: int) -> list[gym.Env[Any, Any]]:
        return [gym.make("CartPole-v1") for _ in range(n_envs)]


class ReportEnv(gym.Env[npt.NDArray[np.float32], np.int64]):
    """An env that only carries ``report`` (set by a subclass from what it was built with) for ``get_attr``: how a
    worker process sees the data it got (shared views or copies)."""

    observation_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = spaces.Discrete(2)
    report: dict[str, Any]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[npt.NDArray[np.float32], dict[str, Any]]:
        return np.zeros(1, np.float32), {}

    def step(self, action: np.int64) -> tuple[npt.NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        return np.zeros(1, np.float32), 0.0, False, False, {}
