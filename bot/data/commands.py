"""The data commands: ``python -m bot fetch-data`` (download candles through ccxt) and ``check-lookahead`` (prove on
the configured data that no feature uses bars after its close)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bot.config import load_config
from bot.data.dataset import load_frame
from bot.data.download import FetchSummary, ProgressFn, download_ohlcv, iso_utc, parse_utc_ms
from bot.data.download_store import ohlcv_path
from bot.data.lookahead import LookAheadReport, check_lookahead
from bot.data.universe import load_symbol_frames
from bot.errors import ConfigError
from bot.exchange import make_exchange
from bot.smartlog import command_logging

logger = logging.getLogger(__name__)

#: Seconds between two download progress lines when stderr is not a terminal.
PROGRESS_LINE_EVERY_S = 10.0


def format_report(report: LookAheadReport) -> str:
    """The per-feature result table, one line per feature, then a verdict line."""
    width = max([len("feature"), *(len(f.name) for f in report.features)])
    lines = [f"{'feature':<{width}}  {'result':<6}  {'compared':>10}  {'changed':>8}  {'max |diff|':>10}  first change"]
    for f in report.features:
        lines.append(
            f"{f.name:<{width}}  {'ok' if f.ok else 'LEAK':<6}  {f.n_compared:>10}  {f.n_mismatched:>8}"
            f"  {f.max_abs_diff:>10.3g}  {f.first_mismatch or '-'}"
        )
    verdict = "all features match" if report.ok else f"LOOK-AHEAD in {', '.join(report.failed)}"
    lines.append(f"{len(report.cut_points)} cut points, {len(report.features)} features: {verdict}")
    return "\n".join(lines)


def run_check_lookahead(args: argparse.Namespace) -> int:
    """Handler of ``check-lookahead``: load ``--config`` with ``--set`` overrides, check, print the table.

    :param args: parsed arguments with ``config``, ``overrides`` and ``cut_points``.
    :return: 0 when every feature matches, 1 when any feature leaks (of any symbol: several are checked in turn).
    :raises ConfigError: for ``--cut-points`` below 1 or an invalid config.
    """
    if args.cut_points < 1:
        raise ConfigError(f"--cut-points={args.cut_points} must be >= 1; e.g. --cut-points 20")
    cfg = load_config(args.config, args.overrides)
    if cfg.data.n_symbols > 1:  # each symbol's features come from its own bars only: check them one by one
        frames = [(frame, source) for _, frame, source in load_symbol_frames(cfg.data)]
    else:
        frames = [load_frame(cfg.data)]
    ok = True
    for frame, source in frames:
        logger.info("Checking look-ahead on %s with %d cut points", source, args.cut_points)
        report = check_lookahead(frame, cfg, args.cut_points)
        print(f"look-ahead check on {source} ({len(frame)} bars, timeframes {', '.join(cfg.data.timeframes)})")
        print(format_report(report))
        ok = ok and report.ok
    return 0 if ok else 1


@contextmanager
def _progress_reporter(label: str) -> Iterator[ProgressFn]:
    """A rich progress bar on a terminal, else a line on stderr every :data:`PROGRESS_LINE_EVERY_S` seconds."""
    if sys.stderr.isatty():
        columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task(label, total=None)

            def update_bar(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            yield update_bar
        return
    last_line = [time.monotonic()]

    def print_line(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last_line[0] >= PROGRESS_LINE_EVERY_S or done >= total:
            last_line[0] = now
            print(f"{label}: {done}/{total} bars ({100.0 * done / max(total, 1):.0f}%)", file=sys.stderr)

    yield print_line


def _print_summary(summary: FetchSummary, symbol: str, timeframe: str) -> None:
    assert summary.first_ms is not None and summary.last_ms is not None  # _summarise guarantees a non-empty file
    print(
        f"{symbol} {timeframe}: fetched {summary.n_fetched} bars in {summary.n_requests} requests;"
        f" {summary.path} holds {summary.n_bars} bars from {iso_utc(summary.first_ms)}"
        f" to {iso_utc(summary.last_ms)} (open)"
    )
    if not summary.gaps:
        print(f"no gaps between {iso_utc(summary.wanted.start_ms)} and {iso_utc(summary.wanted.stop_ms)}")
        return
    n_missing = sum(g.n_bars for g in summary.gaps)
    print(f"{len(summary.gaps)} gaps remain ({n_missing} bars the exchange did not return):")
    for gap in summary.gaps[:20]:
        print(f"  {iso_utc(gap.start_ms)} .. {iso_utc(gap.stop_ms)} ({gap.n_bars} bars)")
    if len(summary.gaps) > 20:
        print(f"  ... and {len(summary.gaps) - 20} more")


def run_fetch_data(args: argparse.Namespace) -> int:
    """``python -m bot fetch-data``: download candles into ``<out-dir>/<exchange>/<SYMBOL>-<tf>.parquet``.

    :param args: parsed flags (see ``bot.cli._fetch_parser``); ``--config``/``--set`` only set the logging.
    :return: exit code 0 on success.
    :raises ConfigError: bad exchange, symbol, timeframe or dates.
    :raises DataError: unusable existing file, or no candle in the range.
    :raises TransientBrokerError: the exchange stayed unreachable (rerun to resume).
    :raises BrokerError: the exchange refused a request.
    """
    since_ms = parse_utc_ms(args.since, "--since")
    until_ms = None if args.until is None else parse_utc_ms(args.until, "--until")
    if until_ms is not None and since_ms >= until_ms:
        raise ConfigError(f"--since={args.since!r} must be before --until={args.until!r}")
    # Only the config's logging section matters here; no log file: the console is the record of a download.
    log_settings = load_config(args.config, args.overrides).logging
    ex = make_exchange(args.exchange, symbol=args.symbol, testnet=args.testnet, exchange_url=args.exchange_url)
    path = ohlcv_path(args.out_dir, ex.id, args.symbol, args.timeframe)
    try:
        with (
            command_logging(log_settings, args.out_dir, file=None),
            _progress_reporter(f"{ex.id} {args.symbol} {args.timeframe}") as progress,
        ):
            summary = download_ohlcv(ex, args.symbol, args.timeframe, since_ms, until_ms, path, progress=progress)
    finally:
        ex.close()  # the client's HTTP session (keep-alive sockets)
    _print_summary(summary, args.symbol, args.timeframe)
    return 0
