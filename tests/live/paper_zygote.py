"""Forks real paper-trader processes for the kill tests; each one SIGKILLs itself at a named point of the order path.

Run as ``python tests/live/paper_zygote.py URL STATE`` (repository root on ``PYTHONPATH``). It imports the trader
once, then reads one JSON command per line from stdin, ``{"point": "create:after", "hit": 2, "max_bars": 4}``, and
forks a child that runs a :class:`bot.live.Trader` (real ccxt against the emulator at URL, state file STATE) until
the ``hit``-th time it reaches ``point``, where it sends itself SIGKILL (kill -9: no cleanup, no flush, no atexit), or
until ``max_bars`` bars were handled. Forking from an imported parent keeps 20 kills well under a minute. For each
command the zygote prints ``pid <pid>`` once the child runs and ``exit <code>`` (``-9`` = killed) once it is gone.

Points: ``create:before`` / ``create:after`` (around the HTTP order create), ``lookup:after`` (the order looked up
after its create), ``execute:after`` (a bar's orders all sent), ``drain:fill`` (an exchange stop-loss fill drained),
``record:before`` / ``record:after`` (the bar's transaction), ``history:after`` (start-up reconciliation read the
exchange's history), ``reconcile:record`` (inside the reconciliation's writes) and, for post-only limit orders,
``cancel:before`` / ``cancel:after`` (around the HTTP cancel of an order that rested through its bar). A command's
``portfolio`` (e.g. ``{"order_type": "limit"}``) overrides the traded model's portfolio section.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from tests.support.bybit_candles import make_candles
from tests.support.bybit_trading import build_trader

CANDLES = make_candles(1200, seed=3)


class AlternatingPolicy:
    """Long, short, long ...: every bar after the first reverses the position (a reduce-only close, then an open)."""

    def __init__(self) -> None:
        self.calls = 0

    def act(self, obs: Any, row: int) -> Any:
        self.calls += 1
        return 2 if self.calls % 2 else 0

    def reset(self) -> None:
        """Nothing to forget."""


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _wrap(obj: Any, name: str, before: Callable[[], None] | None, after: Callable[[Any], None] | None) -> None:
    original = getattr(obj, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if before is not None:
            before()
        result = original(*args, **kwargs)
        if after is not None:
            after(result)
        return result

    setattr(obj, name, wrapper)


def arm(trader: Any, point: str, hit: int) -> None:
    """Make ``trader`` kill its process the ``hit``-th time it reaches ``point``."""
    count = 0

    def reached(condition: bool = True) -> None:
        nonlocal count
        if condition:
            count += 1
            if count == hit:
                _die()

    broker, state = trader.broker, trader.state
    hooks: dict[str, tuple[Any, str, Callable[[], None] | None, Callable[[Any], None] | None]] = {
        "create:before": (broker.exchange, "create_order", reached, None),
        "create:after": (broker.exchange, "create_order", None, lambda _: reached()),
        "lookup:after": (broker, "_lookup_order", None, lambda _: reached()),
        "drain:fill": (broker, "drain_fills", None, lambda fills: reached(bool(fills))),
        "record:before": (state, "record_bar", reached, None),
        "record:after": (state, "record_bar", None, lambda _: reached()),
        "history:after": (broker, "history", None, lambda _: reached()),
        "reconcile:record": (state, "record_orders", None, lambda _: reached()),
        "cancel:before": (broker.exchange, "cancel_order", reached, None),
        "cancel:after": (broker.exchange, "cancel_order", None, lambda _: reached()),
    }
    if point == "execute:after":
        trader.after_execute = lambda plan, orders: reached()
    elif point in hooks:
        _wrap(*hooks[point])
    elif point:
        raise ValueError(f"unknown fault point {point!r}; known: execute:after, {', '.join(hooks)}")


def run_child(url: str, state: str, command: dict[str, Any]) -> None:
    """The body of one forked trader process."""
    # polls the emulated clock briskly instead of sleeping until the next bar close: the test moves that clock
    trader = build_trader(
        url,
        ("testkey", "testsecret"),
        CANDLES,
        state,
        AlternatingPolicy(),
        lambda s: time.sleep(min(s, 0.01)),
        portfolio=command.get("portfolio"),
    )
    # build_trader's 0.5 s client timeout suits fault tests; a busy machine must not turn into retries here
    trader.broker.exchange.timeout = 10_000
    arm(trader, command.get("point", ""), int(command.get("hit", 1)))
    trader.run(int(command.get("max_bars", 1)))
    trader.state.close()


def main() -> None:
    url, state = sys.argv[1], sys.argv[2]
    for line in sys.stdin:
        command = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                run_child(url, state, command)
            except BaseException:  # report whatever ended the child, then leave without cleanup
                traceback.print_exc()
                code = 3
            sys.stdout.flush()
            os._exit(code)
        print("pid", pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print("exit", os.waitstatus_to_exitcode(status), flush=True)


if __name__ == "__main__":
    main()
