"""Loaded by every Python process of a test run whose PYTHONPATH starts with this folder (main, forkserver, workers).

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
