"""The learning algorithms: SB3 PPO, ``DoubleDQN`` (SB3 DQN with the Double-DQN target), sb3-contrib MaskablePPO and
RecurrentPPO (an LSTM policy; its hidden state is carried by :class:`bot.training.policy.PredictPolicy`).

``build_model`` maps ``cfg.training`` onto the SB3 constructor arguments, so every hyperparameter is a config key.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
import torch.nn.functional as F  # noqa: N812  (the usual alias)
from gymnasium import spaces
from sb3_contrib import MaskablePPO, RecurrentPPO
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.type_aliases import TensorDict
from stable_baselines3.common.vec_env import VecEnv

from bot.config import SUPERVISED_ALGOS, TrainingConfig
from bot.errors import ConfigError
from bot.training.device_rollout import StagedPPO
from bot.training.extractors import extractor_kwargs
from bot.training.overlap import OverlapPPO


def double_dqn_target(
    q_net: th.nn.Module,
    q_net_target: th.nn.Module,
    next_observations: th.Tensor | TensorDict,
    rewards: th.Tensor,
    dones: th.Tensor,
    discounts: th.Tensor | float,
) -> th.Tensor:
    """The Double-DQN TD target ``r + (1 - done) * gamma * Q_target(s', argmax_a Q_online(s', a))``.

    The online network picks the next action and the target network values it, which removes the max-operator's
    overestimation of vanilla DQN (van Hasselt et al., 2016).

    :param rewards: float [batch, 1]; ``dones`` and a tensor ``discounts`` have the same shape.
    :return: float [batch, 1], without gradient.
    """
    with th.no_grad():
        next_actions = q_net(next_observations).argmax(dim=1, keepdim=True)
        next_q_values = th.gather(q_net_target(next_observations), dim=1, index=next_actions)
        return rewards + (1 - dones) * discounts * next_q_values


class DoubleDQN(DQN):
    """SB3 ``DQN`` whose ``train()`` uses :func:`double_dqn_target`; everything else (and ``DQN.load``) is DQN's."""

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        """SB3 ``DQN.train`` with the TD target of :func:`double_dqn_target` (Huber loss, gradient clipping alike).

        :param gradient_steps: gradient steps to take.
        :param batch_size: transitions sampled from the replay buffer per step.
        """
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        losses = []
        for _ in range(gradient_steps):
            replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
            # n-step replay stores its own discount (gamma**n unless the episode ended earlier)
            discounts = replay_data.discounts if replay_data.discounts is not None else self.gamma
            target_q_values = double_dqn_target(
                self.q_net,
                self.q_net_target,
                replay_data.next_observations,
                replay_data.rewards,
                replay_data.dones,
                discounts,
            )
            current_q_values = th.gather(self.q_net(replay_data.observations), dim=1, index=replay_data.actions.long())
            loss = F.smooth_l1_loss(current_q_values, target_q_values)
            losses.append(loss.item())
            self.policy.optimizer.zero_grad()
            loss.backward()
            th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
            self.policy.optimizer.step()
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", float(np.mean(losses)))


#: algorithm name in the config -> class whose ``load`` reads its ``model.zip``.
ALGORITHMS: dict[str, type[BaseAlgorithm]] = {
    "ppo": PPO,
    "ddqn": DoubleDQN,
    "maskable_ppo": MaskablePPO,
    "recurrent_ppo": RecurrentPPO,
}


def ppo_class(overlap: bool, device: str) -> type[PPO]:
    """The PPO class of ``training.overlap`` and the device: SB3's ``PPO`` on the CPU, :class:`StagedPPO` (pinned
    host-device transfers) on CUDA, :class:`OverlapPPO` (itself staged on CUDA) with overlap. All save plain PPO zips.
    """
    if overlap:
        return OverlapPPO
    return StagedPPO if th.device(device).type == "cuda" else PPO


