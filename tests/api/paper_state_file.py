"""A dry-run paper trader state file written by ``bot.live.state.StateStore`` itself (the writer the paper trader
uses), so that a change of its schema breaks the API's reader tests instead of the dashboard."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

from bot.live.broker import AccountState, Candle, OrderState
from bot.live.state import BarRecord, StateStore

BAR_MS = 300_000  # 5m bars
N_BARS = 40


def _snapshot(bar_ms: int, account: AccountState, bars: int, kill: str) -> dict[str, object]:
    # the columns of account_snapshots, as the trader's account_snapshot() fills them
    return {"time_ms": bar_ms, "mode": "dry_run", "symbol": "BTC/USDT:USDT", "equity": account.equity,
            "cash": account.cash, "position_qty": account.position_qty, "entry_price": account.entry_price,
            "unrealized_pnl": account.unrealized_pnl, "mark_price": account.mark_price, "day_start_equity": 10_000.0,
            "daily_pnl": account.equity - 10_000.0, "pnl_total": account.equity - 10_000.0, "bars_processed": bars,
            "kill_switch": kill or None}


def _candle(open_ms: int, i: int) -> Candle:
    # a rising market with a spike every 7th bar and every 5th bar red, so the chart has candles of both colours
    close = 50_000.0 + 40.0 * i + (120.0 if i % 7 == 0 else 0.0)
    open_ = close + 60.0 if i % 5 == 0 else close - 40.0
    return Candle(open_ms, open_, max(open_, close) + 25.0, min(open_, close) - 25.0, close, 3.0 + i % 4)


def write_dry_run_state(path: Path, kill_on_last: str = "", updated_at: float | None = None,
                        with_candles: bool = True) -> Path:
    """``N_BARS`` bars of a dry run from 1 h before now: a long bought at bar 10, sold at bar 30, long again at 35
    with a stop-loss and a take-profit; the last snapshot carries ``kill_on_last`` as its kill-switch reason.
    ``with_candles=False`` records the closes only, as a trader before the candle columns did."""
    store = StateStore(path)
    start_ms = (int(time.time() * 1000) // BAR_MS - N_BARS) * BAR_MS
    qty, entry = 0.0, 0.0
    try:
        for i in range(N_BARS):
            open_ms = start_ms + i * BAR_MS
            candle = _candle(open_ms, i)
            close = candle.close
            orders: list[OrderState] = []
            if i in (10, 30, 35):
                side = "sell" if i == 30 else "buy"
                orders.append(OrderState(client_id=f"bot-{i}", order_id=f"x{i}", side=side, qty=0.1, filled=0.1,
                                         average_price=close, status="closed", fee=close * 0.1 * 0.00055))
                qty, entry = (0.0, 0.0) if side == "sell" else (0.1, close)
            stops = (entry * 0.98, entry * 1.05) if qty else (0.0, 0.0)
            account = AccountState(equity=10_000.0 + qty * (close - entry) + i, cash=10_000.0 + i, position_qty=qty,
                                   entry_price=entry, unrealized_pnl=qty * (close - entry), mark_price=close,
                                   stop_loss=stops[0], take_profit=stops[1])
            kill = kill_on_last if i == N_BARS - 1 else ""
            bar = BarRecord(open_ms=open_ms, status="traded" if orders else "held", action="long" if qty else "flat",
                            target_exposure=1.0 if qty else 0.0, requested_exposure=1.0 if qty else 0.0, close=close)
            store.record_bar(bar, orders, account, _snapshot(open_ms, account, i + 1, kill), {"last_bar": open_ms},
                             candle=candle if with_candles else None)
    finally:
        store.close()
    if updated_at is not None:  # an old run: age its snapshots
        with closing(sqlite3.connect(path)) as conn, conn:
            conn.execute("UPDATE account_snapshots SET updated_at = ?", (updated_at,))
    return path
