"""Host staging of the rollout's device traffic (one copy each way per step, pinned on CUDA) and the staged rollout
loop, checked on the CPU against SB3's own loop. Pinning needs CUDA, so here it is skipped and checked to be skipped;
the CUDA path itself is unmeasured on this machine."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv

from bot.config import TrainingConfig
from bot.training.algorithms import build_model, load_class, ppo_class
from bot.training.device_rollout import HostStaging, StagedPPO, stack_observations
from bot.training.overlap import OverlapPPO
from tests.support.toy_env import ToyTradingEnv

N_ENVS = 3
OBS_SPACE = spaces.Dict({
    "market": spaces.Box(-1.0, 1.0, (4, 2), np.float32),
    "portfolio": spaces.Box(-1.0, 1.0, (3,), np.float32),
})


def _obs(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {key: rng.random((N_ENVS, *s.shape), dtype=np.float32) for key, s in OBS_SPACE.spaces.items()}


def test_observations_go_to_the_device_through_reused_staging_buffers() -> None:
    staging = HostStaging(OBS_SPACE, N_ENVS, th.device("cpu"))
    first = _obs(1)
    on_device = staging.to_device(first)
    assert isinstance(on_device, dict)
    pointers = {key: t.data_ptr() for key, t in on_device.items()}
    for key, tensor in on_device.items():
        np.testing.assert_array_equal(tensor.numpy(), first[key])
    second = _obs(2)
    again = staging.to_device(second)
    assert isinstance(again, dict)
    assert {key: t.data_ptr() for key, t in again.items()} == pointers  # no allocation per step
    np.testing.assert_array_equal(again["market"].numpy(), second["market"])
    box = HostStaging(OBS_SPACE["portfolio"], N_ENVS, th.device("cpu"))
    np.testing.assert_array_equal(box.to_device(second["portfolio"]).numpy(), second["portfolio"])  # type: ignore[union-attr]


@pytest.mark.skipif(th.cuda.is_available(), reason="checks that pinning is skipped without CUDA")
def test_pinning_is_skipped_without_cuda() -> None:
    assert not HostStaging(OBS_SPACE, N_ENVS, th.device("cpu")).pinned
    assert not HostStaging(OBS_SPACE, N_ENVS, th.device("cpu"), pin=True).pinned  # would raise in torch


def test_outputs_come_back_in_one_packed_copy_with_their_dtypes_and_shapes() -> None:
    staging = HostStaging(OBS_SPACE, N_ENVS, th.device("cpu"))
    actions = th.tensor([2, 0, 1])
    values = th.tensor([[0.5], [-1.25], [3.0]])
    log_probs = th.tensor([-0.1, -2.0, -0.7])
    got = staging.to_host(actions, values, log_probs)
    assert [a.dtype for a in got] == [np.int64, np.float32, np.float32]
    assert [a.shape for a in got] == [(3,), (3, 1), (3,)]
    np.testing.assert_array_equal(got[0], [2, 0, 1])
    np.testing.assert_array_equal(got[1], values.numpy())
    box = staging.to_host(th.tensor([[0.25, -1.0], [1.0, 0.0], [0.5, 0.5]]), values, log_probs)
    assert box[0].shape == (3, 2) and box[0].dtype == np.float32
    np.testing.assert_array_equal(got[2], log_probs.numpy())  # the earlier arrays do not alias the staging buffer


def test_terminal_observations_stack_into_one_batch() -> None:
    batch = stack_observations([{"market": np.zeros((4, 2)), "portfolio": np.ones(3)}] * 2)
    assert isinstance(batch, dict) and batch["market"].shape == (2, 4, 2) and batch["portfolio"].shape == (2, 3)
    assert stack_observations([np.zeros(3), np.ones(3)]).shape == (2, 3)  # type: ignore[union-attr]


def _learn(staged: bool) -> Any:
    # episodes of 8 steps in 16-step rollouts: every rollout bootstraps truncated envs, several in one step
    venv = DummyVecEnv([lambda: ToyTradingEnv(episode_length=8)] * N_ENVS)
    model = StagedPPO("MultiInputPolicy", venv, n_steps=16, batch_size=16, n_epochs=2, seed=4, device="cpu",
                      policy_kwargs={"net_arch": [8]})
    assert not model.staged  # the CPU default: SB3's own loop
    model.staged = staged
    model.learn(2 * 16 * N_ENVS)
    return model


def test_the_staged_loop_learns_what_sb3_loop_learns(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: dict[str, int] = {}
    for name in ("to_device", "to_host"):
        original = getattr(HostStaging, name)

        def counted(self: HostStaging, *args: Any, _name: str = name, _original: Any = original) -> Any:
            calls[_name] = calls.get(_name, 0) + 1
            return _original(self, *args)

        monkeypatch.setattr(HostStaging, name, counted)
    sb3, staged = _learn(staged=False), _learn(staged=True)
    # one copy of the whole batch each way per step (+ the last observation's value once per rollout)
    assert calls == {"to_device": 2 * (16 + 1), "to_host": 2 * 16}
    np.testing.assert_allclose(staged.rollout_buffer.rewards, sb3.rollout_buffer.rewards, rtol=1e-6, atol=1e-6)
    for (name, a), (_, b) in zip(sb3.policy.state_dict().items(), staged.policy.state_dict().items(), strict=True):
        th.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=name)


def test_ppo_classes_by_device_and_overlap() -> None:
    assert ppo_class(False, "cpu") is PPO and ppo_class(False, "cuda") is StagedPPO
    assert ppo_class(True, "cpu") is OverlapPPO and issubclass(OverlapPPO, StagedPPO)
    assert load_class("ppo", device="cuda:0") is StagedPPO and load_class("ppo") is PPO
    model = build_model(TrainingConfig(ppo={"n_steps": 8, "batch_size": 8, "net_arch": [4]}),
                        DummyVecEnv([ToyTradingEnv]), seed=0, device="cpu", tensorboard_log=None)
    assert type(model) is PPO  # the CPU path is SB3's, unchanged
