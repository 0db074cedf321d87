"""Several symbols on one clock: each keeps its own rows, gaps, features and scaler; one clock aligns them.

A :class:`Universe` holds one :class:`~bot.data.types.Dataset` per symbol, built exactly as a single-symbol dataset
(its own gap segments, so no feature window spans that symbol's gap; its own :class:`~bot.data.scaler.FeatureScaler`
fit on its own training rows). The clock is the sorted union of the symbols' bar open times over their common
period, and ``row[i, t]`` says which row of symbol ``i`` opens at clock bar ``t`` (-1: symbol ``i`` has no bar there,
a gap). The splits are cut on the clock, so every symbol's train / validation / test rows lie in the same time
ranges: nothing a symbol trains on lies after another symbol's validation or test bars begin.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from bot.atomic import atomic_write_bytes
from bot.config import TIMEFRAME_MS, BotConfig, DataConfig
from bot.data.dataset import cut_dates, dataset_from_market, market_from_frame
from bot.data.loading import load_ohlcv
from bot.data.scaler import FeatureScaler
from bot.data.splits import split_ranges
from bot.data.types import Dataset
from bot.data.validation import format_ms, format_span, index_to_ms, infer_bar_ms, validate_ohlcv
from bot.errors import DataError, SchemaMismatchError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Universe:
    """Per-symbol datasets aligned on one clock.

    :param symbols: the N symbol labels, in config order.
    :param datasets: each symbol's dataset over its own rows (own segments, features, splits and scaler).
    :param clock_ms: int64 [T] sorted union of the symbols' bar open times over the common period.
    :param row: int32 [N, T] row of ``datasets[i]`` opening at ``clock_ms[t]``; -1 where symbol ``i`` has no bar.
    :param splits: split name -> half-open range of clock bars; ``datasets[i].splits[name]`` are the rows of symbol
        ``i`` opening inside the same time range.
    """

    symbols: tuple[str, ...]
    datasets: tuple[Dataset, ...]
    clock_ms: npt.NDArray[np.int64]
    row: npt.NDArray[np.int32]
    splits: dict[str, range]

    def __len__(self) -> int:
        return int(self.clock_ms.shape[0])

    @property
    def schema_hash(self) -> str:
        """The observation schema every symbol shares."""
        return self.datasets[0].schema_hash

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Feature names every symbol shares."""
        return self.datasets[0].market.feature_names

    @property
    def base_ms(self) -> int:
        """Base bar length in ms."""
        return self.datasets[0].market.base_ms

    @property
    def fingerprint(self) -> str:
        """Stable hash of every symbol's label and candles (checkpoint manifests)."""
        digest = hashlib.sha256()
        for symbol, dataset in zip(self.symbols, self.datasets, strict=True):
            digest.update(f"{symbol}={dataset.market.fingerprint};".encode())
        return digest.hexdigest()[:16]

    @property
    def scalers(self) -> tuple[FeatureScaler | None, ...]:
        """Each symbol's feature scaler (save them with the model)."""
        return tuple(d.scaler for d in self.datasets)

    def index(self, symbol: str) -> int:
        """Position of ``symbol`` in :attr:`symbols`.

        :raises DataError: naming the symbols there are.
        """
        if symbol not in self.symbols:
            raise DataError(f"symbol {symbol!r} is not in the universe; it holds {', '.join(self.symbols)}")
        return self.symbols.index(symbol)


#: file of every symbol's scaler, beside the checkpoint's ``scaler.json``
SCALERS = "scalers.json"
_SCALERS_FORMAT = "bot.SymbolScalers/1"


@dataclass(frozen=True, slots=True)
class SymbolScalers:
    """Every symbol's feature scaler: what a universe run saves with its checkpoints.

    :param symbols: the universe's symbols, in order.
    :param scalers: each one's scaler, fit on its own train split.
    """

    symbols: tuple[str, ...]
    scalers: tuple[FeatureScaler, ...]

    @classmethod
    def of(cls, universe: Universe) -> SymbolScalers:
        """The scalers of a built universe.

        :raises DataError: when a dataset carries none (hand-built datasets).
        """
        scalers = tuple(s for s in universe.scalers if s is not None)
        if len(scalers) != len(universe.symbols):
            raise DataError("a dataset of the universe carries no feature scaler; build it with build_universe")
        return cls(universe.symbols, scalers)

    def save(self, path: str | Path) -> None:
        """Write ``path`` (the first symbol's scaler, which single-symbol tools read) and :data:`SCALERS` beside it
        (every symbol's), each atomically."""
        self.scalers[0].save(path)
        entries = [{"symbol": s, "scaler": sc.to_dict()} for s, sc in zip(self.symbols, self.scalers, strict=True)]
        payload = json.dumps({"format": _SCALERS_FORMAT, "symbols": entries}, indent=1).encode("utf-8")
        atomic_write_bytes(Path(path).with_name(SCALERS), payload)

    @classmethod
    def load(cls, folder: str | Path) -> SymbolScalers:
        """Read the :data:`SCALERS` file of a checkpoint or run folder.

        :raises DataError: naming the file when it is missing or not written by :meth:`save`.
        """
        path = Path(folder) / SCALERS
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if raw.get("format") != _SCALERS_FORMAT:
                raise KeyError("format")
            entries = [(str(e["symbol"]), e["scaler"]) for e in raw["symbols"]]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise DataError(
                f"{path}: not the per-symbol scalers of a universe run ({type(e).__name__}: {e}); point at a"
                " checkpoint of a run trained with env.mode universe"
            ) from e
        return cls(tuple(s for s, _ in entries), tuple(FeatureScaler.from_dict(r, str(path)) for _, r in entries))


