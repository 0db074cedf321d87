"""``python -m bot check-lookahead``: prove on the configured data that no feature uses bars after its close."""

from __future__ import annotations

import argparse
import logging

from bot.config import load_config
from bot.data.dataset import load_frame
from bot.data.lookahead import LookAheadReport, check_lookahead
from bot.errors import ConfigError

logger = logging.getLogger(__name__)


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
    :return: 0 when every feature matches, 1 when any feature leaks.
    :raises ConfigError: for ``--cut-points`` below 1 or an invalid config.
    """
    if args.cut_points < 1:
        raise ConfigError(f"--cut-points={args.cut_points} must be >= 1; e.g. --cut-points 20")
    cfg = load_config(args.config, args.overrides)
    frame, source = load_frame(cfg.data)
    logger.info("Checking look-ahead on %s with %d cut points", source, args.cut_points)
    report = check_lookahead(frame, cfg, args.cut_points)
    print(f"look-ahead check on {source} ({len(frame)} bars, timeframes {', '.join(cfg.data.timeframes)})")
    print(format_report(report))
    return 0 if report.ok else 1
