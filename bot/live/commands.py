"""``python -m bot paper`` (== ``scripts/paper_trade.py``): paper-trade a checkpoint on the Bybit testnet or dry-run.

The model runs with the config it was trained with (its ``config.yaml``, ``--set`` overrides applied); ``--config``
only supplies the ``live`` section, and the flags override single live keys. Prints one status line per bar and a
summary at the end; the account snapshot is also written to ``<state>.account.json`` for the control API.
"""

from __future__ import annotations

import argparse
import logging
import re
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.config import BotConfig, LiveConfig, load_config
from bot.errors import ConfigError
from bot.exchange import RetryPolicy
from bot.live.broker import Broker, ExecutionPlan, OrderState, run_tag
from bot.live.ccxt_broker import CcxtBroker, live_exchange
from bot.live.credentials import Credentials, load_credentials
from bot.live.dry_run import DryRunBroker
from bot.live.observation import ObservationBuilder
from bot.live.reports import BarReport, RunSummary, limit_fills_text
from bot.live.state import StateStore
from bot.live.trader import Trader
from bot.smartlog import command_logging
from bot.training import LoadedCheckpoint, load_checkpoint, plain_policy

logger = logging.getLogger(__name__)


def resolve_config(args: argparse.Namespace, checkpoint_dir: Path) -> BotConfig:
    """The checkpoint's config with ``--set`` overrides, the ``live`` section of ``--config`` and the flags.

    :raises ConfigError: for a timeframe other than the model's, or a spot symbol for a perpetual model.
    """
    cfg = load_config(checkpoint_dir / "config.yaml", args.overrides)
    live = load_config(args.config, args.overrides).live if args.config else cfg.live
    updates: dict[str, Any] = {"testnet": True} if args.testnet else {}
    for flag, key in (
        ("symbol", "symbol"),
        ("timeframe", "timeframe"),
        ("exchange_url", "exchange_url"),
        ("state", "state_path"),
    ):
        if getattr(args, flag) is not None:
            updates[key] = getattr(args, flag)
    live = LiveConfig.model_validate({**live.model_dump(), **updates})
    if live.timeframe != cfg.data.base_timeframe:
        raise ConfigError(
            f"live.timeframe={live.timeframe!r} differs from the model's data.base_timeframe="
            f"{cfg.data.base_timeframe!r}; pass --timeframe {cfg.data.base_timeframe}"
        )
    check_market_kind(cfg, live.symbol)
    return cfg.model_copy(update={"live": live})


def check_market_kind(cfg: BotConfig, symbol: str) -> None:
    """:raises ConfigError: for a spot symbol and a perpetual model, or the reverse."""
    is_spot_symbol = ":" not in symbol
    if is_spot_symbol != (cfg.portfolio.market == "spot"):
        example = "BTC/USDT" if cfg.portfolio.market == "spot" else "BTC/USDT:USDT"
        raise ConfigError(
            f"symbol {symbol!r} is a {'spot' if is_spot_symbol else 'perpetual'} market but the model was"
            f" trained with portfolio.market={cfg.portfolio.market!r}; pass e.g. --symbol {example}"
        )


def load_paper_checkpoint(run_dir: str) -> LoadedCheckpoint:
    """The checkpoint ``bot paper`` trades: ``best/`` when validation wrote one, else the latest."""
    # best/ when validation wrote one, else the latest; a broken best/ is an error, never a silent switch of model
    return load_checkpoint(run_dir, "best" if (Path(run_dir) / "best").is_dir() else "latest")


def build_broker(
    cfg: BotConfig, creds: Credentials | None, sleep: Callable[[float], None], wallet_share: float = 1.0
) -> Broker:
    """``CcxtBroker`` with the API keys, or (``creds`` None) ``DryRunBroker`` over keyless market data.

    :param wallet_share: the share of the account's quote wallet the symbol trades with (a basket's 1/N); the dry
        run starts with that share of ``portfolio.initial_cash``.
    """
    live = cfg.live
    retry = RetryPolicy(live.max_retries, live.retry_backoff_s, sleep)
    if creds is None:
        cash = cfg.portfolio.model_copy(update={"initial_cash": cfg.portfolio.initial_cash * wallet_share})
        return DryRunBroker(CcxtBroker(live_exchange(live), live, cfg.portfolio, retry), cash)
    broker = CcxtBroker(live_exchange(live, creds.api_key, creds.api_secret), live, cfg.portfolio, retry)
    broker.wallet_share = wallet_share
    return broker