@dataclass(frozen=True, slots=True)
class AlignedPrices:
    """The universe's candles as (N, T) arrays on the clock (what a multi-asset portfolio steps over).

    :param open: float64 [N, T]; NaN where the symbol has no bar; likewise ``high``, ``low``, ``close``.
    :param mark: float64 [N, T] last known close at or before clock bar t (valuation through a gap); NaN before the
        symbol's first bar.
    :param tradable: bool [N, T] the symbol has a bar at t AND its features are valid there.
    """

    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    mark: npt.NDArray[np.float64]
    tradable: npt.NDArray[np.bool_]


def aligned_prices(universe: Universe) -> AlignedPrices:
    """Gather every symbol's candles onto the clock.

    :param universe: from :func:`build_universe`.
    :return: the (N, T) arrays (about 48 bytes per symbol and clock bar).
    """
    n, t = universe.row.shape
    present = universe.row >= 0
    out = {k: np.full((n, t), np.nan) for k in ("open", "high", "low", "close")}
    tradable = np.zeros((n, t), dtype=bool)
    mark = np.full((n, t), np.nan)
    for i, dataset in enumerate(universe.datasets):
        rows = universe.row[i, present[i]]
        market = dataset.market
        for key, values in out.items():
            values[i, present[i]] = getattr(market, key)[rows]
        tradable[i, present[i]] = market.valid[rows]
        # forward fill: the index of the last present clock bar at or before each t
        last = np.maximum.accumulate(np.where(present[i], np.arange(t), -1))
        mark[i] = np.where(last >= 0, out["close"][i, np.maximum(last, 0)], np.nan)
    return AlignedPrices(out["open"], out["high"], out["low"], out["close"], mark, tradable)


def _load_symbol(cfg: DataConfig, symbol: str, path: str) -> pd.DataFrame:
    """One symbol's validated candles at the base timeframe, cut to [data.start, data.end)."""
    source = f"{symbol} ({path})"
    frame = load_ohlcv(path, cfg.plausibility)
    base_ms = TIMEFRAME_MS[cfg.base_timeframe]
    spacing = infer_bar_ms(index_to_ms(frame.index))
    if spacing is not None and spacing != base_ms:
        raise DataError(
            f"{source}: its bars are {format_span(spacing)} apart but data.base_timeframe={cfg.base_timeframe!r};"
            " every symbol of a universe needs files of the same base timeframe"
        )
    validate_ohlcv(frame, source, base_ms)
    return cut_dates(frame, cfg, source)


def load_symbol_frames(cfg: DataConfig) -> list[tuple[str, pd.DataFrame, str]]:
    """Every symbol's validated candles at the base timeframe, cut to ``[data.start, data.end)``; gaps still in.

    :param cfg: the ``data`` section (one symbol, several, or a synthetic basket; one synthetic asset is the
        single-symbol synthetic market).
    :return: (symbol, frame, source label for messages) per symbol, in config order.
    :raises DataError: naming every missing file, or a file of another base timeframe.
    """
    if cfg.source == "synthetic":
        from bot.data.synthetic import basket_symbols, generate_basket, generate_synthetic

        many = cfg.synthetic.assets > 1
        symbols = basket_symbols(cfg.synthetic.assets) if many else [cfg.symbol]
        frames = (
            generate_basket(cfg.synthetic, cfg.base_timeframe)
            if many
            else [generate_synthetic(cfg.synthetic, cfg.base_timeframe)]
        )
        return [
            (s, cut_dates(f, cfg, s), f"synthetic(seed={cfg.synthetic.seed}, {s})")
            for s, f in zip(symbols, frames, strict=True)
        ]
    files = cfg.symbol_files()
    missing = [f for f in files if not Path(f.path).is_file()]
    if missing:
        listed = "; ".join(f"{f.symbol}: {f.path}" for f in missing)
        raise DataError(
            f"{len(missing)} of {len(files)} symbol file(s) not found: {listed}; fetch them (python -m bot fetch-data)"
            " or fix data.symbols / data.dir / data.pattern"
        )
    return [(f.symbol, _load_symbol(cfg, f.symbol, f.path), f"{f.symbol} ({f.path})") for f in files]


