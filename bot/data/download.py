"""Download OHLCV candles through ccxt into Parquet, resuming by fetching only the bars a file still lacks.

``python -m bot fetch-data --exchange bybit --symbol BTC/USDT --timeframe 5m --since 2023-01-01`` (its handler is in
:mod:`bot.data.commands`) writes ``data/bybit/BTC_USDT-5m.parquet``; :func:`bot.data.load_ohlcv` reads it back.
Running the command again fetches only what is missing between ``--since`` and ``--until`` (also holes in the
middle). A bar is stored only once closed (its close time ``open + timeframe`` is <= now), so the still-forming last
bar never enters the file.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bot.data.download_exchange import (
    DOWNLOAD_RETRY,
    check_timeframe,
    exchange_now_ms,
    fetch_candles,
    listed_market,
    page_limit,
)
from bot.data.download_store import BarRange, merge, missing_ranges, read_stored, write_atomic
from bot.errors import ConfigError, DataError, TransientBrokerError
from bot.exchange import Exchange, RetryPolicy

logger = logging.getLogger(__name__)

#: Fetched pages between two checkpoint writes of the file (an interrupted download keeps its progress).
CHECKPOINT_PAGES = 100

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class FetchSummary:
    """What a download did and what the file now holds.

    :param path: the Parquet file.
    :param n_fetched: bars fetched and stored by this run.
    :param n_requests: ``fetch_ohlcv`` calls made (retries not counted).
    :param n_bars: bars in the file.
    :param first_ms: open time of the file's first bar (UTC ms), None when the file is empty.
    :param last_ms: open time of the file's last bar.
    :param wanted: the closed bars asked for.
    :param gaps: runs of wanted bars the exchange did not return (outages, or before the market was listed).
    """

    path: Path
    n_fetched: int
    n_requests: int
    n_bars: int
    first_ms: int | None
    last_ms: int | None
    wanted: BarRange
    gaps: list[BarRange]


def parse_utc_ms(text: str, flag: str) -> int:
    """Parse an ISO date or date-time (UTC unless it carries an offset) into epoch milliseconds.

    :param text: e.g. ``2023-01-01`` or ``2023-01-01T12:30:00Z``.
    :param flag: the command-line flag, for the message.
    :return: UTC milliseconds.
    :raises ConfigError: the text is not a date.
    """
    try:
        ts = pd.Timestamp(text)
    except ValueError as e:
        raise ConfigError(
            f"{flag}={text!r} is not an ISO date/time; use e.g. 2023-01-01 or 2023-01-01T12:30:00Z (UTC)"
        ) from e
    if ts is pd.NaT:
        raise ConfigError(f"{flag}={text!r} is not an ISO date/time; use e.g. 2023-01-01 (UTC)")
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 1_000_000)


def wanted_range(since_ms: int, until_ms: int | None, now_ms: int, bar_ms: int) -> BarRange:
    """The closed bars to hold: open time in ``[since, until)``, aligned to the bar grid, and close time <= now.

    :raises ConfigError: ``since`` is not before ``until``, or no bar in the window has closed yet.
    """
    if until_ms is not None and since_ms >= until_ms:
        raise ConfigError(f"--since ({iso_utc(since_ms)}) must be before --until ({iso_utc(until_ms)})")
    start = -(-since_ms // bar_ms) * bar_ms
    last_close = now_ms // bar_ms * bar_ms  # bars opening before this have closed by now
    stop = last_close if until_ms is None else min(-(-until_ms // bar_ms) * bar_ms, last_close)
    if start >= stop:
        raise ConfigError(
            f"no closed bar opens between --since {iso_utc(since_ms)}"
            f" and {iso_utc(stop if until_ms is None else until_ms)}; move --since earlier"
        )
    return BarRange(start, stop, bar_ms)


def download_ohlcv(
    ex: Exchange,
    symbol: str,
    timeframe: str,
    since_ms: int,
    until_ms: int | None,
    path: Path,
    *,
    now_ms: int | None = None,
    sleep: Callable[[float], None] | None = None,
    progress: ProgressFn | None = None,
) -> FetchSummary:
    """Bring ``path`` up to date with every closed bar between ``since_ms`` and ``until_ms``.

    Reads the existing file, computes the missing runs of bars (leading, trailing, holes), fetches only those page by
    page (each page a window of at most the exchange's limit, the next one starting after the last bar received),
    and writes the merged file atomically every :data:`CHECKPOINT_PAGES` pages, at the end, and before re-raising
    an error (so a rerun resumes). A ``since`` before the market's listing (ccxt ``market["created"]``, when the
    exchange reports it) starts at the listing.

    :param ex: a ccxt client (see :func:`bot.exchange.make_exchange`).
    :param symbol: unified ccxt symbol.
    :param timeframe: bar timeframe, e.g. ``"5m"``.
    :param since_ms: first bar open time wanted (UTC ms; rounded up to the bar grid).
    :param until_ms: bars opening at or after this are not wanted; None = up to now.
    :param path: the Parquet file (created with its folders).
    :param now_ms: the clock, UTC ms (default: the exchange's clock); bars closing after it are not stored.
    :param sleep: retry backoff sleeper (default ``time.sleep``); the retries follow
        :data:`~bot.data.download_exchange.DOWNLOAD_RETRY`.
    :param progress: called with (bars covered, bars to cover) as pages arrive.
    :return: the summary.
    :raises ConfigError: bad timeframe, symbol or date range.
    :raises DataError: the existing file is unusable, or the exchange has no candle at all in the range.
    :raises TransientBrokerError: the exchange stayed unreachable through every retry.
    :raises BrokerError: the exchange refused a request.
    """
    policy = DOWNLOAD_RETRY if sleep is None else dataclasses.replace(DOWNLOAD_RETRY, sleep=sleep)
    try:
        return _download(ex, symbol, timeframe, since_ms, until_ms, path, now_ms, policy, progress)
    except TransientBrokerError as e:
        raise TransientBrokerError(
            f"{e}; failed {policy.max_retries + 1} times (the exchange is unreachable or rate-limiting): wait and run"
            " the same command again to resume"
        ) from e


def _download(
    ex: Exchange,
    symbol: str,
    timeframe: str,
    since_ms: int,
    until_ms: int | None,
    path: Path,
    now_ms: int | None,
    policy: RetryPolicy,
    progress: ProgressFn | None,
) -> FetchSummary:
    bar_ms = check_timeframe(ex, timeframe)
    wanted = wanted_range(since_ms, until_ms, exchange_now_ms(ex, policy) if now_ms is None else now_ms, bar_ms)
    market = listed_market(ex, symbol, policy)
    listed_ms = market.get("created")
    if listed_ms is not None and wanted.start_ms < listed_ms < wanted.stop_ms:
        # Nothing trades before the listing: asking would cost empty requests and report the years before as gaps.
        logger.info("%s was listed on %s, after --since: starting there", symbol, iso_utc(int(listed_ms)))
        wanted = BarRange(int(listed_ms) // bar_ms * bar_ms, wanted.stop_ms, bar_ms)
    limit = page_limit(ex, market)
    stored = read_stored(path, bar_ms)
    todo = missing_ranges(stored["timestamp"].to_numpy(), wanted)
    total = sum(r.n_bars for r in todo)
    logger.info("%s %s: %d bars missing in %d ranges, %d per request", symbol, timeframe, total, len(todo), limit)

    rows: list[list[float]] = []
    n_fetched = n_requests = covered = 0
    try:
        for run in todo:
            for page, n_covered in _pages(ex, symbol, timeframe, run, limit, policy):
                n_requests += 1
                rows.extend(page)
                covered += n_covered
                if progress is not None:
                    progress(covered, total)
                if n_requests % CHECKPOINT_PAGES == 0:
                    stored, n_fetched = merge(stored, rows), n_fetched + len(rows)
                    rows = []
                    write_atomic(stored, path)
    except BaseException:
        if rows:
            write_atomic(merge(stored, rows), path)
            logger.warning("Saved %d bars fetched before the error to %s; rerun to resume", len(rows), path)
        raise
    if rows:
        stored, n_fetched = merge(stored, rows), n_fetched + len(rows)
        write_atomic(stored, path)
    return _summarise(stored, path, wanted, n_fetched, n_requests, symbol, ex.id)


def _pages(
    ex: Exchange,
    symbol: str,
    timeframe: str,
    run: BarRange,
    limit: int,
    policy: RetryPolicy,
) -> Iterator[tuple[list[list[float]], int]]:
    """Fetch ``run`` page by page: yield each page's rows and the number of bars of ``run`` it accounts for.

    Each request covers a window of at most ``limit`` bars; the next starts right after the last bar received, or
    after the window when it came back empty (an exchange outage), so every request makes progress.
    """
    cursor = run.start_ms
    while cursor < run.stop_ms:
        window_stop = min(cursor + limit * run.bar_ms, run.stop_ms)
        page = fetch_candles(ex, symbol, timeframe, cursor, window_stop, limit, policy)
        next_cursor = int(page[-1][0]) + run.bar_ms if page else window_stop
        yield page, (next_cursor - cursor) // run.bar_ms
        cursor = next_cursor


def _summarise(
    stored: pd.DataFrame, path: Path, wanted: BarRange, n_fetched: int, n_requests: int, symbol: str, exchange: str
) -> FetchSummary:
    ts = stored["timestamp"].to_numpy(dtype=np.int64)
    inside = ts[(ts >= wanted.start_ms) & (ts < wanted.stop_ms)]
    if inside.size == 0:
        raise DataError(
            f"{exchange} returned no {symbol} candles between {iso_utc(wanted.start_ms)} and {iso_utc(wanted.stop_ms)};"
            " the market may have been listed later: move --since or --until"
        )
    return FetchSummary(
        path=path,
        n_fetched=n_fetched,
        n_requests=n_requests,
        n_bars=int(ts.size),
        first_ms=int(ts[0]),
        last_ms=int(ts[-1]),
        wanted=wanted,
        gaps=missing_ranges(ts, wanted),
    )


def iso_utc(ms: int) -> str:
    """``ms`` (UTC epoch milliseconds) as an ISO date-time with its offset, e.g. ``2023-01-01T00:00:00+00:00``."""
    return pd.Timestamp(ms, unit="ms", tz="UTC").isoformat()
