"""Episode bounds: gap-free runs, random starts, explicit ranges, and splits too short for any episode."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.env import EpisodeBounds, EpisodeSampler
from bot.errors import DataError


def _arrays(n: int, gap_at: int | None = None, warmup: int = 0) -> tuple[np.ndarray, np.ndarray]:
    segment = np.zeros(n, dtype=np.int32)
    valid = np.ones(n, dtype=bool)
    valid[:warmup] = False
    if gap_at is not None:
        segment[gap_at:] = 1
        valid[gap_at : gap_at + warmup] = False
    return valid, segment


def test_runs_respect_warmup_gap_window_and_split() -> None:
    valid, segment = _arrays(600, gap_at=300, warmup=10)
    sampler = EpisodeSampler(valid, segment, range(0, 500), "train", window=8, episode_length=32)
    # first decision row: 10 warm-up rows + 7 more rows of window; the split ends at 500
    assert sampler.runs == [EpisodeBounds(17, 300), EpisodeBounds(317, 500)]
    assert sampler.runs[0].n_steps == 282


def test_window_may_reach_back_before_the_split_but_trades_stay_inside() -> None:
    valid, segment = _arrays(600)
    sampler = EpisodeSampler(valid, segment, range(400, 500), "test", window=32, episode_length=16)
    assert sampler.runs == [EpisodeBounds(400, 500)]


def test_random_episodes_never_cross_a_gap_and_cover_every_start() -> None:
    valid, segment = _arrays(200, gap_at=100)
    sampler = EpisodeSampler(valid, segment, range(0, 200), "all", window=4, episode_length=20)
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(3000):
        ep = sampler.sample(rng)
        assert ep.n_steps == 20
        assert segment[ep.start - 3] == segment[ep.stop - 1]
        starts.add(ep.start)
    # run 0 observes rows 3..99 (96 steps): full 20-step episodes start at 3..79; run 1 likewise at 103..179
    assert starts == set(range(3, 80)) | set(range(103, 180))
    assert sampler.n_random_starts == 77 * 2


def test_short_run_gives_one_shorter_episode() -> None:
    valid, segment = _arrays(130, gap_at=100)
    sampler = EpisodeSampler(valid, segment, range(0, 130), "all", window=4, episode_length=50)
    assert sampler.runs[1] == EpisodeBounds(103, 130)
    rng = np.random.default_rng(1)
    short = [ep for ep in (sampler.sample(rng) for _ in range(500)) if ep.start >= 100]
    assert short and all(ep == EpisodeBounds(103, 130) for ep in short)


def test_runs_without_a_step_are_skipped() -> None:
    valid, segment = _arrays(110, gap_at=104)
    sampler = EpisodeSampler(valid, segment, range(0, 110), "all", window=6, episode_length=16)
    assert sampler.runs == [EpisodeBounds(5, 104)]


def test_split_without_an_episode_is_a_clear_error() -> None:
    valid, segment = _arrays(100, warmup=95)
    with pytest.raises(DataError, match=r"split 'validation' \(rows 80..99\) holds no episode.*env.window=8"):
        EpisodeSampler(valid, segment, range(80, 100), "validation", window=8, episode_length=16)


def test_explicit_ranges_are_checked() -> None:
    valid, segment = _arrays(200, gap_at=100)
    sampler = EpisodeSampler(valid, segment, range(0, 200), "all", window=4, episode_length=20)
    assert sampler.explicit(50, None) == EpisodeBounds(50, 100)
    assert sampler.explicit(103, 150) == EpisodeBounds(103, 150)
    with pytest.raises(ValueError, match=r"end_index=120 must lie in \(51, 100\]"):
        sampler.explicit(50, 120)
    with pytest.raises(ValueError, match=r"start_index=101 is not a decision row of split 'all'.*3..98, 103..198"):
        sampler.explicit(101, None)


@settings(max_examples=60, deadline=None)
@given(
    flags=st.lists(st.tuples(st.booleans(), st.booleans()), min_size=5, max_size=120),
    window=st.integers(1, 6),
    length=st.integers(1, 30),
    seed=st.integers(0, 1000),
)
def test_sampled_episodes_always_hold_the_contract(
    flags: list[tuple[bool, bool]], window: int, length: int, seed: int
) -> None:
    # each row: (is valid, starts a new segment)
    valid = np.array([v for v, _ in flags], dtype=bool)
    segment = np.cumsum([new for _, new in flags]).astype(np.int32)
    split = range(len(flags) // 4, len(flags))
    try:
        sampler = EpisodeSampler(valid, segment, split, "train", window, length)
    except DataError:
        return
    rng = np.random.default_rng(seed)
    for _ in range(20):
        ep = sampler.sample(rng)
        rows = slice(ep.start - window + 1, ep.stop)
        assert ep.start - window + 1 >= 0 and 1 <= ep.n_steps <= length
        assert valid[rows].all() and len(set(segment[rows].tolist())) == 1
        assert split.start <= ep.start and ep.stop <= split.stop