def _common_period(frames: Sequence[tuple[str, pd.DataFrame, str]]) -> tuple[int, int]:
    """[first, last] open time (ms) that every symbol covers.

    :raises DataError: naming the latest-starting and the earliest-ending symbol when they do not overlap.
    """
    spans = [(s, int(index_to_ms(f.index)[0]), int(index_to_ms(f.index)[-1])) for s, f, _ in frames]
    late = max(spans, key=lambda x: x[1])
    early = min(spans, key=lambda x: x[2])
    if late[1] > early[2]:
        raise DataError(
            f"the symbols cover no common period: {late[0]} starts at {format_ms(late[1])} after {early[0]} ends at"
            f" {format_ms(early[2])}; use files that overlap in time"
        )
    return late[1], early[2]


def align_clock(
    open_times: Sequence[npt.NDArray[np.int64]],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]:
    """The clock of several symbols and where each symbol's rows sit on it.

    :param open_times: each symbol's strictly increasing bar open times (ms).
    :return: ``clock_ms`` int64 [T], the sorted union of the open times, and ``row`` int32 [N, T], the row of symbol
        ``i`` opening at ``clock_ms[t]`` or -1 where it has no bar.
    """
    clock_ms = np.unique(np.concatenate(open_times)).astype(np.int64)
    row = np.full((len(open_times), clock_ms.shape[0]), -1, dtype=np.int32)
    for i, times in enumerate(open_times):
        row[i, np.searchsorted(clock_ms, times)] = np.arange(times.shape[0], dtype=np.int32)
    return clock_ms, row


def symbol_splits(
    open_ms: npt.NDArray[np.int64], clock_ms: npt.NDArray[np.int64], splits: dict[str, range]
) -> dict[str, range]:
    """A symbol's rows opening in each clock split's time range ``[clock[start], clock[stop])``.

    :param open_ms: the symbol's strictly increasing open times.
    :param clock_ms: the universe's clock.
    :param splits: split name -> range of clock bars.
    :return: split name -> range of the symbol's rows (empty where it has no bar in that time range).
    """
    bounds = np.append(clock_ms, np.iinfo(np.int64).max)
    out = {}
    for name, r in splits.items():
        lo, hi = np.searchsorted(open_ms, [bounds[r.start], bounds[r.stop]], side="left")
        out[name] = range(int(lo), int(hi))
    return out


def build_universe(cfg: BotConfig, scalers: SymbolScalers | None = None) -> Universe:
    """Load every symbol of ``cfg.data``, align them on one clock, split on the clock and scale each on its own.

    ``data.symbols`` (or ``data.dir`` + ``data.pattern``) lists the files; ``data.path`` alone is a universe of one
    symbol; ``data.source=synthetic`` gives ``data.synthetic.assets`` correlated assets.

    :param cfg: the whole config.
    :param scalers: a run's saved scalers (evaluation); None fits each symbol's on its own train split.
    :return: the :class:`Universe`.
    :raises DataError: a missing file (all of them named), files of another base timeframe, no common period, a
        split empty for one symbol (named), or any single-symbol data error (naming the symbol and its file).
    :raises SchemaMismatchError: when ``scalers`` belong to other symbols or other features.
    """
    frames = load_symbol_frames(cfg.data)
    symbols = tuple(s for s, _, _ in frames)
    if scalers is not None and scalers.symbols != symbols:
        raise SchemaMismatchError(
            f"the model was trained on {', '.join(scalers.symbols)} but the data lists {', '.join(symbols)};"
            " evaluate with the symbols (in the order) the model was trained on"
        )
    lo, hi = _common_period(frames)
    markets = []
    for symbol, frame, source in frames:
        open_ms = index_to_ms(frame.index)
        part = frame.iloc[int(np.searchsorted(open_ms, lo)) : int(np.searchsorted(open_ms, hi, side="right"))]
        markets.append(replace(market_from_frame(part, cfg, source), symbol=symbol))
    clock_ms, row = align_clock([m.open_time_ms for m in markets])
    splits = split_ranges(clock_ms.shape[0], cfg.splits, clock_ms)
    datasets = []
    for i, market in enumerate(markets):
        own = symbol_splits(market.open_time_ms, clock_ms, splits)
        empty = [name for name in ("train", "test") if len(own[name]) == 0]
        if empty:
            raise DataError(
                f"{market.symbol}: no bars in the {'/'.join(empty)} split (a gap covers it); use other split"
                " fractions or dates, or drop the symbol"
            )
        try:
            datasets.append(dataset_from_market(market, own, cfg, scalers.scalers[i] if scalers is not None else None))
        except DataError as e:
            raise DataError(f"{market.symbol}: {e}") from e
    logger.info(
        "Universe of %d symbols on %d clock bars (%s .. %s)",
        len(markets),
        clock_ms.shape[0],
        format_ms(int(clock_ms[0])),
        format_ms(int(clock_ms[-1])),
    )
    return Universe(tuple(m.symbol for m in markets), tuple(datasets), clock_ms, row, splits)
