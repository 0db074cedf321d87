"""PPO rollouts on a CUDA policy with one host-device copy each way per step, from pinned host memory.

SB3's ``collect_rollouts`` already runs the policy once per step on the whole batch of N workers x K envs, but on
CUDA each step then costs a blocking copy per observation key to the device, three blocking copies back (actions,
values, log-probabilities), and for every env whose episode was truncated one more forward pass with a copy each way
(the value of its terminal observation). :class:`StagedPPO` keeps SB3's loop and replaces that traffic: the
observations go through reusable page-locked (pinned) host buffers with ``non_blocking`` copies, the three outputs
come back as one packed tensor into a pinned buffer, and the truncated envs' terminal values are one batched forward
pass. On the CPU nothing of this applies and SB3's own loop runs unchanged (``staged`` is False there by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv

Obs = npt.NDArray[Any] | Mapping[str, npt.NDArray[Any]]


class HostStaging:
    """Reusable host buffers for one rollout step's traffic between numpy and the policy's device.

    :param observation_space: one env's observation space (``Box`` or ``Dict`` of ``Box``).
    :param n_envs: envs stepped together (the batch size of every step).
    :param device: the policy's device.
    :param pin: page-lock the host buffers (needed for asynchronous copies); default: when ``device`` is CUDA.
        Pinning needs a CUDA runtime, so it is never done without one.
    """

    def __init__(
        self, observation_space: spaces.Space[Any], n_envs: int, device: th.device, pin: bool | None = None
    ) -> None:
        self.device = device
        self.n_envs = n_envs
        cuda = device.type == "cuda" and th.cuda.is_available()
        self.pinned = cuda if pin is None else pin and th.cuda.is_available()
        subspaces = observation_space.spaces if isinstance(observation_space, spaces.Dict) else {"": observation_space}
        self._obs = {key: self._host((n_envs, *(s.shape or ())), s.dtype) for key, s in subspaces.items()}
        self._out: th.Tensor | None = None  # the packed outputs, sized at the first step
        # set after each host-to-device copy: the host buffer is rewritten only once the device has read it
        self._copied: th.cuda.Event | None = th.cuda.Event() if cuda else None

    def _host(self, shape: tuple[int, ...], dtype: Any) -> th.Tensor:
        return th.empty(shape, dtype=th.from_numpy(np.empty(0, dtype)).dtype, pin_memory=self.pinned)

    def to_device(self, obs: Obs) -> th.Tensor | dict[str, th.Tensor]:
        """The batch of observations on the device: one copy per observation key, from the staging buffers.

        The returned tensors are valid until the next call (on the CPU they share the staging buffers).
        """
        if self._copied is not None:
            self._copied.synchronize()
        arrays = obs if isinstance(obs, Mapping) else {"": obs}
        out = {}
        for key, host in self._obs.items():
            host.numpy()[...] = arrays[key]
            out[key] = host.to(self.device, non_blocking=self.pinned)
        if self._copied is not None:
            self._copied.record()
        return out if isinstance(obs, Mapping) else out[""]

    def to_host(self, *tensors: th.Tensor) -> list[npt.NDArray[Any]]:
        """The tensors (each with the batch first) on the host as numpy arrays of their dtypes, in one copy.

        They travel packed as float32 columns of one tensor, which holds integer actions exactly up to 2**24.
        """
        columns = [t.reshape(self.n_envs, -1) for t in tensors]
        packed = th.cat([c.to(th.float32) for c in columns], dim=1)
        if self._out is None or self._out.shape != packed.shape:
            self._out = th.empty(packed.shape, dtype=th.float32, pin_memory=self.pinned)
        self._out.copy_(packed, non_blocking=self.pinned)
        if self.pinned:
            th.cuda.current_stream(self.device).synchronize()
        host = self._out.numpy()
        arrays, start = [], 0
        for tensor, column in zip(tensors, columns, strict=True):
            width = column.shape[1]
            block = host[:, start : start + width].reshape(tensor.shape)
            arrays.append(block.astype(th.empty(0, dtype=tensor.dtype).numpy().dtype, copy=True))
            start += width
        return arrays


def stack_observations(observations: list[Any]) -> npt.NDArray[Any] | dict[str, npt.NDArray[Any]]:
    """Single-env observations (``Box`` arrays or ``Dict`` of them) as one batch."""
    first = observations[0]
    if isinstance(first, Mapping):
        return {key: np.stack([o[key] for o in observations]) for key in first}
    return np.stack(observations)


class StagedPPO(PPO):
    """SB3 ``PPO`` whose rollouts use :class:`HostStaging` when ``staged`` (by default: on a CUDA device).

    The loop is SB3's ``collect_rollouts`` step for step (callbacks, info buffer, timeout bootstrap, buffer writes);
    only the host-device traffic differs, so with ``staged`` on the CPU it learns what SB3's loop learns (the
    bootstrap's batched forward pass may round differently in the last bit).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._staging: HostStaging | None = None
        super().__init__(*args, **kwargs)
        #: use the staging buffers (CUDA by default; settable to run the same loop on the CPU)
        self.staged = self.device.type == "cuda"

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_staging", "staged"]

    def collect_rollouts(
        self, env: VecEnv, callback: BaseCallback, rollout_buffer: RolloutBuffer, n_rollout_steps: int
    ) -> bool:
        """SB3's ``collect_rollouts``, through the staging buffers when ``staged``."""
        if not self.staged:
            return super().collect_rollouts(env, callback, rollout_buffer, n_rollout_steps)
        assert self._last_obs is not None, "No previous observation was provided"
        if self._staging is None or self._staging.n_envs != env.num_envs:
            self._staging = HostStaging(self.observation_space, env.num_envs, self.device)
        staging = self._staging
        self.policy.set_training_mode(False)
        n_steps = 0
        rollout_buffer.reset()
        if self.use_sde:
            self.policy.reset_noise(env.num_envs)
        callback.on_rollout_start()
        while n_steps < n_rollout_steps:
            if self.use_sde and self.sde_sample_freq > 0 and n_steps % self.sde_sample_freq == 0:
                self.policy.reset_noise(env.num_envs)
            with th.no_grad():
                obs = staging.to_device(self._last_obs)  # type: ignore[arg-type]
                actions, values, log_probs = staging.to_host(*self.policy(obs))
            new_obs, rewards, dones, infos = env.step(self._env_actions(actions))
            self.num_timesteps += env.num_envs
            callback.update_locals(locals())
            if not callback.on_step():
                return False
            self._update_info_buffer(infos, dones)
            n_steps += 1
            if isinstance(self.action_space, spaces.Discrete):
                actions = actions.reshape(-1, 1)
            self._bootstrap_truncated(rewards, dones, infos)
            rollout_buffer.add(
                self._last_obs,  # type: ignore[arg-type]
                actions,
                rewards,
                self._last_episode_starts,  # type: ignore[arg-type]
                th.from_numpy(values),
                th.from_numpy(log_probs),
            )
            self._last_obs = new_obs  # type: ignore[assignment]
            self._last_episode_starts = dones
        with th.no_grad():
            values_t = self.policy.predict_values(staging.to_device(new_obs))  # type: ignore[arg-type]
        rollout_buffer.compute_returns_and_advantage(last_values=values_t, dones=dones)
        callback.update_locals(locals())
        callback.on_rollout_end()
        return True

    def _env_actions(self, actions: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """As SB3: a ``Box`` action is unscaled (squashed policies) or clipped to the space."""
        if isinstance(self.action_space, spaces.Box):
            if self.policy.squash_output:
                return self.policy.unscale_action(actions)
            return np.clip(actions, self.action_space.low, self.action_space.high)
        return actions

    def _bootstrap_truncated(
        self, rewards: npt.NDArray[Any], dones: npt.NDArray[Any], infos: list[dict[str, Any]]
    ) -> None:
        """Add ``gamma * V(terminal observation)`` to the reward of each env cut by its time limit: one forward pass
        for all of them (SB3 runs one per env, GitHub issue #633)."""
        cut = [
            i
            for i, done in enumerate(dones)
            if done and infos[i].get("terminal_observation") is not None and infos[i].get("TimeLimit.truncated", False)
        ]
        if not cut:
            return
        terminal, _ = self.policy.obs_to_tensor(stack_observations([infos[i]["terminal_observation"] for i in cut]))
        with th.no_grad():
            values = self.policy.predict_values(terminal)
        rewards[cut] += self.gamma * values.cpu().numpy().reshape(-1)
