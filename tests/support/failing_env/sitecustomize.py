"""Loaded by every Python process of a test run whose PYTHONPATH starts with this folder (main, forkserver, workers).

Fault hooks for real trainer processes, each enabled by an environment variable (see below).

When ``BOT_TEST_RAISE_AT_STEP=k`` is set, the k-th ``TradingEnv.step`` of each env in worker ``BOT_TEST_RAISE_WORKER``
(default 1) raises ``RuntimeError("planted env failure ...")``: the e2e test checks that training then exits non-zero
with this traceback instead of hanging.
"""

from __future__ import annotations

import os
from typing import Any

_RAISE_AT = os.environ.get("BOT_TEST_RAISE_AT_STEP")

if _RAISE_AT:
    from bot.env.trading_env import TradingEnv

    _original_step = TradingEnv.step
    _raise_at = int(_RAISE_AT)
    _worker = int(os.environ.get("BOT_TEST_RAISE_WORKER", "1"))

    def _failing_step(self: TradingEnv, action: Any) -> Any:
        count = getattr(self, "_test_steps", 0) + 1
        self._test_steps = count  # type: ignore[attr-defined]
        if self.worker_id == _worker and count == _raise_at:
            raise RuntimeError(f"planted env failure at step {count} in worker {self.worker_id}")
        return _original_step(self, action)

    TradingEnv.step = _failing_step  # type: ignore[method-assign]

# BOT_TEST_HANG_AT_STARTUP=<marker file>: worker 1 touches the marker once its envs are built, then hangs for ever
# (a worker stuck in start-up). BOT_TEST_SLOW_VALIDATION=<marker file>: the validation env (worker_id -1) touches the
# marker at its first step and takes 50 ms per step, so a signal sent then lands inside the validation.
_HANG_AT_STARTUP = os.environ.get("BOT_TEST_HANG_AT_STARTUP")
_SLOW_VALIDATION = os.environ.get("BOT_TEST_SLOW_VALIDATION")

if _HANG_AT_STARTUP or _SLOW_VALIDATION:
    import time
    from pathlib import Path

    from bot.env.trading_env import TradingEnv

    _plain_init = TradingEnv.__init__
    _plain_step = TradingEnv.step

    def _hanging_init(self: TradingEnv, *args: Any, **kwargs: Any) -> None:
        _plain_init(self, *args, **kwargs)
        if _HANG_AT_STARTUP and self.worker_id == 1:
            Path(_HANG_AT_STARTUP).touch()
            while True:
                time.sleep(1)

    def _slow_step(self: TradingEnv, action: Any) -> Any:
        if _SLOW_VALIDATION and self.worker_id == -1:
            Path(_SLOW_VALIDATION).touch()
            time.sleep(0.05)
        return _plain_step(self, action)

    TradingEnv.__init__ = _hanging_init  # type: ignore[method-assign]
    TradingEnv.step = _slow_step  # type: ignore[method-assign]

# BOT_TEST_SLOW_WORKER0_START=<seconds>: worker 0 waits that long before its worker_main sets SIGINT/SIGTERM to
# ignored, so a SIGTERM to the process group then kills it (a worker killed by the cancel itself).
_SLOW_WORKER0 = os.environ.get("BOT_TEST_SLOW_WORKER0_START")

if _SLOW_WORKER0:
    import time

    import bot.training.vec_env as _vec_env
    import bot.training.worker as _worker

    _plain_worker_main = _worker.worker_main

    def _slow_worker_main(*args: Any, **kwargs: Any) -> None:
        if args[3] == 0:  # worker_id
            time.sleep(float(_SLOW_WORKER0))
        _plain_worker_main(*args, **kwargs)

    # the parent starts workers with vec_env's reference; pickled by name, it resolves to this module in the child
    _worker.worker_main = _vec_env.worker_main = _slow_worker_main  # type: ignore[assignment]
