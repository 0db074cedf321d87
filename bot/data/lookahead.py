"""Look-ahead check: every feature at row t must be the same whether computed on the full history or on the history
truncated right after t.

Only the END is truncated, so each segment keeps its start (TA-Lib's EMA-based indicators depend on where their
history begins, which is part of the contract, not a leak). The gap policy runs on the truncated data too, exactly
as it would on data that simply ends there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from bot.config import TIMEFRAME_MS, BotConfig
from bot.data.features import compute_features, feature_names
from bot.data.gaps import apply_gap_policy
from bot.data.resample import Bars
from bot.data.validation import format_ms
from bot.errors import LookAheadError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FeatureCheck:
    """Result of the check for one feature.

    :param name: feature name such as ``"1h.rsi"``.
    :param n_compared: values compared over all cut points.
    :param n_mismatched: values that differ beyond the tolerance (NaN vs number counts as a difference).
    :param max_abs_diff: largest absolute difference (inf when a value appears or vanishes; 0.0 when none differ).
    :param first_mismatch: ``"row i (time) with data cut after row k"`` for the earliest difference, else None.
    """

    name: str
    n_compared: int
    n_mismatched: int
    max_abs_diff: float
    first_mismatch: str | None

    @property
    def ok(self) -> bool:
        """True when no value changed."""
        return self.n_mismatched == 0


@dataclass(frozen=True, slots=True)
class LookAheadReport:
    """Per-feature results of :func:`check_lookahead` and the cut points used (last row kept at each cut)."""

    cut_points: tuple[int, ...]
    features: tuple[FeatureCheck, ...]

    @property
    def ok(self) -> bool:
        """True when every feature passed."""
        return all(f.ok for f in self.features)

    @property
    def failed(self) -> list[str]:
        """Names of the features whose values depend on later data."""
        return [f.name for f in self.features if not f.ok]

    def raise_if_failed(self) -> None:
        """:raises LookAheadError: naming every leaking feature and its first changed value."""
        if not self.ok:
            details = "; ".join(f"{f.name}: {f.first_mismatch}" for f in self.features if not f.ok)
            raise LookAheadError(
                f"{len(self.failed)} feature(s) use data from after their bar's close: {details}; fix these"
                " features (use only bars up to t) before training"
            )


def _raw_features(frame: pd.DataFrame, cfg: BotConfig) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    base_ms = TIMEFRAME_MS[cfg.data.base_timeframe]
    filled, segment_id = apply_gap_policy(frame, base_ms, cfg.data.gap_policy, cfg.data.max_ffill_bars, "<check>")
    bars = Bars.from_frame(filled)
    return bars.open_ms, compute_features(bars, segment_id, cfg.data.timeframes, cfg.features)


def choose_cut_points(n_rows: int, n_cuts: int, first_row: int = 0) -> npt.NDArray[np.intp]:
    """``n_cuts`` distinct rows spread evenly over ``[first_row, n_rows - 2]`` (the last row has no future to drop).

    :param n_rows: rows of the full history.
    :param n_cuts: number of cut points wanted (fewer come back when there are fewer rows).
    :param first_row: earliest cut, e.g. the first row after the warm-up.
    """
    if n_cuts < 1:
        raise ValueError(f"n_cuts={n_cuts} must be >= 1")
    last = n_rows - 2
    if last < 0:
        return np.empty(0, dtype=np.intp)
    lo = min(max(first_row, 0), last)
    return np.unique(np.linspace(lo, last, n_cuts).round().astype(np.intp))


def check_lookahead(
    frame: pd.DataFrame, cfg: BotConfig, n_cuts: int = 20, rtol: float = 1e-9, atol: float = 1e-12
) -> LookAheadReport:
    """Recompute every feature on ``frame`` truncated after each cut point and compare with the full history.

    :param frame: validated OHLCV frame at ``cfg.data.base_timeframe`` (gaps allowed).
    :param cfg: the whole config (``data`` and ``features`` are used).
    :param n_cuts: number of cut points, spread from the end of the warm-up to the last bar.
    :param rtol: relative tolerance for float noise.
    :param atol: absolute tolerance for float noise.
    :return: per-feature results; ``report.ok`` is True when nothing changed.
    """
    names = feature_names(cfg.data.timeframes, cfg.features)
    full_ms, full = _raw_features(frame, cfg)
    finite_rows = np.flatnonzero(np.isfinite(full).all(axis=1))
    cuts = choose_cut_points(len(frame), n_cuts, int(finite_rows[0]) if finite_rows.size else 0)
    k = len(names)
    compared, mismatched, max_diff = np.zeros(k, np.int64), np.zeros(k, np.int64), np.zeros(k)
    first: list[tuple[int, str] | None] = [None] * k
    for cut in cuts.tolist():
        part_ms, part = _raw_features(frame.iloc[: cut + 1], cfg)
        m = part_ms.shape[0]
        if not np.array_equal(part_ms, full_ms[:m]):
            raise LookAheadError(f"truncating after row {cut} changed the bars themselves (gap policy); report a bug")
        ref = full[:m]
        both_nan = np.isnan(part) & np.isnan(ref)
        close = np.abs(part - ref) <= atol + rtol * np.abs(ref)
        bad = ~(close | both_nan)
        compared += m
        mismatched += bad.sum(axis=0)
        diff = np.where(both_nan, 0.0, np.abs(part - ref))
        diff[np.isnan(diff)] = np.inf  # a value that appears or vanishes is an unbounded change
        max_diff = np.maximum(max_diff, diff.max(axis=0, initial=0.0))
        for j in np.flatnonzero(bad.any(axis=0)).tolist():
            row = int(np.flatnonzero(bad[:, j])[0])
            before, after = float(part[row, j]), float(ref[row, j])
            where = f"row {row} ({format_ms(int(full_ms[row]))}) changed from {before!r} to {after!r}"
            prev = first[j]
            if prev is None or row < prev[0]:
                first[j] = (row, f"{where} when rows after {cut} were added")
    checks = tuple(
        FeatureCheck(names[j], int(compared[j]), int(mismatched[j]), float(max_diff[j]), f[1] if f else None)
        for j, f in enumerate(first)
    )
    report = LookAheadReport(tuple(cuts.tolist()), checks)
    logger.info("Look-ahead check over %d cut points: %d of %d features leak", cuts.size, len(report.failed), k)
    return report
