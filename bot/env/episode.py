"""Where episodes may start and end inside a split: never across a data gap, never on invalid (warm-up) rows.

Row ``t`` is a *decision row* when the agent can act at its close: the observation window, rows
``t - window + 1 .. t``, lies in one gap-free segment and is ``valid``, and so does bar ``t + 1``, which executes the
decision. A *run* is a maximal stretch of such rows; the observation window of a run's first decision row may reach
back before the split's first row (that history is in the past, so it leaks nothing), but every bar an episode trades
lies inside the split.

Episodes are half-open row ranges ``[start, stop)``: the agent observes rows ``start .. stop - 1`` and the bars
``start + 1 .. stop - 1`` are traded, so an episode has ``stop - 1 - start`` steps.

Random starts (training) are uniform over every start whose full ``env.episode_length`` fits in its run. A run too
short for a full episode offers exactly one shorter episode, from its first decision row to its end; runs with no
step at all (shorter than the window plus one bar) are skipped. Sequential episodes (evaluation) cover the runs in
order, each from its first decision row to its end: an evaluation episode ends (truncated) at a data gap and the
next episode starts after it.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bot.data import Dataset
from bot.errors import ConfigError, DataError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EpisodeBounds:
    """An episode as the half-open row range ``[start, stop)`` of observed rows.

    :param start: first observed (decision) row; the first traded bar is ``start + 1``.
    :param stop: one past the last observed row; the last traded bar is ``stop - 1``.
    """

    start: int
    stop: int

    @property
    def n_steps(self) -> int:
        """Steps in the episode (traded bars)."""
        return self.stop - 1 - self.start


def _runs(valid: npt.NDArray[np.bool_], segment_id: npt.NDArray[np.int32]) -> list[tuple[int, int]]:
    """Maximal half-open stretches ``[a, b)`` of valid rows within one segment."""
    n = valid.shape[0]
    breaks = np.ones(n + 1, dtype=bool)
    breaks[1:n] = (segment_id[1:] != segment_id[:-1]) | (valid[1:] != valid[:-1])
    edges = np.flatnonzero(breaks)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges) if valid[a]]


class EpisodeSampler:
    """Episode bounds for one split: random (training) or sequential (evaluation), plus explicit ranges.

    :param valid: bool [n] ``MarketData.valid``.
    :param segment_id: int32 [n] ``MarketData.segment_id``.
    :param split: the split's half-open row range.
    :param split_name: for error messages.
    :param window: rows per observation window (``env.window``).
    :param episode_length: steps per random episode (``env.episode_length``).
    :raises DataError: when the split holds no episode at all.
    """

    def __init__(
        self,
        valid: npt.NDArray[np.bool_],
        segment_id: npt.NDArray[np.int32],
        split: range,
        split_name: str,
        window: int,
        episode_length: int,
    ) -> None:
        self.split = split
        self.split_name = split_name
        self.window = window
        self.episode_length = episode_length
        self.runs: list[EpisodeBounds] = []
        for a, b in _runs(valid, segment_id):
            first = max(a + window - 1, split.start)
            stop = min(b, split.stop)
            if stop - 1 - first >= 1:
                self.runs.append(EpisodeBounds(first, stop))
        if not self.runs:
            raise DataError(
                f"split {split_name!r} (rows {split.start}..{split.stop - 1}) holds no episode: it needs "
                f"env.window={window} valid rows of one gap-free segment plus one more bar; lower env.window or "
                "widen the data range (data.start/data.end) or the split fractions"
            )
        # number of random starts each run offers: every start of a full episode, or one shorter episode
        counts = np.array([max(r.n_steps - episode_length + 1, 1) for r in self.runs], dtype=np.int64)
        self._cum_counts = np.cumsum(counts)
        n_short = int(sum(r.n_steps < episode_length for r in self.runs))
        if n_short:
            logger.info(
                "Split %s: %d of %d gap-free runs are shorter than env.episode_length=%d and give shorter episodes",
                split_name,
                n_short,
                len(self.runs),
                episode_length,
            )

    @property
    def n_random_starts(self) -> int:
        """How many distinct random episodes the split offers."""
        return int(self._cum_counts[-1])

    def sample(self, rng: np.random.Generator) -> EpisodeBounds:
        """A random episode of ``episode_length`` steps (or a whole shorter run), uniform over the possible starts.

        :param rng: the env's generator (seeded by ``reset(seed=...)``).
        """
        k = int(rng.integers(self.n_random_starts))
        i = int(np.searchsorted(self._cum_counts, k, side="right"))
        run = self.runs[i]
        offset = k - (int(self._cum_counts[i - 1]) if i else 0)
        start = run.start + offset
        return EpisodeBounds(start, min(start + self.episode_length + 1, run.stop))

    def explicit(self, start_index: int, end_index: int | None) -> EpisodeBounds:
        """Check and return a caller-chosen episode (``reset(options={"start_index": ..., "end_index": ...})``).

        :param start_index: first observed row; must be a decision row of this split.
        :param end_index: one past the last observed row; None = the end of ``start_index``'s run.
        :raises ValueError: when the range leaves the run (gap, warm-up rows, split end) or is empty.
        """
        for run in self.runs:
            if run.start <= start_index < run.stop - 1:
                stop = run.stop if end_index is None else end_index
                if not start_index + 1 < stop <= run.stop:
                    raise ValueError(
                        f"end_index={end_index} must lie in ({start_index + 1}, {run.stop}]: the episode from row "
                        f"{start_index} can run until row {run.stop - 1}, where its gap-free run of split "
                        f"{self.split_name!r} ends"
                    )
                return EpisodeBounds(start_index, stop)
        spans = ", ".join(f"{r.start}..{r.stop - 2}" for r in self.runs)
        raise ValueError(
            f"start_index={start_index} is not a decision row of split {self.split_name!r}; valid starts lie in: "
            f"{spans} (a start needs env.window={self.window} valid rows of one segment before it and a bar after it)"
        )


def split_range(dataset: Dataset, split: str) -> range:
    """The rows of ``split``: a split of the dataset or ``"all"`` (every row).

    :raises ConfigError: for an unknown split name; the message lists the choices.
    """
    if split == "all":
        return range(len(dataset.market))
    if split not in dataset.splits:
        choices = ", ".join([*dataset.splits, "all"])
        raise ConfigError(f"split={split!r} is not a split of the dataset; choose one of: {choices}")
    return dataset.splits[split]
