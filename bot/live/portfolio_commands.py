"""``python -m bot paper --checkpoint RUN`` with an ``env.mode: portfolio`` checkpoint: one portfolio trader over the
checkpoint's symbols (:mod:`bot.live.portfolio_trader`).

The symbols are the checkpoint's (its ``scalers.json``, in the model's order), as live markets: on a perpetual
model ``BTC/USDT`` trades ``BTC/USDT:USDT``. ``--symbols``, when given, must name the same symbols (in any order);
``--symbol`` and a recurrent policy (whose state the trader does not carry) are refused before anything is written.
``--dry-run`` fills on live candles in one simulated account of the model's costs (:mod:`bot.live.portfolio_dry_run`).
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from bot.config import BotConfig, load_config
from bot.data import SCALERS, SymbolScalers
from bot.errors import ConfigError
from bot.exchange import RetryPolicy
from bot.live.basket_commands import basket_scalers, open_brokers, parse_symbols, print_summaries, symbol_config
from bot.live.broker import Broker, ExecutionPlan, OrderState, run_tag
from bot.live.ccxt_broker import CcxtBroker, live_exchange
from bot.live.commands import check_market_kind, load_paper_checkpoint, resolve_config, status_line
from bot.live.credentials import Credentials, load_credentials
from bot.live.observation import ObservationBuilder
from bot.live.portfolio_account import AccountBroker
from bot.live.portfolio_dry_run import DryRunBasket, DryRunSymbolBroker
from bot.live.portfolio_trader import PortfolioBar, PortfolioSymbol, PortfolioTrader
from bot.live.state import StateStore
from bot.smartlog import command_logging
from bot.training import plain_policy


def is_portfolio_run(run_dir: str) -> bool:
    """Whether the run folder's ``config.yaml`` has ``env.mode: portfolio`` (False when it has none: the normal
    checkpoint loading then names what is missing)."""
    config = Path(run_dir) / "config.yaml"
    return config.is_file() and load_config(config).env.mode == "portfolio"


def live_symbol(trained: str, cfg: BotConfig) -> str:
    """The live market of a training symbol: ``BTC/USDT`` -> ``BTC/USDT:USDT`` on a perpetual model."""
    if cfg.portfolio.market == "spot" or ":" in trained:
        return trained
    return f"{trained}:{trained.split('/')[-1]}"


def portfolio_symbols(run_dir: Path, cfg: BotConfig, requested: str | None) -> list[str]:
    """The live symbols of a portfolio checkpoint, in the model's order.

    :param requested: ``--symbols`` (None: the checkpoint's).
    :raises ConfigError: when the checkpoint has no ``scalers.json``, or ``--symbols`` names other symbols (the
        message names the difference).
    """
    if not (run_dir / SCALERS).is_file():
        raise ConfigError(
            f"the portfolio checkpoint {run_dir} has no {SCALERS} (every symbol's scaler); retrain it with this version"
        )
    symbols = [live_symbol(s, cfg) for s in SymbolScalers.load(run_dir).symbols]
    if requested is None:
        return symbols
    given = parse_symbols(requested)
    bare = {s.split(":")[0]: s for s in symbols}
    missing = [s for s in symbols if s not in given and s.split(":")[0] not in given]
    extra = [s for s in given if s not in symbols and s.split(":")[0] not in bare]
    if missing or extra:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"not in the checkpoint {', '.join(extra)}"] if extra else []
        )
        raise ConfigError(
            f"--symbols {requested!r} differs from the portfolio checkpoint's symbols {', '.join(symbols)} ("
            f"{'; '.join(parts)}); a portfolio model trades exactly its basket: pass them all, or omit --symbols"
        )
    return symbols


def check_supported(args: argparse.Namespace, cfg: BotConfig) -> None:
    """:raises ConfigError: for what the live portfolio trader refuses: ``--symbol``, a recurrent policy."""
    if args.symbol is not None:
        raise ConfigError(
            f"--symbol {args.symbol!r} trades one symbol; the checkpoint {args.checkpoint} is an env.mode portfolio"
            " model that trades its whole basket: omit --symbol (or pass its symbols with --symbols)"
        )
    if cfg.training.algo == "recurrent_ppo":
        raise ConfigError(
            "training.algo='recurrent_ppo': the live portfolio trader does not carry a recurrent policy's state;"
            " paper-trade a ppo or maskable_ppo portfolio checkpoint"
        )


def _with_costs(cfg: BotConfig, trained: str) -> BotConfig:
    """``cfg`` with the portfolio section of the training symbol ``trained`` (its ``portfolio.assets`` entry)."""
    return cfg.model_copy(update={"portfolio": cfg.portfolio.for_symbol(trained)})


def _broker_factory(
    cfg: BotConfig,
    symbols: list[str],
    trained: dict[str, str],
    creds: Credentials | None,
    sleep: Callable[[float], None],
) -> Callable[[BotConfig], Broker]:
    """Each symbol's broker: an :class:`AccountBroker` on the account of ``creds``, or (``creds`` None, the dry run)
    a :class:`DryRunSymbolBroker` over one simulated account of the model's costs, reading keyless market data."""

    def retry(c: BotConfig) -> RetryPolicy:
        return RetryPolicy(c.live.max_retries, c.live.retry_backoff_s, sleep)

    if creds is not None:
        key, secret = creds.api_key, creds.api_secret
        return lambda c: AccountBroker(live_exchange(c.live, key, secret), c.live, c.portfolio, retry(c))
    basket = DryRunBasket(cfg.portfolio, [trained[s] for s in symbols])
    return lambda c: DryRunSymbolBroker(
        CcxtBroker(live_exchange(c.live), c.live, c.portfolio, retry(c)),
        basket,
        symbols.index(c.live.symbol),
        c.portfolio,
    )


def run_portfolio_paper(
    args: argparse.Namespace,
    *,
    sleep: Callable[[float], None] | None = None,
    after_execute: Callable[[ExecutionPlan, list[OrderState]], None] | None = None,
    environ: dict[str, str] | None = None,
) -> int:
    """``python -m bot paper`` with a portfolio checkpoint (the flags of :func:`~bot.live.commands.run_paper`).

    :return: 0 when the run ended normally (``--max-bars`` bars).
    :raises ConfigError: ``--symbol``, ``--symbols`` other than the checkpoint's, a recurrent model;
        nothing is written then.
    :raises BrokerError: a symbol the exchange does not list; nothing is written then.
    :raises KillSwitchError: the account kill switch tripped; every symbol was flattened (exit code 2).
    """
    run_dir = Path(args.checkpoint)
    cfg = load_config(run_dir / "config.yaml", args.overrides)
    check_supported(args, cfg)
    symbols = portfolio_symbols(run_dir, cfg, getattr(args, "symbols", None))
    for symbol in symbols:
        check_market_kind(cfg, symbol)
    # the live section is resolved once (flags, --config) for the first symbol; each symbol gets its copy
    cfg = resolve_config(argparse.Namespace(**{**vars(args), "symbol": symbols[0]}), run_dir)
    checkpoint = load_paper_checkpoint(args.checkpoint)
    scalers = basket_scalers(checkpoint, symbols)
    # each symbol trades with its own portfolio.assets entry (fees, leverage reserve), keyed by its training name
    trained = {live_symbol(t, cfg): t for t in SymbolScalers.load(run_dir).symbols}
    configs = {s: _with_costs(symbol_config(cfg, s), trained[s]) for s in symbols}
    state_path = Path(cfg.live.state_path)
    creds = None if args.dry_run else load_credentials(environ=environ)
    secrets = () if creds is None else tuple(re.escape(v) for v in (creds.api_key, creds.api_secret))
    wait = sleep if sleep is not None else time.sleep
    market_shape = checkpoint.model.observation_space["market"].shape  # type: ignore[index]
    with ExitStack() as stack:
        # every market is checked before the state file exists: a bad symbol leaves nothing half-written
        brokers = open_brokers(stack, configs, _broker_factory(cfg, symbols, trained, creds, wait))
        state_path.parent.mkdir(parents=True, exist_ok=True)
        stack.enter_context(command_logging(cfg.logging, state_path.parent, "paper.log", redact_patterns=secrets))
        parts = []
        for symbol in symbols:
            state = StateStore(state_path, symbol)
            stack.callback(state.close)
            builder = ObservationBuilder(
                configs[symbol], scalers[symbol], checkpoint.manifest.get("schema_hash"), market_shape[1:]
            )
            tag = run_tag(args.checkpoint, symbol, cfg.live.timeframe)
            parts.append(PortfolioSymbol(symbol, brokers[symbol], builder, state, tag))  # type: ignore[arg-type]
        # the policy reads the trader's masks at each decision
        policy = plain_policy(checkpoint.model, checkpoint.vecnormalize, lambda: trader.action_masks())
        trader = PortfolioTrader(cfg, parts, policy, wait, after_execute)
        mode = "dry run" if args.dry_run else ("testnet" if cfg.live.testnet else "MAINNET")
        print(f"paper trading the portfolio {', '.join(symbols)} {cfg.live.timeframe} ({mode}) with {checkpoint.path}")
        if cfg.portfolio.order_type == "limit":
            print("portfolio.order_type=limit: the live portfolio trader sends market orders instead")
        try:
            trader.run(args.max_bars, on_bar=_print_bar)
        finally:
            # every exit says what was done (kill switch, refused keys, outage given up, Ctrl-C)
            print_summaries(trader.summaries, state_path)
    return 0


def _print_bar(bar: PortfolioBar) -> None:
    for symbol, report in bar.reports.items():
        print(status_line(report, symbol), flush=True)
    weights = " ".join(f"{w:+.2f}" for w in bar.weights) or "held"
    print(f"account equity {bar.equity:.2f} | weights {weights} | {bar.status}", flush=True)
