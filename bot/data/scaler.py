"""``FeatureScaler``: per-feature z-score statistics fit on the training split's valid rows, saved with the model."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Self, cast

import numpy as np
import numpy.typing as npt

from bot.atomic import atomic_write_bytes
from bot.errors import DataError, SchemaMismatchError

logger = logging.getLogger(__name__)

NormalizeMode = Literal["zscore", "none"]
_FORMAT = "bot.FeatureScaler/1"


@dataclass(frozen=True, slots=True)
class FeatureScaler:
    """Normalisation of raw features: ``clip((x - mean) / std, -clip, clip)``; 0.0 on invalid rows.

    :param feature_names: the feature columns the statistics belong to, in order.
    :param mean: float64 [n_features] (zeros for mode ``none``).
    :param std: float64 [n_features], > 0 (ones for mode ``none``; a constant feature gets 1.0).
    :param mode: ``zscore`` or ``none`` (clip only).
    :param clip: bound of the normalised values.
    """

    feature_names: tuple[str, ...]
    mean: npt.NDArray[np.float64]
    std: npt.NDArray[np.float64]
    mode: NormalizeMode
    clip: float

    @classmethod
    def fit(
        cls,
        features: npt.NDArray[np.floating],
        valid: npt.NDArray[np.bool_],
        feature_names: Sequence[str],
        mode: NormalizeMode = "zscore",
        clip: float = 10.0,
    ) -> Self:
        """Fit on the rows where ``valid`` is True (pass the training split's rows only).

        :param features: [n, n_features] raw features.
        :param valid: bool [n] rows to fit on.
        :param feature_names: the n_features column names.
        :param mode: ``zscore`` or ``none``.
        :param clip: bound of the normalised values.
        :raises DataError: when there is no valid row to fit on.
        """
        k = len(feature_names)
        if features.ndim != 2 or features.shape[1] != k:
            raise ValueError(f"features have shape {features.shape}, expected [n, {k}] for {k} feature names")
        if mode == "none":
            return cls(tuple(feature_names), np.zeros(k), np.ones(k), mode, float(clip))
        rows = np.asarray(features[valid], dtype=np.float64)
        if rows.shape[0] == 0:
            raise DataError(
                "no valid training rows to fit the feature scaler on (every row is in an indicator warm-up or a"
                " short segment); use more data, a larger splits.train_fraction or shorter indicator periods"
            )
        mean = rows.mean(axis=0)
        std = rows.std(axis=0)
        std = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
        logger.debug("Fit scaler on %d rows x %d features", rows.shape[0], k)
        return cls(tuple(feature_names), mean, std, mode, float(clip))

    def transform(self, features: npt.NDArray[np.floating], valid: npt.NDArray[np.bool_]) -> npt.NDArray[np.float32]:
        """Normalise, clip, and write 0.0 on invalid rows.

        :param features: [n, n_features] raw features (NaN allowed on invalid rows).
        :param valid: bool [n].
        :return: float32 [n, n_features], finite.
        """
        if features.shape[1] != len(self.feature_names):
            raise SchemaMismatchError(
                f"features have {features.shape[1]} columns but the scaler was fit on {len(self.feature_names)}"
                f" ({', '.join(self.feature_names)}); use the features the scaler was fit with"
            )
        scaled = (np.asarray(features, dtype=np.float64) - self.mean) / self.std
        np.clip(scaled, -self.clip, self.clip, out=scaled)
        scaled[~valid] = 0.0
        return np.nan_to_num(scaled, nan=0.0).astype(np.float32)

    def check_names(self, feature_names: Sequence[str]) -> None:
        """Raise unless ``feature_names`` equal the names the scaler was fit on.

        :raises SchemaMismatchError: naming the first difference.
        """
        if tuple(feature_names) != self.feature_names:
            have, want = set(feature_names), set(self.feature_names)
            raise SchemaMismatchError(
                f"the data's features differ from the scaler's: missing {sorted(want - have)}, unexpected"
                f" {sorted(have - want)} (or a different order); use the data.timeframes and features settings"
                " the model was trained with"
            )

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "format": _FORMAT,
            "mode": self.mode,
            "clip": self.clip,
            "feature_names": list(self.feature_names),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
        }

    def save(self, path: str | Path) -> None:
        """Write JSON atomically (temp file in the same folder, then rename)."""
        atomic_write_bytes(Path(path), json.dumps(self.to_dict(), indent=1).encode("utf-8"))

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a scaler written by :meth:`save`.

        :raises DataError: when the file is missing or not a scaler file.
        """
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise DataError(
                f"{path}: not a feature scaler file written by FeatureScaler.save ({type(e).__name__}: {e});"
                " point at the scaler.json saved with the model"
            ) from e
        return cls.from_dict(raw, str(path))

    @classmethod
    def from_dict(cls, raw: object, source: str) -> Self:
        """The scaler of :meth:`to_dict`'s form.

        :param source: the file it came from, for messages.
        :raises DataError: when ``raw`` is not a scaler's dict.
        """
        try:
            if not isinstance(raw, dict) or raw.get("format") != _FORMAT:
                raise KeyError("format")
            names = tuple(str(n) for n in raw["feature_names"])
            mean, std = np.asarray(raw["mean"], np.float64), np.asarray(raw["std"], np.float64)
            if raw["mode"] not in ("zscore", "none"):
                raise ValueError(f"unknown mode {raw['mode']!r}")
            mode = cast(NormalizeMode, raw["mode"])
            clip = float(raw["clip"])
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise DataError(
                f"{source}: not a feature scaler file written by FeatureScaler.save ({type(e).__name__}: {e});"
                " point at the scaler.json saved with the model"
            ) from e
        if mean.shape != (len(names),) or std.shape != (len(names),):
            raise DataError(f"{source}: mean/std lengths do not match {len(names)} feature names; the file is damaged")
        return cls(names, mean, std, mode, clip)
