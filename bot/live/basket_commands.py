"""``python -m bot paper --symbols A,B``: paper-trade several symbols with one checkpoint in one process.

Every listed symbol is traded by the same policy, each from its own candles, normalised with its own scaler: a
checkpoint of an ``env.mode: universe`` run carries every training symbol's (``scalers.json``), matched to a live
symbol by name (``BTC/USDT:USDT`` matches a scaler saved for ``BTC/USDT:USDT`` or ``BTC/USDT``); a single-symbol
checkpoint's one scaler serves every symbol. The symbols share one state file (rows scoped by symbol) and one
account-level kill switch (:mod:`bot.live.basket`). Every input is checked before the state file is created: a
symbol listed twice, a symbol without a scaler, a market the exchange does not list.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from bot.config import BotConfig, LiveConfig
from bot.data import SCALERS, FeatureScaler, SymbolScalers
from bot.errors import BrokerError, ConfigError
from bot.live.basket import Basket, snapshot_path
from bot.live.broker import Broker, ExecutionPlan, OrderState, run_tag
from bot.live.commands import (
    build_broker,
    check_market_kind,
    load_paper_checkpoint,
    resolve_config,
    run_paper,
    status_line,
    summary_line,
)
from bot.live.credentials import load_credentials
from bot.live.observation import ObservationBuilder
from bot.live.reports import RunSummary
from bot.live.state import StateStore
from bot.live.trader import Trader
from bot.smartlog import command_logging
from bot.training import LoadedCheckpoint, Policy, plain_policy


def paper_command(args: argparse.Namespace) -> int:
    """Handler of ``python -m bot paper``: the portfolio trader for an ``env.mode: portfolio`` checkpoint, a basket
    with ``--symbols``, else one symbol (:func:`run_paper`)."""
    from bot.live.portfolio_commands import is_portfolio_run, run_portfolio_paper

    if is_portfolio_run(args.checkpoint):
        return run_portfolio_paper(args)
    if getattr(args, "symbols", None) is not None:
        return run_basket_paper(args)
    return run_paper(args)


def parse_symbols(text: str) -> list[str]:
    """The symbols of ``--symbols`` (comma-separated ccxt symbols), in order.

    :raises ConfigError: for an empty list or a symbol listed twice, naming it.
    """
    symbols = [s.strip() for s in text.split(",") if s.strip()]
    if not symbols:
        raise ConfigError(f"--symbols {text!r} lists no symbol; pass e.g. --symbols BTC/USDT:USDT,ETH/USDT:USDT")
    seen: set[str] = set()
    for symbol in symbols:
        if symbol in seen:
            raise ConfigError(f"--symbols lists {symbol!r} twice; list each symbol once")
        seen.add(symbol)
    return symbols


def basket_scalers(checkpoint: LoadedCheckpoint, symbols: list[str]) -> dict[str, FeatureScaler]:
    """Each symbol's feature scaler: its own from a universe checkpoint, else the checkpoint's one scaler.

    :raises ConfigError: naming a symbol the universe checkpoint has no scaler for, and the symbols it has.
    """
    if not (checkpoint.path / SCALERS).is_file():
        return dict.fromkeys(symbols, checkpoint.scaler)
    saved = SymbolScalers.load(checkpoint.path)
    by_name = dict(zip(saved.symbols, saved.scalers, strict=True))
    scalers: dict[str, FeatureScaler] = {}
    for symbol in symbols:
        scaler = by_name.get(symbol, by_name.get(symbol.split(":")[0]))
        if scaler is None:
            raise ConfigError(
                f"the checkpoint {checkpoint.path} has no scaler for symbol {symbol!r} (it was trained on"
                f" {', '.join(saved.symbols)}; {checkpoint.path / SCALERS}); trade only those symbols"
            )
        scalers[symbol] = scaler
    return scalers


def symbol_config(cfg: BotConfig, symbol: str) -> BotConfig:
    """``cfg`` with ``live.symbol`` set to ``symbol``."""
    return cfg.model_copy(update={"live": LiveConfig.model_validate({**cfg.live.model_dump(), "symbol": symbol})})


def open_brokers(
    stack: ExitStack, configs: dict[str, BotConfig], make: Callable[[BotConfig], Broker]
) -> dict[str, Broker]:
    """Every symbol's broker (``make(its config)``, closed with ``stack``), each with its market's rules loaded.

    :raises BrokerError: naming a symbol the exchange does not list (or an exchange that cannot be reached).
    """
    brokers: dict[str, Broker] = {}
    for symbol, cfg in configs.items():
        broker = make(cfg)
        stack.callback(broker.close)
        broker.probe()
        try:
            _ = broker.rules
        except BrokerError as e:
            raise BrokerError(f"--symbols {symbol!r}: {e}") from e
        brokers[symbol] = broker
    return brokers


def _symbol_trader(
    checkpoint: LoadedCheckpoint,
    cfg: BotConfig,
    scaler: FeatureScaler,
    broker: Broker,
    state: StateStore,
    args: argparse.Namespace,
) -> Trader:
    """One symbol's trader: its own observation builder (its scaler), policy (its recurrent state) and run tag."""
    market_space = checkpoint.model.observation_space["market"].shape  # type: ignore[index]
    builder = ObservationBuilder(cfg, scaler, checkpoint.manifest.get("schema_hash"), market_space)
    # the policy reads this symbol's trader's masks at each decision
    policy: Policy = plain_policy(checkpoint.model, checkpoint.vecnormalize, lambda: trader.action_masks())
    trader = Trader(cfg, broker, policy, builder, state, run_tag(args.checkpoint, cfg.live.symbol, cfg.live.timeframe))
    trader.snapshot_path = snapshot_path(Path(cfg.live.state_path), cfg.live.symbol)
    return trader


