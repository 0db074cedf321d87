"""Policies the paper trader can run: a trained checkpoint, or any object with ``act(obs) -> action``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from bot.live.observation import Obs

if TYPE_CHECKING:
    from bot.training.checkpoints import LoadedCheckpoint


class Policy(Protocol):
    """Maps an env-shaped observation to an action of the env's action space."""

    def act(self, obs: Obs, action_masks: np.ndarray) -> Any:
        """The action for ``obs`` (deterministic)."""
        ...


class CheckpointPolicy:
    """The SB3 model of a checkpoint, with its VecNormalize statistics when it was trained with them.

    :param checkpoint: from :func:`bot.training.checkpoints.load_checkpoint`.
    """

    def __init__(self, checkpoint: LoadedCheckpoint) -> None:
        self.model = checkpoint.model
        self.vecnormalize = checkpoint.vecnormalize
        self._maskable = checkpoint.manifest.get("algorithm") == "maskable_ppo"

    def act(self, obs: Obs, action_masks: np.ndarray) -> Any:
        """Deterministic action of the model (masked for MaskablePPO)."""
        batch: Any = {k: v[None, ...] for k, v in obs.items()}
        if self.vecnormalize is not None:
            batch = self.vecnormalize.normalize_obs(batch)
        kwargs: dict[str, Any] = {"deterministic": True}
        if self._maskable:
            kwargs["action_masks"] = action_masks[None, ...]
        action, _ = self.model.predict(batch, **kwargs)
        return action[0]
