"""Property tests of the universe's clock: every symbol's bars sit on it exactly once, gaps are -1, and each symbol's
splits are exactly its rows inside the clock splits' time ranges (same boundaries for every symbol)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.data.universe import align_clock, symbol_splits

BAR_MS = 300_000


@st.composite
def symbols_with_gaps(draw: st.DrawFn) -> list[npt.NDArray[np.int64]]:
    """1-4 symbols, each a random non-empty subset of a 60-bar grid (its own gaps, starts and ends)."""
    n_symbols = draw(st.integers(1, 4))
    out = []
    for _ in range(n_symbols):
        present = draw(st.lists(st.booleans(), min_size=60, max_size=60).filter(any))
        out.append((np.flatnonzero(present) * BAR_MS).astype(np.int64))
    return out


@settings(max_examples=80, deadline=None)
@given(symbols_with_gaps())
def test_every_bar_sits_on_the_clock_exactly_once(open_times: list[npt.NDArray[np.int64]]) -> None:
    clock, row = align_clock(open_times)
    np.testing.assert_array_equal(clock, np.unique(np.concatenate(open_times)))
    assert row.shape == (len(open_times), clock.shape[0])
    for i, times in enumerate(open_times):
        present = row[i] >= 0
        np.testing.assert_array_equal(row[i, present], np.arange(times.shape[0]))  # each row once, in order
        np.testing.assert_array_equal(times[row[i, present]], clock[present])  # at its own open time
        np.testing.assert_array_equal(present, np.isin(clock, times))  # -1 exactly where it has no bar


@settings(max_examples=80, deadline=None)
@given(symbols_with_gaps(), st.data())
def test_symbol_splits_are_its_rows_inside_the_clock_split_times(
    open_times: list[npt.NDArray[np.int64]], data: st.DataObject
) -> None:
    clock, _ = align_clock(open_times)
    t = clock.shape[0]
    a = data.draw(st.integers(0, t))
    b = data.draw(st.integers(a, t))
    e = data.draw(st.integers(0, 3))
    splits = {"train": range(0, a), "validation": range(min(a + e, b), b), "test": range(min(b + e, t), t)}
    edges = np.append(clock, np.iinfo(np.int64).max)
    for times in open_times:
        own = symbol_splits(times, clock, splits)
        previous_stop = 0
        for name in ("train", "validation", "test"):
            rows = own[name]
            assert previous_stop <= rows.start <= rows.stop  # ordered, disjoint
            previous_stop = rows.stop
            lo, hi = edges[splits[name].start], edges[splits[name].stop]
            inside = np.flatnonzero((times >= lo) & (times < hi))
            np.testing.assert_array_equal(np.arange(rows.start, rows.stop), inside)
