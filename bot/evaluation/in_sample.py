"""Whether the evaluated bars are bars the model was trained or selected on, decided by the candles themselves.

Config values alone cannot tell: the same candles can sit in another file (a longer download that contains the
training year), and another file can hold other candles at the same times (another symbol, another synthetic seed).
So the training candles are rebuilt from the checkpoint's own config, checked against the data fingerprint of its
manifest (they must be the candles training saw, bit for bit), split as training split them, and every evaluated bar is
looked up by its open time among the training run's train and validation bars: it counts as seen when its open, high,
low, close and volume are identical there. The evaluated bars are the evaluated split's rows (the backtest marks
those rows, less any feature warm-up rows after a gap).

Known limit: a walk-forward fold's run folder trained on the fold's rows, which its config does not record; checked
alone it is judged by the config's fraction or date splits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import numpy.typing as npt

from bot.config import BotConfig
from bot.errors import DataError

if TYPE_CHECKING:
    from bot.data import Dataset, MarketData


class Overlap(NamedTuple):
    """Evaluated bars that are bars of one training split: how many, and the open times of the first and last."""

    n_bars: int
    first_ms: int
    last_ms: int


def seen_bars(evaluated: MarketData, rows: range, trained: MarketData, seen_rows: range) -> Overlap | None:
    """The bars of ``evaluated[rows]`` that are also bars of ``trained[seen_rows]``: same open time, same candle.

    :param evaluated: the evaluation market.
    :param rows: the evaluated rows.
    :param trained: the market the model was trained on.
    :param seen_rows: rows of ``trained`` that training used (its train or validation split).
    :return: the overlap, or None when no bar is shared.
    """
    if len(rows) == 0 or len(seen_rows) == 0:
        return None
    ev, tr = slice(rows.start, rows.stop), slice(seen_rows.start, seen_rows.stop)
    _, i, j = np.intersect1d(evaluated.open_time_ms[ev], trained.open_time_ms[tr], return_indices=True)
    same = np.ones(i.size, dtype=bool)
    for name in ("open", "high", "low", "close", "volume"):
        a: npt.NDArray[np.float64] = getattr(evaluated, name)[ev]
        b: npt.NDArray[np.float64] = getattr(trained, name)[tr]
        same &= a[i] == b[j]
    if not same.any():
        return None
    times = evaluated.open_time_ms[ev][i[same]]
    return Overlap(int(same.sum()), int(times.min()), int(times.max()))


def _training_market(trained: BotConfig, fingerprint: str | None, dataset: Dataset) -> MarketData | str:
    """The candles the model was trained on, or why they cannot be rebuilt."""
    if fingerprint is not None and dataset.market.fingerprint == fingerprint:
        return dataset.market  # the evaluation candles are the training candles, bit for bit
    from bot.data import build_market

    try:
        market = build_market(trained)
    except DataError as e:
        return f"its training data cannot be loaded ({e})"
    if fingerprint is not None and market.fingerprint != fingerprint:
        return (
            f"its training data has changed since training (fingerprint {market.fingerprint}, the manifest says"
            f" {fingerprint})"
        )
    return market


def in_sample_warning(trained: BotConfig, fingerprint: str | None, dataset: Dataset, split: str) -> str | None:
    """A warning when the evaluated bars include bars the model was trained or selected on, else None.

    :param trained: the checkpoint's own config (without the ``--set`` overrides): where and how it was trained.
    :param fingerprint: the data fingerprint of the checkpoint's manifest (None for manifests without one).
    :param dataset: the evaluation dataset.
    :param split: the evaluated split.
    :return: the warning, also when the check itself is impossible (training data gone or changed), else None.
    """
    from bot.data import split_ranges

    market = _training_market(trained, fingerprint, dataset)
    if isinstance(market, str):
        return f"cannot check whether the evaluated bars are in-sample: {market}; treat these results with care"
    seen = split_ranges(len(market), trained.splits, market.open_time_ms)
    rows = dataset.splits[split]
    train = seen_bars(dataset.market, rows, market, seen["train"])
    validation = seen_bars(dataset.market, rows, market, seen["validation"])
    if train is None and validation is None:
        return None
    parts = [
        f"{o.n_bars} are {what} ({_iso(o.first_ms)} .. {_iso(o.last_ms)})"
        for o, what in ((train, "train-split bars"), (validation, "validation-split bars (best-model selection)"))
        if o is not None
    ]
    return (
        f"IN-SAMPLE: the evaluated bars overlap the bars the model was trained and selected on: of the {len(rows)}"
        f" evaluated bars, {' and '.join(parts)} of its training data (same candles at the same times); these results"
        " overstate out-of-sample performance"
    )


def _iso(ms: int) -> str:
    return str(np.datetime64(ms, "ms"))
