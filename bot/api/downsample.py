"""Largest-Triangle-Three-Buckets downsampling of metric series, so a long run's chart keeps its shape (peaks,
dips) in a bounded number of points (Steinarsson 2013, "Downsampling Time Series for Visual Representation")."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def lttb_indices(x: Sequence[float], y: Sequence[float], n_out: int) -> list[int]:
    """Indices of the ``n_out`` points LTTB keeps; the first and last point always stay.

    :param x: increasing x values (timesteps).
    :param y: finite y values, same length as ``x``.
    :param n_out: points wanted (3 or more); every index when the series is not longer.
    :return: increasing indices into ``x``.
    :raises ValueError: for ``n_out < 3`` or series of different lengths.
    """
    n = len(x)
    if n_out < 3:
        raise ValueError(f"n_out={n_out} must be at least 3 (first, last and one bucket)")
    if len(y) != n:
        raise ValueError(f"x has {n} values but y has {len(y)}")
    if n <= n_out:
        return list(range(n))
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    # n - 2 inner points in n_out - 2 buckets; each picks the point with the largest triangle formed with the point
    # kept in the previous bucket and the mean of the next bucket
    edges = np.linspace(1, n - 1, n_out - 1).astype(np.int64)
    kept = [0]
    for b in range(n_out - 2):
        lo, hi = edges[b], max(edges[b] + 1, edges[b + 1])
        nxt_lo, nxt_hi = edges[b + 1], (edges[b + 2] if b + 2 < len(edges) else n)
        mean_x = xs[nxt_lo:max(nxt_hi, nxt_lo + 1)].mean()
        mean_y = ys[nxt_lo:max(nxt_hi, nxt_lo + 1)].mean()
        ax, ay = xs[kept[-1]], ys[kept[-1]]
        areas = np.abs((ax - mean_x) * (ys[lo:hi] - ay) - (ax - xs[lo:hi]) * (mean_y - ay))
        kept.append(int(lo + np.argmax(areas)))
    kept.append(n - 1)
    return kept


def downsample_keys(x: Sequence[float], series: dict[str, list[float | None]], n_out: int) -> list[int]:
    """Indices to keep so that every series keeps its LTTB points: the union over the series.

    A series' missing values (``None``: NaN in the trainer) are skipped by LTTB and never make a point be kept.

    :param x: the shared x values (timesteps).
    :param series: metric name -> values aligned with ``x``.
    :param n_out: points kept per series.
    :return: increasing indices into ``x``; every index when ``len(x) <= n_out``.
    """
    n = len(x)
    if n <= n_out:
        return list(range(n))
    keep = {0, n - 1}
    for values in series.values():
        valid = [(i, v) for i, v in enumerate(values) if v is not None]
        if not valid:
            continue
        picked = lttb_indices([x[i] for i, _ in valid], [v for _, v in valid], n_out)
        keep.update(valid[i][0] for i in picked)
    return sorted(keep)
