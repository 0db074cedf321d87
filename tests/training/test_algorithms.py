"""Double-DQN target on a hand-made batch, DoubleDQN.train using it, and build_model for every algorithm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch as th
from gymnasium import spaces
from sb3_contrib import MaskablePPO
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

import bot.training.algorithms as algorithms
from bot.config import TrainingConfig
from bot.errors import ConfigError
from bot.training.algorithms import DoubleDQN, build_model, double_dqn_target, load_class
from bot.training.vec_env import ParallelVecEnv
from tests.support.toy_env import ToyEnvFactory, ToyTradingEnv


def _linear(weights: list[list[float]]) -> th.nn.Linear:
    layer = th.nn.Linear(1, len(weights), bias=False)
    with th.no_grad():
        layer.weight.copy_(th.tensor(weights))
    return layer


def test_double_dqn_target_differs_from_vanilla_on_a_hand_made_batch() -> None:
    online = _linear([[1.0], [2.0]])  # Q_online(s') = [1, 2] * s'  -> picks action 1
    target = _linear([[5.0], [0.0]])  # Q_target(s') = [5, 0] * s'  -> vanilla max picks action 0
    next_obs = th.tensor([[1.0], [1.0]])
    rewards = th.tensor([[1.0], [1.0]])
    dones = th.tensor([[0.0], [1.0]])
    got = double_dqn_target(online, target, next_obs, rewards, dones, 0.5)
    vanilla = rewards + (1 - dones) * 0.5 * target(next_obs).max(dim=1, keepdim=True).values
    assert got.tolist() == [[1.0 + 0.5 * 0.0], [1.0]]  # Q_target(s', argmax Q_online) = Q_target(s', 1) = 0
    assert vanilla.tolist() == [[1.0 + 0.5 * 5.0], [1.0]]
    assert not got.requires_grad


def test_double_dqn_target_uses_per_sample_discounts() -> None:
    online = _linear([[0.0], [1.0]])
    target = _linear([[3.0], [4.0]])
    got = double_dqn_target(online, target, th.ones(2, 1), th.zeros(2, 1), th.zeros(2, 1), th.tensor([[0.5], [0.25]]))
    assert got.tolist() == [[2.0], [1.0]]


def _toy_vec() -> VecEnv:
    return DummyVecEnv([lambda: ToyTradingEnv(episode_length=16)])


def test_double_dqn_train_uses_the_double_target(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[tuple[Any, Any]] = []
    original = algorithms.double_dqn_target

    def spy(q_net: th.nn.Module, q_net_target: th.nn.Module, *args: Any) -> th.Tensor:
        calls.append((q_net, q_net_target))
        return original(q_net, q_net_target, *args)

    monkeypatch.setattr(algorithms, "double_dqn_target", spy)
    cfg = TrainingConfig(algo="ddqn", dqn={"learning_starts": 32, "batch_size": 16, "buffer_size": 500})
    model = build_model(cfg, _toy_vec(), seed=1, device="cpu", tensorboard_log=None)
    assert isinstance(model, DoubleDQN)
    model.learn(96)
    assert calls and all(q is model.q_net and t is model.q_net_target for q, t in calls)
    model.save(tmp_path / "model.zip")
    loaded = DQN.load(tmp_path / "model.zip", device="cpu")  # plain SB3 reads a DoubleDQN zip
    assert loaded.num_timesteps == model.num_timesteps


@pytest.mark.parametrize(("algo", "cls"), [("ppo", PPO), ("maskable_ppo", MaskablePPO)])
def test_build_model_maps_config_to_hyperparameters(algo: str, cls: type) -> None:
    cfg = TrainingConfig(algo=algo, ppo={"n_steps": 16, "batch_size": 16, "n_epochs": 1, "net_arch": [8]})
    venv = ParallelVecEnv(ToyEnvFactory(), n_workers=1, n_envs_per_worker=2)
    try:
        model = build_model(cfg, venv, seed=3, device="cpu", tensorboard_log=None)
        assert type(model) is cls and model.n_steps == 16 and model.batch_size == 16
        assert model.policy.net_arch == [8]
        model.learn(32)  # MaskablePPO calls env_method("action_masks") through our VecEnv
        assert model.num_timesteps == 32
    finally:
        venv.close()
    assert load_class(algo) is cls


def test_every_hyperparameter_of_the_config_reaches_the_model() -> None:
    ppo = {"learning_rate": 1e-3, "n_steps": 16, "batch_size": 8, "n_epochs": 3, "gamma": 0.9, "gae_lambda": 0.8,
           "clip_range": 0.3, "ent_coef": 0.02, "vf_coef": 0.4, "max_grad_norm": 0.7, "net_arch": [8]}
    cfg = TrainingConfig(algo="ppo", ppo=ppo)
    model: Any = build_model(cfg, _toy_vec(), seed=0, device="cpu", tensorboard_log=None)
    got = {k: getattr(model, k) for k in ("n_steps", "batch_size", "n_epochs", "gamma", "gae_lambda", "ent_coef",
                                          "vf_coef", "max_grad_norm")}
    assert got == {k: v for k, v in ppo.items() if k in got}
    assert model.clip_range(1.0) == 0.3 and model.lr_schedule(1.0) == 1e-3
    dqn = {"learning_rate": 5e-4, "buffer_size": 700, "learning_starts": 11, "batch_size": 16, "gamma": 0.95,
           "train_freq": 3, "gradient_steps": 2, "target_update_interval": 50, "exploration_fraction": 0.3,
           "exploration_final_eps": 0.07, "net_arch": [8]}
    model = build_model(TrainingConfig(algo="ddqn", dqn=dqn), _toy_vec(), seed=0, device="cpu", tensorboard_log=None)
    got = {k: getattr(model, k) for k in ("buffer_size", "learning_starts", "batch_size", "gamma", "gradient_steps",
                                          "target_update_interval", "exploration_fraction", "exploration_final_eps")}
    assert got == {k: v for k, v in dqn.items() if k in got}
    assert model.train_freq.frequency == 3 and model.lr_schedule(1.0) == 5e-4


def test_discrete_only_algorithms_reject_continuous_actions() -> None:
    venv = _toy_vec()
    venv.action_space = spaces.Box(-1.0, 1.0, (1,))
    with pytest.raises(ConfigError, match=r"training.algo='ddqn' needs discrete actions, got Box"):
        build_model(TrainingConfig(algo="ddqn"), venv, seed=0, device="cpu", tensorboard_log=None)


def test_unknown_algorithm_name() -> None:
    expected = r"unknown algorithm 'a2c'; expected one of \['ddqn', 'maskable_ppo', 'ppo', 'recurrent_ppo'\]"
    with pytest.raises(ConfigError, match=expected):
        load_class("a2c")
    with pytest.raises(ConfigError, match="'rf' is a supervised model, not an SB3 algorithm"):
        load_class("rf")
