"""Account statistics tracked across bars and the kill-switch rules."""

from __future__ import annotations

import pytest

from bot.live.broker import AccountState
from bot.live.risk import DAY_MS, AccountTracker
from tests.support.bybit_trading import small_config


def account(equity: float, qty: float, mark: float = 100.0) -> AccountState:
    return AccountState(equity, equity, qty, mark, 0.0, mark)


def test_time_in_position_drawdown_and_closed_trade_pnl() -> None:
    t = AccountTracker()
    view, pnl = t.update(account(1000.0, 0.0), 0)
    assert (view.bars_in_position, view.drawdown, pnl, view.initial_equity) == (0, 0.0, None, 1000.0)
    t.update(account(1000.0, 5.0), 300_000)
    view, _ = t.update(account(1100.0, 5.0), 600_000)
    assert view.bars_in_position == 2 and view.exposure == pytest.approx(5 * 100 / 1100)
    view, pnl = t.update(account(990.0, -5.0), 900_000)  # reversal: the long closed, a short opened
    assert pnl == pytest.approx(-10.0) and view.bars_in_position == 1
    assert view.drawdown == pytest.approx(1 - 990 / 1100)
    restored = AccountTracker.from_dict(t.to_dict())
    assert restored == t


def test_kill_reasons() -> None:
    live = small_config(max_daily_loss=0.05, max_position_notional=1_000.0).live
    t = AccountTracker()
    t.update(account(1000.0, 0.0), DAY_MS)
    assert t.kill_reason(account(960.0, 0.0), live) == ""
    assert "daily loss 6.00%" in t.kill_reason(account(940.0, 0.0), live)
    assert "position notional 2000.00" in t.kill_reason(account(1000.0, 20.0), live)
    t.update(account(900.0, 0.0), 2 * DAY_MS)  # a new UTC day starts from the equity seen then
    assert t.kill_reason(account(900.0, 0.0), live) == ""
