"""ParallelVecEnv on the toy env: batching, seeding, auto-reset, env_method, failures (raised, silent death)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import numpy as np
import pytest

import bot.training.vec_env as vec_env
from bot.errors import TrainingError
from bot.training.obs_buffer import ObsLayout
from bot.training.timeouts import AutoTimeout
from bot.training.vec_env import ParallelVecEnv
from bot.training.worker import EnvBatch, dispatch
from tests.support.toy_env import TOY_ERROR, CartPoleFactory, ToyEnvFactory, ToyTradingEnv


@pytest.fixture(scope="module")
def two_workers() -> Iterator[ParallelVecEnv]:
    venv = ParallelVecEnv(ToyEnvFactory(episode_length=5), n_workers=2, n_envs_per_worker=3)
    yield venv
    venv.close()


def _rollout(venv: ParallelVecEnv, n_steps: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    venv.seed(11)
    obs = venv.reset()
    markets, rewards = [obs["market"]], []
    rng = np.random.default_rng(0)
    for _ in range(n_steps):
        obs, reward, _, _ = venv.step(rng.integers(0, 3, venv.num_envs))
        markets.append(obs["market"])
        rewards.append(reward)
    return markets, rewards


def test_workers_match_in_process_run_env_by_env(two_workers: ParallelVecEnv) -> None:
    local = ParallelVecEnv(ToyEnvFactory(episode_length=5), n_workers=1, n_envs_per_worker=6)
    try:
        expected = _rollout(local, 12)
    finally:
        local.close()
    got = _rollout(two_workers, 12)
    for a, b in zip(expected[0] + expected[1], got[0] + got[1], strict=True):
        np.testing.assert_array_equal(a, b)


def test_each_env_gets_its_own_seed(two_workers: ParallelVecEnv) -> None:
    two_workers.seed(5)
    market = two_workers.reset()["market"]
    assert market.shape == (6, 8, 4) and market.dtype == np.float32
    assert len({m.tobytes() for m in market}) == 6
    expected = ToyTradingEnv().reset(seed=5 + 4)[0]["market"]  # env 4 = worker 1, local env 1
    np.testing.assert_array_equal(market[4], expected)


def test_auto_reset_keeps_terminal_observation(two_workers: ParallelVecEnv) -> None:
    two_workers.reset()
    for _ in range(4):
        _, _, dones, _ = two_workers.step(np.ones(6, int))
        assert not dones.any()
    obs, _, dones, infos = two_workers.step(np.ones(6, int))
    assert dones.all()
    for i, info in enumerate(infos):
        assert info["terminal_observation"]["portfolio"][2] == pytest.approx(1.0)  # t / episode_length at the end
        assert info["TimeLimit.truncated"] is True
        assert "episode_return" in info
        assert obs["portfolio"][i][2] == 0.0  # the next episode's first observation


def test_env_method_and_get_attr_follow_global_indices(two_workers: ParallelVecEnv) -> None:
    two_workers.reset()
    two_workers.step(np.full(6, 2))  # everyone long: action 2 becomes masked
    masks = two_workers.env_method("action_masks")
    assert [m.tolist() for m in masks] == [[True, True, False]] * 6
    assert two_workers.get_attr("worker_id") == [0, 0, 0, 1, 1, 1]
    assert two_workers.get_attr("worker_id", indices=[5, 0, 3]) == [1, 0, 1]
    two_workers.set_attr("step_cost", 2, indices=[4])
    assert two_workers.get_attr("step_cost") == [0, 0, 0, 0, 2, 0]
    assert two_workers.has_attr("action_masks") and not two_workers.has_attr("no_such_thing")
    assert two_workers.env_is_wrapped(ToyTradingEnv.__mro__[1]) == [False] * 6  # gymnasium.Env is no wrapper


@pytest.mark.parametrize("n_workers", [1, 2])
def test_env_exception_is_raised_with_worker_id_and_traceback(n_workers: int) -> None:
    factory = ToyEnvFactory(raise_at_step=3, raise_worker=n_workers - 1, raise_env=1)
    venv = ParallelVecEnv(factory, n_workers=n_workers, n_envs_per_worker=2)
    try:
        venv.reset()
        venv.step(np.zeros(venv.num_envs, int))
        venv.step(np.zeros(venv.num_envs, int))
        with pytest.raises(TrainingError, match=rf"worker {n_workers - 1}, env {2 * n_workers - 1} failed in 'step'"):
            venv.step(np.zeros(venv.num_envs, int))
    finally:
        venv.close()


def test_traceback_names_the_env_line() -> None:
    venv = ParallelVecEnv(ToyEnvFactory(raise_at_step=1), n_workers=2, n_envs_per_worker=1)
    try:
        venv.reset()
        with pytest.raises(TrainingError) as err:
            venv.step(np.zeros(2, int))
    finally:
        venv.close()
    message = str(err.value)
    assert "--- worker traceback ---" in message
    assert "raise RuntimeError(TOY_ERROR)" in message
    assert f"RuntimeError: {TOY_ERROR}" in message


def test_silently_dead_worker_is_detected_quickly() -> None:
    venv = ParallelVecEnv(ToyEnvFactory(), n_workers=2, n_envs_per_worker=1, poll_interval_s=0.1)
    try:
        venv.reset()
        victim = venv._workers[1]
        os.kill(victim.process.pid, signal.SIGKILL)  # type: ignore[union-attr]
        victim.process.join(5)  # type: ignore[union-attr]
        started = time.monotonic()
        with pytest.raises(TrainingError, match=r"worker 1 (died|is gone) \(exit code -9\)"):
            venv.step(np.zeros(2, int))
        assert time.monotonic() - started < 10
    finally:
        venv.close()
        venv.close()  # idempotent


def test_hung_worker_fails_the_step_after_the_timeout() -> None:
    venv = ParallelVecEnv(ToyEnvFactory(), n_workers=2, n_envs_per_worker=1, poll_interval_s=0.1, timeout_s=1.0)
    try:
        venv.reset()
        os.kill(venv._workers[0].process.pid, signal.SIGSTOP)  # type: ignore[union-attr]  # alive, never answers
        started = time.monotonic()
        with pytest.raises(TrainingError, match=r"worker 0 sent no reply within 1 s; an environment hangs"):
            venv.step(np.zeros(2, int))
        assert time.monotonic() - started < 10
    finally:
        venv.close()
    assert not any(worker.process.is_alive() for worker in venv._workers)  # type: ignore[union-attr]


def test_auto_timeout_follows_the_slowest_measured_step() -> None:
    fast, slow, stuck = AutoTimeout(n_samples=3), AutoTimeout(n_samples=3), AutoTimeout(n_samples=3)
    assert fast.limit_s == 600.0  # until measured
    for wait_s in (0.001, 0.004, 0.002):
        fast.observe(wait_s)
        slow.observe(wait_s * 1000)
        stuck.observe(wait_s * 10_000)
    assert (fast.limit_s, slow.limit_s, stuck.limit_s) == (60.0, 400.0, 600.0)  # 100 x slowest, within 60..600 s
    fast.observe(100.0)
    assert fast.limit_s == 60.0  # fixed once measured


def test_stopped_worker_is_found_after_the_derived_timeout() -> None:
    auto = AutoTimeout(n_samples=5, min_s=1.0)
    venv = ParallelVecEnv(ToyEnvFactory(), n_workers=2, n_envs_per_worker=1, poll_interval_s=0.1, timeout_s=auto)
    try:
        venv.reset()
        for _ in range(5):
            venv.step(np.zeros(2, int))
        assert auto.limit_s < 60  # derived from the measured steps instead of the 600 s default
        os.kill(venv._workers[1].process.pid, signal.SIGSTOP)  # type: ignore[union-attr]
        started = time.monotonic()
        with pytest.raises(TrainingError, match=r"worker 1 sent no reply within \d+ s"):
            venv.step(np.zeros(2, int))
        assert time.monotonic() - started < auto.limit_s + 10
    finally:
        venv.close()


def test_workers_ignore_sigterm_so_the_parent_decides_when_they_stop() -> None:
    # the control API cancels a run with SIGTERM to the trainer's whole process group
    venv = ParallelVecEnv(ToyEnvFactory(), n_workers=2, n_envs_per_worker=1)
    try:
        venv.reset()
        for worker in venv._workers:
            os.kill(worker.process.pid, signal.SIGTERM)  # type: ignore[union-attr]
        time.sleep(0.3)
        venv.step(np.zeros(2, int))
        assert all(worker.process.is_alive() for worker in venv._workers)  # type: ignore[union-attr]
    finally:
        venv.close()
    assert [worker.process.exitcode for worker in venv._workers] == [0, 0]  # type: ignore[union-attr]


def test_close_during_a_hung_step_kills_the_worker_in_bounded_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vec_env, "CLOSE_TIMEOUT_S", 0.5)
    venv = ParallelVecEnv(ToyEnvFactory(step_cost=10**12), n_workers=2, n_envs_per_worker=1)
    venv.reset()
    venv.step_async(np.zeros(2, int))  # never answered: every env's step spins
    started = time.monotonic()
    venv.close()
    assert time.monotonic() - started < 5
    assert [worker.process.exitcode for worker in venv._workers] == [-signal.SIGKILL] * 2  # type: ignore[union-attr]


def test_failing_factory_is_reported_at_start() -> None:
    with pytest.raises(TrainingError, match=r"worker 1 failed in 'build': OSError: worker 1 cannot open its data"):
        ParallelVecEnv(ToyEnvFactory(fail_build_worker=1), n_workers=2, n_envs_per_worker=1)


def test_unknown_command_is_an_error() -> None:
    env = ToyTradingEnv()
    layout = ObsLayout(env.observation_space, 1, 1, ctx=None)
    batch = EnvBatch([env], layout.attach(0), first_index=0)
    with pytest.raises(ValueError, match=r"unknown worker command 'jump'; expected one of step, reset"):
        dispatch(batch, "jump", None)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_workers": 0, "n_envs_per_worker": 1}, r"n_workers=0 and n_envs_per_worker=1 must both be >= 1"),
        ({"n_workers": 2, "n_envs_per_worker": 1, "start_method": "teleport"}, r"start method 'teleport'"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ParallelVecEnv(ToyEnvFactory(), **kwargs)  # type: ignore[arg-type]


def test_box_observations_match_between_in_process_and_workers() -> None:
    results = []
    for n_workers, k in ((1, 4), (2, 2)):
        venv = ParallelVecEnv(CartPoleFactory(), n_workers=n_workers, n_envs_per_worker=k)
        try:
            venv.seed(3)
            obs = [venv.reset()]
            for _ in range(30):
                obs.append(venv.step(np.ones(4, int))[0])
        finally:
            venv.close()
        results.append(np.stack(obs))
    assert results[0].shape == (31, 4, 4) and results[0].dtype == np.float32
    np.testing.assert_array_equal(results[0], results[1])


@pytest.mark.parametrize("n_workers", [1, 2])
def test_action_masks_travel_with_the_step_reply(n_workers: int, monkeypatch: pytest.MonkeyPatch) -> None:
    venv = ParallelVecEnv(ToyEnvFactory(), n_workers=n_workers, n_envs_per_worker=2, send_action_masks=True)
    try:
        venv.reset()
        venv.step(np.array([2, 0, 2, 1])[: venv.num_envs])

        def no_round_trip(*args: object) -> None:
            raise AssertionError("action_masks needed a message to the workers")

        with monkeypatch.context() as m:
            m.setattr(venv, "_per_worker", no_round_trip)
            masks = venv.env_method("action_masks")
            np.testing.assert_array_equal(venv.env_method("action_masks", indices=[1])[0], masks[1])
        expected = [[True, True, False], [True, True, True], [True, True, False], [True, True, True]]
        assert [x.tolist() for x in masks] == expected[: venv.num_envs]
        venv.set_attr("step_cost", 1)  # may change env state: the cache is dropped and masks are asked for again
        assert [x.tolist() for x in venv.env_method("action_masks")] == expected[: venv.num_envs]
    finally:
        venv.close()
