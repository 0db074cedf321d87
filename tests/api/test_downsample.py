"""LTTB downsampling of metric series: bounded size, ends kept, peaks kept, gaps skipped."""

from __future__ import annotations

import math

import pytest

from bot.api.downsample import downsample_keys, lttb_indices


def test_short_series_are_kept_whole() -> None:
    assert lttb_indices([0, 1, 2], [5, 6, 7], 3) == [0, 1, 2]
    assert downsample_keys([0.0, 1.0], {"a": [1.0, None]}, 10) == [0, 1]


def test_lttb_keeps_the_ends_and_the_spikes_of_a_long_series() -> None:
    n = 10_000
    x = list(range(n))
    y = [math.sin(i / 500) for i in range(n)]
    y[3_333], y[7_777] = 25.0, -25.0  # one-point spikes a plain stride would miss
    kept = lttb_indices(x, y, 200)
    assert len(kept) == 200 and kept[0] == 0 and kept[-1] == n - 1
    assert kept == sorted(set(kept))
    assert 3_333 in kept and 7_777 in kept


def test_union_over_metrics_skips_missing_values() -> None:
    n = 1_000
    x = [float(i) for i in range(n)]
    reward = [float(i % 50) for i in range(n)]
    loss: list[float | None] = [None if i % 3 else 1.0 / (i + 1) for i in range(n)]
    kept = downsample_keys(x, {"reward": reward, "loss": loss}, 50)
    assert kept[0] == 0 and kept[-1] == n - 1 and len(kept) <= 2 * 50 + 2
    assert set(lttb_indices(x, reward, 50)) <= set(kept)


def test_bad_arguments_name_the_problem() -> None:
    with pytest.raises(ValueError, match="n_out=2 must be at least 3"):
        lttb_indices([0, 1, 2, 3], [0, 1, 2, 3], 2)
    with pytest.raises(ValueError, match="x has 3 values but y has 2"):
        lttb_indices([0, 1, 2], [0, 1], 3)
