"""The supervised baselines' model file and policy: a classifier of P(the forward return is positive) behind the
same :class:`~bot.training.policy.Policy` interface as the RL models (fitted by :mod:`bot.training.supervised`).

The model reads the newest ``lags`` bars of the ``market`` window (the scaled features every RL model sees; the
``portfolio`` vector is left out: it depends on positions the training rows never held) and maps ``p = P(up)`` to a
target exposure: the highest level when ``p > threshold``, the lowest when ``p < 1 - threshold`` (flat on spot
accounts), else the level nearest flat. ``threshold`` is chosen on the validation split. A masked choice (minimum
holding, spot) becomes the allowed level nearest to it.

The file ``model.joblib`` is a pickle (scikit-learn models have no other complete format): loading it runs code
from the file, so :meth:`SupervisedModel.load` warns, and only run folders of your own should be loaded. The
checkpoint's manifest holds its SHA-256, so a truncated or swapped file is refused before it is unpickled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from bot.errors import CheckpointError

logger = logging.getLogger(__name__)

Obs = dict[str, npt.NDArray[np.float32]]
#: version of the pickled payload (a dict around the model), checked on load
FORMAT = 1


@dataclass(slots=True)
class SupervisedModel:
    """A fitted classifier and how its probabilities become actions.

    :param algo: ``rf`` or ``gbm``.
    :param estimator: the scikit-learn classifier (``predict_proba``; classes 0 = down, 1 = up).
    :param lags: newest bars of the window in the features.
    :param horizon: bars of the forward return it was trained to predict.
    :param targets: target exposure of each discrete action (``ActionMapper.targets``).
    :param observation_space: the env's observation space (checked like an SB3 model's).
    :param action_space: the env's discrete action space.
    :param num_timesteps: training samples fitted (the manifest's ``timesteps``).
    :param threshold: the decision threshold on P(up), in [0.5, 1).
    :param trees: trees (rf) or boosting iterations (gbm) built.
    """

    algo: str
    estimator: Any
    lags: int
    horizon: int
    targets: tuple[float, ...]
    observation_space: spaces.Space[Any]
    action_space: spaces.Space[Any]
    num_timesteps: int = 0
    threshold: float = 0.5
    trees: int = 0
    long_action: int = field(init=False)
    short_action: int = field(init=False)
    flat_action: int = field(init=False)

    def __post_init__(self) -> None:
        levels = np.asarray(self.targets, dtype=np.float64)
        self.long_action = int(np.argmax(levels))
        self.flat_action = int(np.argmin(np.abs(levels)))
        low = int(np.argmin(levels))
        self.short_action = low if levels[low] < 0.0 else self.flat_action

    def features(self, windows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """float32 [n, lags * n_features]: the newest ``lags`` bars of each window, oldest first.

        :param windows: float32 [n, window, n_features] market observations.
        """
        newest = windows[:, -self.lags :, :]
        return np.ascontiguousarray(newest.reshape(newest.shape[0], -1))

    def row_features(
        self, obs_features: npt.NDArray[np.float32], rows: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float32]:
        """The features of the decision rows ``rows`` straight from ``Dataset.obs_features`` (the same values as
        :meth:`features` of the windows ending at those rows).

        :param obs_features: float32 [n, n_features].
        :param rows: int [m] decision rows, each at least ``lags - 1``.
        """
        return np.concatenate([obs_features[rows - k] for k in range(self.lags - 1, -1, -1)], axis=1)

    def p_up(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """float64 [n] P(forward return > 0) of each feature row."""
        if x.shape[0] == 0:
            return np.zeros(0, dtype=np.float64)
        proba = self.estimator.predict_proba(x)
        classes = list(self.estimator.classes_)
        if 1 not in classes:  # the training split never went up: the model can only say "down"
            return np.zeros(x.shape[0], dtype=np.float64)
        return np.asarray(proba[:, classes.index(1)], dtype=np.float64)

    def action(self, p: float) -> int:
        """The discrete action for P(up) = ``p`` at the current threshold."""
        if p > self.threshold:
            return self.long_action
        if p < 1.0 - self.threshold:
            return self.short_action
        return self.flat_action

    def save(self, path: Path) -> None:
        """Write the model to ``path`` (joblib)."""
        import joblib  # scikit-learn's own dependency; only the supervised models need it

        joblib.dump({"format": FORMAT, "model": self}, path)

    @staticmethod
    def load(path: Path) -> SupervisedModel:
        """Read a model written by :meth:`save`, with a warning that the file is unpickled.

        :raises CheckpointError: when the file does not hold a supervised model of this format.
        """
        import joblib

        logger.warning(
            "Loading %s: a supervised model is a pickle and loading runs code from the file; load only run folders"
            " you trust",
            path,
        )
        payload = joblib.load(path)
        model = payload.get("model") if isinstance(payload, dict) else None
        if not isinstance(model, SupervisedModel) or payload.get("format") != FORMAT:
            raise CheckpointError(f"{path} does not hold a supervised model of format {FORMAT}; train the run again")
        return model


class SupervisedPolicy:
    """:class:`~bot.training.policy.Policy` of a :class:`SupervisedModel`: stateless, so :meth:`reset` does nothing.

    :param model: the fitted model.
    :param action_masks: the env's (or the live trader's) current masks, or None.
    :param obs_features: float32 [n, n_features] ``Dataset.obs_features``, to predict ``rows`` in one batch.
    :param rows: the decision rows the episodes will observe; other rows (and the live trader's -1) are predicted
        from the observation.
    """

    def __init__(
        self,
        model: SupervisedModel,
        action_masks: Any = None,
        obs_features: npt.NDArray[np.float32] | None = None,
        rows: range | None = None,
    ) -> None:
        self.model = model
        self.action_masks = action_masks
        self._first = 0
        self._p = np.zeros(0, dtype=np.float64)
        if obs_features is not None and rows is not None and len(rows):
            self._first = max(rows.start, model.lags - 1)
            decision_rows = np.arange(self._first, rows.stop, dtype=np.int64)
            self._p = model.p_up(model.row_features(obs_features, decision_rows))

    def act(self, obs: Obs, row: int) -> int:
        """The action at ``row`` (looked up when it was predicted in the batch)."""
        i = row - self._first
        if row >= 0 and 0 <= i < self._p.size:
            p = float(self._p[i])
        else:
            p = float(self.model.p_up(self.model.features(obs["market"][None]))[0])
        action = self.model.action(p)
        if self.action_masks is None:
            return action
        masks = np.asarray(self.action_masks(), dtype=bool)
        if masks[action]:
            return action
        allowed = np.flatnonzero(masks)
        targets = np.asarray(self.model.targets)
        return int(allowed[np.argmin(np.abs(targets[allowed] - targets[action]))])

    def reset(self) -> None:
        """Nothing to forget: each decision reads only its observation."""
