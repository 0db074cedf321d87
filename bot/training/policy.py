"""The one policy interface of validation, evaluation and the live trader, its plain SB3 implementation, and the
factory that picks the batched exact accelerator (:mod:`bot.training.fast_mlp`) or the NumPy LSTM step
(:mod:`bot.training.fast_lstm`) when the model allows it, or the supervised baselines' policy
(:mod:`bot.training.supervised_policy`).

A recurrent model (``RecurrentPPO``) keeps its LSTM state inside the policy: :meth:`~Policy.reset` clears it at the
start of every gap-free episode and each :meth:`~Policy.act` carries it on, as ``episode_start`` does during training,
so validation, the backtest and the live trader need no special case. Such a model is evaluated step by step (its
state cannot be batched over time): by :class:`~bot.training.fast_lstm.FastLstmPolicy` (NumPy, the same actions)
where :func:`make_policy` may use it, else by :class:`PredictPolicy`, which with discrete actions runs the actor's
features, LSTM step and layers directly in torch (``predict(deterministic=True)``'s computation without its per-call
conversions, about 3.5x faster); the live trader keeps the torch step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol, cast

import numpy as np
import numpy.typing as npt
import torch as th
from gymnasium import spaces
from sb3_contrib import MaskablePPO, RecurrentPPO
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.preprocessing import preprocess_obs
from stable_baselines3.common.vec_env import VecNormalize

from bot.training.fast_lstm import FastLstmPolicy, unsupported
from bot.training.fast_mlp import FastMlpPolicy
from bot.training.supervised_policy import SupervisedModel, SupervisedPolicy

logger = logging.getLogger(__name__)

Obs = dict[str, npt.NDArray[np.float32]]
#: The env's (or the live trader's) current action masks: read at every decision, because the masks depend on the
#: position (``portfolio.min_holding_bars``, ``env.action_mode: delta``), exactly as during training.
MaskSource = Callable[[], npt.NDArray[np.bool_]]


class Policy(Protocol):
    """A deterministic policy stepped through gap-free episodes (validation, backtest, live trading)."""

    def act(self, obs: Obs, row: int) -> Any:
        """The action for ``obs``, taken at the close of ``row``.

        :param obs: the env-shaped observation.
        :param row: the dataset row it was taken at (the env's current row; -1 where there is no dataset: live).
        """
        ...

    def reset(self) -> None:
        """Start of a gap-free episode: a no-op for MLPs, where a recurrent policy clears its state."""
        ...


def is_recurrent(policy: object) -> bool:
    """Whether ``policy`` carries a state from step to step (its optional ``recurrent`` attribute; default no): the
    live trader re-warms such a policy over the bars before its first decision."""
    return bool(getattr(policy, "recurrent", False))


class PredictPolicy:
    """``model.predict(obs, deterministic=True)`` on VecNormalize-normalised observations (any SB3 policy).

    :param model: the SB3 model.
    :param vecnormalize: the training normalisation statistics (not updated), or None.
    :param action_masks: the current masks, passed to ``MaskablePPO.predict`` at every step; ignored for other
        algorithms.
    """

    def __init__(
        self, model: BaseAlgorithm, vecnormalize: VecNormalize | None, action_masks: MaskSource | None
    ) -> None:
        self.model = model
        self.vecnormalize = vecnormalize
        self.action_masks = action_masks if isinstance(model, MaskablePPO) else None
        #: the model has an LSTM whose state this policy carries between steps
        self.recurrent = isinstance(model, RecurrentPPO)
        self._direct = self.recurrent and isinstance(model.action_space, spaces.Discrete)
        #: the actor LSTM's (hidden, cell) state, None at the start of an episode (zeros)
        self.state: tuple[Any, ...] | None = None
        #: why :func:`make_policy` chose this per-step torch path over a fast one (None: not asked or not recurrent)
        self.why_slow: str | None = None
        self._episode_start = np.ones(1, dtype=bool)

    def act(self, obs: Obs, row: int) -> Any:
        """The deterministic action (``row`` is unused: the observation, and a recurrent model's state, hold
        everything)."""
        model_obs = self.vecnormalize.normalize_obs(obs) if self.vecnormalize is not None else obs
        if self.action_masks is not None:
            action, _ = self.model.predict(  # type: ignore[call-arg]
                model_obs, deterministic=True, action_masks=self.action_masks()
            )
        elif self._direct:
            return self._lstm_step(cast(Obs, model_obs))
        elif self.recurrent:
            action, state = self.model.predict(
                model_obs, state=self.state, episode_start=self._episode_start, deterministic=True
            )
            self.state = state
            self._episode_start = np.zeros(1, dtype=bool)
        else:
            action, _ = self.model.predict(model_obs, deterministic=True)
        return action

    def _lstm_step(self, model_obs: Obs) -> int:
        """One step of a recurrent discrete actor, as ``RecurrentActorCriticPolicy.get_distribution`` computes it: the
        features, the LSTM step from the carried state (zeros after :meth:`reset`, as ``episode_start`` gives), the
        actor's layers, and the most likely action (the distribution's mode)."""
        policy = cast(RecurrentActorCriticPolicy, self.model.policy)
        with th.no_grad():
            tensors = {key: th.as_tensor(value[None], device=policy.device) for key, value in model_obs.items()}
            features = policy.pi_features_extractor(
                preprocess_obs(tensors, policy.observation_space, normalize_images=policy.normalize_images)
            )
            out, self.state = policy.lstm_actor(features.unsqueeze(0), self.state)
            logits = policy.action_net(policy.mlp_extractor.forward_actor(out[0]))
        return int(logits.argmax(dim=1)[0])

    def reset(self) -> None:
        """Start of an episode: a recurrent model's LSTM state starts from zero, as at a training episode's start."""
        self.state = None
        self._episode_start = np.ones(1, dtype=bool)


def plain_policy(
    model: BaseAlgorithm | SupervisedModel, vecnormalize: VecNormalize | None, action_masks: MaskSource | None
) -> PredictPolicy | SupervisedPolicy:
    """The step-by-step policy of a loaded model: what the live trader runs (there is no dataset to batch over).

    :param model: an SB3 model or a supervised baseline (:class:`~bot.training.supervised_policy.SupervisedModel`).
    :param vecnormalize: the SB3 model's observation normalisation, or None.
    :param action_masks: the current masks (MaskablePPO and the supervised models read them).
    """
    if isinstance(model, SupervisedModel):
        return SupervisedPolicy(model, action_masks)
    return PredictPolicy(model, vecnormalize, action_masks)


def make_policy(
    model: BaseAlgorithm | SupervisedModel,
    vecnormalize: VecNormalize | None,
    obs_features: npt.NDArray[np.float32],
    window: int,
    rows: range,
    action_masks: MaskSource | None,
    fast: bool = True,
) -> PredictPolicy | FastMlpPolicy | FastLstmPolicy | SupervisedPolicy:
    """The fastest exact policy available: :class:`~bot.training.fast_mlp.FastMlpPolicy` when supported (and
    ``fast``), :class:`~bot.training.fast_lstm.FastLstmPolicy` for a recurrent model it supports, else
    :class:`PredictPolicy` (with the reason in its ``why_slow``). All choose the same actions. A supervised model
    gets its :class:`~bot.training.supervised_policy.SupervisedPolicy`, with the predictions for ``rows`` computed
    in one batch.

    :param model: the SB3 model or supervised baseline.
    :param vecnormalize: its observation normalisation, or None.
    :param obs_features: float32 [n, n_features] ``Dataset.obs_features``.
    :param window: ``env.window``.
    :param rows: the decision rows the episodes will observe (a range covering every evaluation episode).
    :param action_masks: the env's ``action_masks`` method, read at every step (MaskablePPO only).
    :param fast: allow the batched MLP and the NumPy LSTM paths.
    """
    if isinstance(model, SupervisedModel):
        return SupervisedPolicy(model, action_masks, obs_features, rows)
    plain = PredictPolicy(model, vecnormalize, action_masks)
    if plain.recurrent:
        plain.why_slow = "fast=False asks for the torch step"
        if fast:
            plain.why_slow = unsupported(model.policy, model.action_space)
        lstm_policy = FastLstmPolicy.build(plain, obs_features, window, rows) if plain.why_slow is None else None
        if lstm_policy is not None:
            logger.debug("NumPy LSTM inference for RecurrentPPO over rows %d..%d", rows.start, rows.stop)
            return lstm_policy
        plain.why_slow = plain.why_slow or f"rows start at {rows.start}, before the first full window"
        logger.info("RecurrentPPO evaluated by the torch step: %s", plain.why_slow)
    elif fast:
        fast_policy = FastMlpPolicy.build(plain, obs_features, window, rows)
        if fast_policy is not None:
            logger.debug("Batched MLP inference for %s over rows %d..%d", type(model).__name__, rows.start, rows.stop)
            return fast_policy
        logger.info("Policy of %s is not a plain discrete MLP: evaluating with model.predict", type(model).__name__)
    return plain