def run_basket_paper(
    args: argparse.Namespace,
    *,
    sleep: Callable[[float], None] | None = None,
    after_execute: Callable[[ExecutionPlan, list[OrderState]], None] | None = None,
    environ: dict[str, str] | None = None,
) -> int:
    """``python -m bot paper --symbols``: the flags of :func:`~bot.live.commands.run_paper` with ``args.symbols``.

    :return: 0 when the run ended normally (``--max-bars`` bars of every symbol).
    :raises ConfigError: bad ``--symbols`` (listed twice, no scaler, both ``--symbol`` and ``--symbols``), a
        ``env.mode: portfolio`` checkpoint; nothing is written then.
    :raises BrokerError: a symbol the exchange does not list; nothing is written then.
    :raises KillSwitchError: the account kill switch tripped; every symbol was flattened (exit code 2).
    """
    if args.symbol is not None:
        raise ConfigError("pass either --symbol or --symbols, not both")
    symbols = parse_symbols(args.symbols)
    checkpoint = load_paper_checkpoint(args.checkpoint)
    cfg = resolve_config(args, Path(args.checkpoint))
    if cfg.env.mode == "portfolio":
        raise ConfigError(
            f"checkpoint {checkpoint.path} was trained with env.mode portfolio (one joint action over its basket);"
            " the basket trades a single-symbol or env.mode universe checkpoint per symbol; bot paper trades a"
            " portfolio checkpoint with the portfolio trader (bot.live.portfolio_commands.run_portfolio_paper)"
        )
    for symbol in symbols:
        check_market_kind(cfg, symbol)
    scalers = basket_scalers(checkpoint, symbols)
    configs = {s: symbol_config(cfg, s) for s in symbols}
    state_path = Path(cfg.live.state_path)
    creds = None if args.dry_run else load_credentials(environ=environ)
    secrets = () if creds is None else tuple(re.escape(v) for v in (creds.api_key, creds.api_secret))
    wait = sleep if sleep is not None else time.sleep
    with ExitStack() as stack:
        # every market is checked before the state file exists: a bad symbol leaves nothing half-written
        brokers = open_brokers(stack, configs, lambda c: build_broker(c, creds, wait, 1.0 / len(configs)))
        state_path.parent.mkdir(parents=True, exist_ok=True)
        stack.enter_context(command_logging(cfg.logging, state_path.parent, "paper.log", redact_patterns=secrets))
        traders: list[Trader] = []
        for symbol in symbols:
            state = StateStore(state_path, symbol)
            stack.callback(state.close)
            trader = _symbol_trader(checkpoint, configs[symbol], scalers[symbol], brokers[symbol], state, args)
            trader.after_execute = after_execute
            traders.append(trader)
        basket = Basket(traders, wait)
        mode = "dry run" if args.dry_run else ("testnet" if cfg.live.testnet else "MAINNET")
        print(f"paper trading {', '.join(symbols)} {cfg.live.timeframe} ({mode}) with {checkpoint.path}")
        try:
            basket.run(args.max_bars, on_bar=lambda s, r: print(status_line(r, s), flush=True))
        finally:
            # every exit says what was done (kill switch, refused keys, outage given up, Ctrl-C)
            print_summaries(basket.summaries, state_path)
    return 0


def print_summaries(summaries: dict[str, RunSummary], state_path: Path) -> None:
    """Each symbol's summary line and kill switch, then where the state and account files are."""
    for symbol, summary in summaries.items():
        print(f"{symbol}: {summary_line(summary)}")
        if summary.kill_switch:
            print(f"{symbol}: kill switch: {summary.kill_switch}")
    print(f"state: {state_path} | accounts: {state_path}.<SYMBOL>.account.json")
