"""The one policy interface of validation, evaluation and the live trader, its plain SB3 implementation, and the
factory that picks the batched exact accelerator (:mod:`bot.training.fast_mlp`) when the model allows it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from sb3_contrib import MaskablePPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from bot.training.fast_mlp import FastMlpPolicy

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

    def act(self, obs: Obs, row: int) -> Any:
        """The deterministic action (``row`` is unused: the observation holds everything)."""
        model_obs = self.vecnormalize.normalize_obs(obs) if self.vecnormalize is not None else obs
        if self.action_masks is not None:
            action, _ = self.model.predict(  # type: ignore[call-arg]
                model_obs, deterministic=True, action_masks=self.action_masks()
            )
        else:
            action, _ = self.model.predict(model_obs, deterministic=True)
        return action

    def reset(self) -> None:
        """Nothing to reset: the SB3 policies in use are feed-forward."""


def make_policy(
    model: BaseAlgorithm,
    vecnormalize: VecNormalize | None,
    obs_features: npt.NDArray[np.float32],
    window: int,
    rows: range,
    action_masks: MaskSource | None,
    fast: bool = True,
) -> PredictPolicy | FastMlpPolicy:
    """The fastest exact policy available: :class:`~bot.training.fast_mlp.FastMlpPolicy` when supported (and
    ``fast``), else :class:`PredictPolicy`. Both choose the same actions.

    :param model: the SB3 model.
    :param vecnormalize: its observation normalisation, or None.
    :param obs_features: float32 [n, n_features] ``Dataset.obs_features``.
    :param window: ``env.window``.
    :param rows: the decision rows the episodes will observe (a range covering every evaluation episode).
    :param action_masks: the env's ``action_masks`` method, read at every step (MaskablePPO only).
    :param fast: allow the batched path.
    """
    plain = PredictPolicy(model, vecnormalize, action_masks)
    if fast:
        fast_policy = FastMlpPolicy.build(plain, obs_features, window, rows)
        if fast_policy is not None:
            logger.debug("Batched MLP inference for %s over rows %d..%d", type(model).__name__, rows.start, rows.stop)
            return fast_policy
        logger.info("Policy of %s is not a plain discrete MLP: evaluating with model.predict", type(model).__name__)
    return plain
