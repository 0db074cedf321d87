"""Steps through shared memory give exactly what pickled step messages give: observations, rewards, dones, infos, masks.

Each test runs the same seeded rollout through workers with the shared step buffer (``shared_step=True``, the
default) and with one pickled message per step (``shared_step=False``, the reference), and compares every returned
value, its dtype and the types inside the infos. The fallbacks (actions of another dtype, infos too large for the
block) must give the same results too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import bot.training.step_channel as step_channel
from bot.training.step_channel import StepBuffer
from bot.training.vec_env import ParallelVecEnv
from bot.training.worker_process import ProcessWorker
from tests.support.toy_env import ToyEnvFactory


@dataclass(frozen=True)
class PendulumFactory:
    """Gymnasium's Pendulum: a Box (float32) action space, for the continuous-action path."""

    def __call__(self, worker_id: int, n_envs: int) -> list[gym.Env[Any, Any]]:
        return [gym.make("Pendulum-v1", max_episode_steps=7) for _ in range(n_envs)]


def _assert_same(expected: Any, got: Any) -> None:
    """Equal values of equal types, recursively (arrays: same dtype, shape and bytes)."""
    assert type(got) is type(expected)
    if isinstance(expected, dict):
        assert list(got) == list(expected)
        for key in expected:
            _assert_same(expected[key], got[key])
    elif isinstance(expected, list | tuple):
        assert len(got) == len(expected)
        for a, b in zip(expected, got, strict=True):
            _assert_same(a, b)
    elif isinstance(expected, np.ndarray):
        assert (got.dtype, got.shape) == (expected.dtype, expected.shape)
        assert got.tobytes() == expected.tobytes()
    else:
        assert got == expected or (got != got and expected != expected)  # NaN equals NaN here


def _record(venv: ParallelVecEnv, actions: np.ndarray, with_masks: bool) -> list[Any]:
    """Everything the VecEnv returns over a seeded rollout, masks included."""
    venv.seed(7)
    record: list[Any] = [venv.reset(), venv.reset_infos]
    for step_actions in actions:
        record.append(venv.step(step_actions))
        record.append(venv.reset_infos)
        if with_masks:
            record.append(venv.env_method("action_masks"))
    return record


def _compare_transports(factory: Any, actions: np.ndarray, with_masks: bool, n_envs: int = 3) -> dict[str, int]:
    """Run the rollout with and without the step buffer; return how often each path was taken with the buffer."""
    results, counts = [], {"block replies": 0, "step messages": 0}
    for shared_step in (False, True):
        venv = ParallelVecEnv(factory, 2, n_envs, send_action_masks=with_masks, shared_step=shared_step)
        with pytest.MonkeyPatch.context() as m:
            if shared_step:
                m.setattr(StepBuffer, "reply", _counting(StepBuffer.reply, counts, "block replies"))
                m.setattr(ProcessWorker, "send", _counting_steps(ProcessWorker.send, counts))
            try:
                results.append(_record(venv, actions, with_masks))
            finally:
                venv.close()
    _assert_same(results[0], results[1])
    return counts


def _counting(method: Any, counts: dict[str, int], key: str) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        counts[key] += 1
        return method(*args, **kwargs)

    return wrapper


def _counting_steps(send: Any, counts: dict[str, int]) -> Any:
    def wrapper(self: ProcessWorker, command: str, data: Any) -> None:
        counts["step messages"] += command == "step"
        send(self, command, data)

    return wrapper


def test_shared_steps_match_pickled_steps_with_resets_and_masks() -> None:
    actions = np.random.default_rng(0).integers(0, 3, (12, 6))  # episodes of 5 steps: auto-resets included
    counts = _compare_transports(ToyEnvFactory(episode_length=5), actions, with_masks=True)
    assert counts == {"block replies": 2 * 12, "step messages": 0}


def test_actions_of_another_dtype_travel_as_messages_with_the_same_results() -> None:
    actions = np.random.default_rng(1).integers(0, 3, (6, 6)).astype(np.float64)  # the block holds int64
    counts = _compare_transports(ToyEnvFactory(episode_length=4), actions, with_masks=False)
    assert counts["step messages"] == 2 * 6


def test_infos_too_large_for_the_block_travel_as_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(step_channel, "INFO_BYTES_PER_ENV", 0)  # room for a terminal observation, not its info
    actions = np.random.default_rng(2).integers(0, 3, (6, 6))
    counts = _compare_transports(ToyEnvFactory(episode_length=3), actions, with_masks=True)
    assert counts["block replies"] < 2 * 6


def test_continuous_actions_match() -> None:
    actions = np.random.default_rng(3).uniform(-2, 2, (9, 4, 1)).astype(np.float32)
    counts = _compare_transports(PendulumFactory(), actions, with_masks=False, n_envs=2)
    assert counts == {"block replies": 2 * 9, "step messages": 0}
