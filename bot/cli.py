"""`python -m bot <command>`: argument parsing for every command; each handler lives in its own layer.

The handlers are imported lazily so that ``python -m bot --help`` and light commands stay fast (torch is heavy).
Every command takes ``--config`` and repeated ``--set dotted.key=value`` overrides.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from bot.config import TIMEFRAME_MS
from bot.errors import BotError

#: command -> "module:function"; each function takes the parsed args and returns an exit code.
_HANDLERS: dict[str, str] = {
    "train": "bot.training.commands:run_train",
    "evaluate": "bot.evaluation.commands:run_evaluate",
    "paper": "bot.live.basket_commands:paper_command",
    "serve": "bot.api.commands:run_serve",
    "fetch-data": "bot.data.commands:run_fetch_data",
    "check-lookahead": "bot.data.commands:run_check_lookahead",
    "tune": "bot.tune.commands:run_tune",
}


def _add_config_args(parser: argparse.ArgumentParser, default_config: str | None = "config/demo.yaml") -> None:
    parser.add_argument("--config", default=default_config, help=f"YAML config (default: {default_config})")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set training.n_workers=4 (repeatable)",
    )


def _workers(value: str) -> int | str:
    """``--workers``: a whole number or ``auto`` (the config checks the range and names the key)."""
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--workers must be a whole number >= 1 or auto, got {value!r}") from None


def _train_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("train", help="train agents with parallel worker processes")
    _add_config_args(p)
    p.add_argument("--checkpoint-dir", help="parent folder of run folders (training.checkpoint_dir)")
    p.add_argument(
        "--algo", choices=["ppo", "ddqn", "maskable_ppo", "recurrent_ppo", "rf", "gbm"], help="training.algo"
    )
    p.add_argument(
        "--workers", type=_workers, help="worker processes, 1 = in-process, auto = per machine (training.n_workers)"
    )
    p.add_argument("--envs-per-worker", type=int, help="envs per worker with --workers N (training.n_envs_per_worker)")
    p.add_argument("--timesteps", type=int, help="total env steps (training.total_timesteps)")
    p.add_argument("--resume", nargs="?", const="latest", metavar="RUN_DIR", help="continue a run (default: newest)")
    p.add_argument("--seed", type=int, help="master seed")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="training.device")
    p.add_argument("--events-jsonl", help=argparse.SUPPRESS)  # progress events for the control API's job runner
    p.add_argument("--events-heartbeat-s", type=float, help=argparse.SUPPRESS)  # its heartbeat, from its stall timeout
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs only)")


def _evaluate_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("evaluate", help="out-of-sample backtest with baselines and a report")
    _add_config_args(p, default_config=None)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--checkpoint", metavar="RUN_DIR", help="run folder written by `bot train`")
    target.add_argument("--ensemble", nargs="+", metavar="RUN_DIR", help="runs voting together (majority/mean target)")
    target.add_argument(
        "--compare", nargs="+", metavar="RUN_DIR", help="runs of any algorithm side by side on the same bars"
    )
    p.add_argument("--which", default="best", help="best | latest | a checkpoint step number")
    p.add_argument("--split", default="test", choices=["train", "validation", "test"])
    p.add_argument("--out", help="report folder (default RUN_DIR/eval_<split>)")
    p.add_argument("--fees-off", action="store_true", help="evaluate with zero fees and slippage")
    p.add_argument("--cv-folds", type=int, default=0, help="walk-forward: train and test on K folds")
    p.add_argument("--seeds", type=int, default=1, help="repeat walk-forward training over S seeds")


def _paper_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("paper", help="paper-trade a checkpoint on the Bybit testnet (or dry run)")
    _add_config_args(p, default_config=None)
    p.add_argument("--checkpoint", required=True, metavar="RUN_DIR", help="run folder written by `bot train`")
    p.add_argument("--symbol", help="ccxt symbol, e.g. BTC/USDT:USDT (live.symbol)")
    p.add_argument(
        "--symbols", help="several ccxt symbols in one process and state file, e.g. BTC/USDT:USDT,ETH/USDT:USDT"
    )
    p.add_argument("--timeframe", choices=list(TIMEFRAME_MS), help="bar timeframe (live.timeframe)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--testnet", action="store_true", help="orders on the Bybit testnet (default)")
    mode.add_argument("--dry-run", action="store_true", help="fill locally on live candles, no orders sent")
    p.add_argument("--max-bars", type=int, help="stop after N bars")
    p.add_argument("--exchange-url", help="override the exchange base URL (live.exchange_url)")
    p.add_argument("--state", help="SQLite state file (live.state_path)")


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="training-control API and dashboard")
    _add_config_args(p, default_config=None)
    p.add_argument("--host", help="bind address (api.host, loopback by default)")
    p.add_argument("--port", type=int, help="api.port")
    p.add_argument("--db", help="SQLite job store (api.db_path)")


def _fetch_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("fetch-data", help="download OHLCV candles through ccxt into Parquet")
    _add_config_args(p, default_config=None)
    p.add_argument("--exchange", default="bybit", help="ccxt exchange id")
    p.add_argument("--symbol", required=True, help="ccxt symbol, e.g. BTC/USDT")
    p.add_argument("--timeframe", default="5m")
    p.add_argument("--since", required=True, help="ISO date/time of the first bar (UTC)")
    p.add_argument("--until", help="ISO date/time; default now")
    p.add_argument("--testnet", action="store_true", help="use the exchange's sandbox")
    p.add_argument("--out-dir", default="data", help="folder for the Parquet files")
    p.add_argument("--exchange-url", help=argparse.SUPPRESS)  # loopback server in tests


def _lookahead_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("check-lookahead", help="prove every feature is computable without future data")
    _add_config_args(p)
    p.add_argument("--cut-points", type=int, default=20, help="number of truncation points to test")


def _tune_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("tune", help="hyperparameter search / PBT / seed retraining on Ray Tune (docs/TUNING.md)")
    _add_config_args(p)
    p.add_argument("--space", required=True, help="search-space file, e.g. config/tune/ppo.yaml")
    p.add_argument("--trials", type=int, default=8, help="configurations sampled (x the grid keys)")
    p.add_argument("--scheduler", choices=["fifo", "asha", "pbt"], default="asha")
    p.add_argument("--search", choices=["random", "optuna"], default="random")
    p.add_argument("--metric", default="sharpe", help="validation metric to optimise (net of costs)")
    p.add_argument("--mode", choices=["max", "min"], default="max")
    p.add_argument("--address", help="Ray cluster: auto or HOST:PORT (default: start Ray on this machine)")
    p.add_argument("--cpus-per-trial", type=float, help="CPUs per trial (default 1 + training.n_workers)")
    p.add_argument("--gpus-per-trial", type=float, default=0.0)
    p.add_argument("--max-failures", type=int, default=2, help="restarts of a failed trial from its checkpoint")
    p.add_argument("--perturbation-interval", type=int, default=1, help="PBT: validations between exploits")
    p.add_argument("--pbt-synch", action="store_true",
                   help="PBT: synchronous (every trial waits at each exploit step; a trial failing for good stalls it)")
    p.add_argument("--max-concurrent", type=int, help="trials run at once (default: as many as the CPUs allow)")
    p.add_argument("--name", help="experiment name (folder under --storage)")
    p.add_argument("--storage", default="tune_runs", help="parent folder of experiments")
    p.add_argument("--resume", action="store_true", help="continue the interrupted experiment --name")
    p.add_argument("--seeds", type=int, default=1, help="retrain the top K configurations over S seeds")
    p.add_argument("--top-k", type=int, default=1, help="configurations retrained by --seeds")
    p.add_argument("--walk-forward", type=int, metavar="K", help="score each trial by its mean over K folds")
    p.add_argument("--events-jsonl", help=argparse.SUPPRESS)  # trial events for the control API's job runner
    p.add_argument("--events-heartbeat-s", type=float, help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m bot`` parser: one sub-command per entry in ``_HANDLERS``, each with its own flags."""
    parser = argparse.ArgumentParser(prog="bot", description="Multi-process RL trading bot.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _train_parser, _evaluate_parser, _paper_parser, _serve_parser, _fetch_parser, _lookahead_parser, _tune_parser
    ):
        add(sub)
    return parser


def _resolve(command: str) -> Callable[[argparse.Namespace], int]:
    module_name, func_name = _HANDLERS[command].split(":")
    handler: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(module_name), func_name)
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command; errors of the bot print as one clear line and exit 2."""
    args = build_parser().parse_args(argv)
    try:
        return _resolve(args.command)(args)
    except BotError as e:
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