def load_class(algo: str, overlap: bool = False, device: str = "cpu") -> type[BaseAlgorithm]:
    """The class that loads a saved model of ``algo`` (a DoubleDQN zip loads as DoubleDQN; plain DQN.load works too).

    :param overlap: ``training.overlap``: a PPO model resumes as :class:`OverlapPPO` (its zip is a plain PPO one).
    :param device: the policy's device (PPO on CUDA resumes as :class:`StagedPPO`).
    :raises ConfigError: for an unknown algorithm name.
    """
    if algo == "ppo":
        return ppo_class(overlap, device)
    try:
        return ALGORITHMS[algo]
    except KeyError:
        if algo in SUPERVISED_ALGOS:
            raise ConfigError(
                f"training.algo={algo!r} is a supervised model, not an SB3 algorithm: load it with"
                " bot.training.checkpoints.load_checkpoint"
            ) from None
        raise ConfigError(f"unknown algorithm {algo!r}; expected one of {sorted(ALGORITHMS)}") from None


def build_model(cfg: TrainingConfig, env: VecEnv, seed: int, device: str, tensorboard_log: str | None) -> BaseAlgorithm:
    """A fresh model of ``cfg.algo`` with the hyperparameters of ``cfg.ppo`` or ``cfg.dqn``.

    :param cfg: the ``training`` section.
    :param env: the (monitored, maybe normalised) training VecEnv.
    :param seed: seed for torch, numpy and the action space.
    :param device: ``cpu`` or ``cuda``.
    :param tensorboard_log: folder for SB3's TensorBoard writer, or None.
    :raises ConfigError: when a discrete-only algorithm meets a continuous action space, or the extractor cannot
        read the market window.
    """
    # MaskablePPO also masks MultiDiscrete actions (env.mode=portfolio: one level per symbol)
    discrete = (spaces.Discrete, spaces.MultiDiscrete) if cfg.algo == "maskable_ppo" else spaces.Discrete
    if cfg.algo in ("ddqn", "maskable_ppo") and not isinstance(env.action_space, discrete):
        raise ConfigError(
            f"training.algo={cfg.algo!r} needs discrete actions, got {env.action_space}; set env.action_type=discrete"
            " or training.algo=ppo"
        )
    common: dict[str, Any] = {"seed": seed, "device": device, "tensorboard_log": tensorboard_log, "verbose": 0}
    market = env.observation_space["market"]  # type: ignore[index]
    extractor = extractor_kwargs(cfg.extractor, int(market.shape[0]))
    # the config sections name their keys as SB3's constructors do; net_arch goes into the policy's kwargs
    if cfg.algo == "ddqn":
        hyper = cfg.dqn.model_dump(exclude={"net_arch", "save_replay_buffer"})
        policy_kwargs = {"net_arch": list(cfg.dqn.net_arch), **extractor}
        return DoubleDQN("MultiInputPolicy", env, policy_kwargs=policy_kwargs, **hyper, **common)
    hyper = cfg.ppo.model_dump(exclude={"net_arch"})
    policy_kwargs = {"net_arch": list(cfg.ppo.net_arch), **extractor}
    if cfg.algo == "recurrent_ppo":
        # the LSTM runs over the extractor's features, one step per decision; its state spans the episode
        policy_kwargs.update(cfg.recurrent.model_dump())
        return RecurrentPPO("MultiInputLstmPolicy", env, policy_kwargs=policy_kwargs, **hyper, **common)
    if cfg.algo in SUPERVISED_ALGOS:
        raise ConfigError(f"training.algo={cfg.algo!r} is fitted by bot.training.supervised, not built as an SB3 model")
    if cfg.overlap:  # the config allows it with algo=ppo only
        return OverlapPPO(
            "MultiInputPolicy", env, policy_kwargs=policy_kwargs, max_staleness=cfg.max_staleness, **hyper, **common
        )
    cls = MaskablePPO if cfg.algo == "maskable_ppo" else ppo_class(False, device)
    return cls("MultiInputPolicy", env, policy_kwargs=policy_kwargs, **hyper, **common)