def status_line(report: BarReport, symbol: str) -> str:
    """One line per bar: time (bar open, UTC), close, decision, position, equity, orders, status."""
    when = datetime.fromtimestamp(report.open_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")
    sent = [o for o in report.orders if o.status != "rejected"]
    refused = len(report.orders) - len(sent)
    text = (
        f"{when} {symbol} close {report.close:.2f} | target {report.target_exposure:+.2f} | position"
        f" {report.position_qty:+.6g} | equity {report.equity:.2f} | orders {len(sent)}"
        f"{f' ({refused} refused)' if refused else ''}{limit_fills_text(report.limit_orders, report.limit_fills)}"
        f" | {report.status}"
    )
    return f"{text}: {report.reason}" if report.reason else text


def summary_line(summary: RunSummary) -> str:
    """The run's counts, equity and PnL in one line."""
    return (
        f"bars {summary.bars} (traded {summary.traded}, skipped {summary.skipped}) | orders {summary.orders}"
        f" (refused {summary.rejected}){limit_fills_text(summary.limit_orders, summary.limit_fills)}"
        f" | equity {summary.equity:.2f} | pnl {summary.pnl:+.2f}"
    )


def _print_summary(summary: RunSummary, state_path: Path) -> None:
    print(summary_line(summary))
    if summary.kill_switch:
        print(f"kill switch: {summary.kill_switch}")
    print(f"state: {state_path} | account: {state_path}.account.json")


def run_paper(
    args: argparse.Namespace,
    *,
    sleep: Callable[[float], None] | None = None,
    after_execute: Callable[[ExecutionPlan, list[OrderState]], None] | None = None,
    environ: dict[str, str] | None = None,
) -> int:
    """Handler of ``python -m bot paper``.

    :param args: parsed flags (see ``bot.cli._paper_parser``).
    :param sleep: sleep function (tests advance the emulator's clock); default ``time.sleep``.
    :param after_execute: test hook called between sending a bar's orders and recording them.
    :param environ: environment for the API keys (default ``os.environ``).
    :return: 0 when the run ended normally (``--max-bars`` reached).
    :raises AuthenticationError: missing or refused API keys (exit code 2).
    :raises KillSwitchError: a risk limit tripped; the position was flattened (exit code 2).
    :raises SchemaMismatchError: the live features differ from the checkpoint's.
    """
    checkpoint = load_paper_checkpoint(args.checkpoint)
    cfg = resolve_config(args, Path(args.checkpoint))
    state_path = Path(cfg.live.state_path)
    creds = None if args.dry_run else load_credentials(environ=environ)
    # the key values themselves are redacted from every log line, whatever message or traceback carries them
    secrets = () if creds is None else tuple(re.escape(v) for v in (creds.api_key, creds.api_secret))
    wait = sleep if sleep is not None else time.sleep
    state_path.parent.mkdir(parents=True, exist_ok=True)
    with (
        command_logging(cfg.logging, state_path.parent, "paper.log", redact_patterns=secrets),
        closing(build_broker(cfg, creds, wait)) as broker,
        closing(StateStore(state_path, cfg.live.symbol)) as state,
    ):
        market_space = checkpoint.model.observation_space["market"].shape  # type: ignore[index]
        builder = ObservationBuilder(cfg, checkpoint.scaler, checkpoint.manifest.get("schema_hash"), market_space)
        # the policy reads the trader's masks at each decision (as it reads the env's in validation and backtests)
        policy = plain_policy(checkpoint.model, checkpoint.vecnormalize, lambda: trader.action_masks())
        trader = Trader(
            cfg,
            broker,
            policy,
            builder,
            state,
            run_tag(args.checkpoint, cfg.live.symbol, cfg.live.timeframe),
            wait,
            after_execute,
        )
        mode = "dry run" if args.dry_run else ("testnet" if cfg.live.testnet else "MAINNET")
        print(f"paper trading {cfg.live.symbol} {cfg.live.timeframe} ({mode}) with {checkpoint.path}")
        try:
            summary = trader.run(args.max_bars, on_bar=lambda r: print(status_line(r, cfg.live.symbol), flush=True))
        except BaseException:
            # every exit says what was done (kill switch, refused keys, outage given up, Ctrl-C)
            _print_summary(trader.summary, state_path)
            raise
    _print_summary(summary, state_path)
    return 0
