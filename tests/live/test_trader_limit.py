"""The paper-trading loop with ``portfolio.order_type: limit`` on the emulator: fills, expiry, re-posting, partial
fills, restarts with a resting order and with a fill made while no trader ran.

Offsets as in ``test_limit_orders``: a buy 0.01 % under the decision close always fills in the next bar of these
candles, one 1 % under it never does within a few bars.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bot.live.broker import ExecutionPlan, OrderState
from bot.live.reports import limit_fills_text
from tests.support.bybit_candles import make_candles
from tests.support.bybit_emulator import BybitEmulator
from tests.support.bybit_trading import FixedPolicy, make_trader

NEAR, FAR = 0.0001, 0.01
CANCEL = "/v5/order/cancel"


@pytest.fixture
def candles() -> pd.DataFrame:
    return make_candles(1200, seed=3)


def limit_trader(emu: BybitEmulator, candles: pd.DataFrame, state: Path, offset: float, **kwargs: Any) -> Any:
    portfolio = {"order_type": "limit", "limit_offset": offset, **kwargs.pop("portfolio", {})}
    return make_trader(emu, candles, state, FixedPolicy(2), portfolio=portfolio, max_daily_loss=0.5, **kwargs)


def exchange_orders(emu: BybitEmulator) -> list[Any]:
    with emu.lock:
        return [o for o in emu.account.orders if o.link_id]


def test_a_filled_limit_order_counts_once_with_the_maker_fee(
    emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path
) -> None:
    trader = limit_trader(emu, candles, tmp_path / "s.sqlite", NEAR)
    summary = trader.run(4)
    (order,) = exchange_orders(emu)  # filled at the second bar: the same target sends nothing more
    assert order.status == "Filled" and order.time_in_force == "PostOnly"
    (row,) = trader.state.orders()
    assert (row["order_type"], row["status"], row["filled"]) == ("limit", "closed", pytest.approx(order.qty))
    assert row["fee"] == pytest.approx(order.qty * order.price * 0.0002)
    assert summary.reports[-1].position_qty == pytest.approx(order.qty)
    assert (summary.limit_orders, summary.limit_fills) == (1, 1)
    last = summary.reports[-1]
    assert limit_fills_text(last.limit_orders, last.limit_fills) == " | limit fills 1/1 (100 %)"
    snapshot = json.loads((tmp_path / "s.sqlite.account.json").read_text())
    assert (snapshot["limit_orders"], snapshot["limit_fills"], snapshot["limit_fill_rate"]) == (1, 1, 1.0)


def test_unfilled_orders_expire_and_the_next_decision_posts_anew(
    emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path
) -> None:
    trader = limit_trader(emu, candles, tmp_path / "s.sqlite", FAR)
    summary = trader.run(4)
    orders = exchange_orders(emu)
    assert len(orders) == 4 and len({o.link_id for o in orders}) == 4
    # three expired after their bar; the last one is cancelled as the run ends: nothing rests unwatched
    assert [o.status for o in orders] == ["Cancelled"] * 4 and emu.count(CANCEL) == 4
    assert summary.reports[-1].position_qty == 0.0 and (summary.limit_orders, summary.limit_fills) == (4, 0)
    assert [r["status"] for r in trader.state.orders()] == ["canceled"] * 4


@pytest.mark.parametrize(("unfilled", "n_orders"), [("expire", 2), ("repost", 6)])
def test_between_decisions_an_unfilled_order_expires_or_is_reposted(
    emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path, unfilled: str, n_orders: int
) -> None:
    trader = limit_trader(
        emu, candles, tmp_path / "s.sqlite", FAR, decision_every=4, portfolio={"limit_unfilled": unfilled}
    )
    summary = trader.run(6)
    orders = exchange_orders(emu)
    assert len(orders) == n_orders and all(o.status == "Cancelled" for o in orders)
    bars = [r.open_ms for r in summary.reports]
    posted_at = [int(o.link_id.split("-")[1], 16) * 1000 for o in orders]
    # expire: only the decisions (bars 0 and 4) post; repost: every bar, each at its own close and client id
    assert posted_at == ([bars[0], bars[4]] if unfilled == "expire" else bars)
    closes = {r.open_ms: r.close for r in summary.reports}
    for order, bar in zip(orders, posted_at, strict=True):
        assert order.price == pytest.approx(math.floor(closes[bar] * (1 - FAR) * 10) / 10)


def test_a_partial_fill_is_kept_and_the_rest_is_asked_for_again(
    emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path
) -> None:
    emu.set_limit_fill_fraction(0.4)
    trader = limit_trader(emu, candles, tmp_path / "s.sqlite", NEAR)
    summary = trader.run(2)
    first, second = exchange_orders(emu)
    part = math.floor(first.qty * 0.4 * 1000) / 1000
    assert first.status == "Cancelled" and first.filled == pytest.approx(part)
    assert summary.reports[-1].position_qty == pytest.approx(part)
    # the exposure was not reached: the same target asks for the rest at the next decision
    assert second.qty == pytest.approx(first.qty - part, abs=0.002)
    row = {r["client_id"]: r for r in trader.state.orders()}[first.link_id]
    assert (row["status"], row["filled"]) == ("canceled", pytest.approx(part))


class CrashError(Exception):
    pass


def crash_after_orders(plan: ExecutionPlan, orders: list[OrderState]) -> None:
    if orders:
        raise CrashError  # a crash between the orders going out and the bar's record


@pytest.mark.parametrize("recorded", [False, True], ids=["crash-before-record", "crash-after-record"])
def test_a_restart_cancels_a_stale_resting_order_and_places_no_duplicate(
    emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path, recorded: bool
) -> None:
    state = tmp_path / "s.sqlite"
    first = limit_trader(emu, candles, state, FAR)
    if recorded:
        # the bar is recorded with its order resting; the process dies before the next close ends it
        first.limits.end_all = lambda: None
        first.run(1)
    else:
        first.after_execute = crash_after_orders
        with pytest.raises(CrashError):
            first.run(1)
    first.state.close()
    emu.advance(2)  # the bar it rested through closed while no trader ran
    second = limit_trader(emu, candles, state, FAR)
    second.start()
    (order,) = exchange_orders(emu)
    assert order.status == "Cancelled" and emu.count(CANCEL) == 1
    assert [r["status"] for r in second.state.orders()] == ["canceled"]
    second.run(1)
    links = [o.link_id for o in exchange_orders(emu)]
    assert len(links) == 2 == len(set(links))


def test_a_restart_in_the_same_bar_adopts_the_resting_order(
    emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path
) -> None:
    state = tmp_path / "s.sqlite"
    first = limit_trader(emu, candles, state, NEAR, after_execute=crash_after_orders)
    with pytest.raises(CrashError):
        first.run(1)
    first.state.close()
    second = limit_trader(emu, candles, state, NEAR)
    summary = second.run(2)
    (order,) = exchange_orders(emu)  # adopted at the redo of its bar, filled in the next: never sent twice
    assert order.status == "Filled" and emu.count(CANCEL) == 0
    assert summary.reports[-1].position_qty == pytest.approx(order.qty)


def test_a_fill_made_while_down_is_adopted_and_settles_the_plan(
    emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path
) -> None:
    state = tmp_path / "s.sqlite"
    first = limit_trader(emu, candles, state, NEAR, after_execute=crash_after_orders)
    with pytest.raises(CrashError):
        first.run(1)
    first.state.close()
    emu.advance(2)
    (order,) = exchange_orders(emu)
    assert order.status == "Filled"
    second = limit_trader(emu, candles, state, NEAR)
    summary = second.run(2)
    assert [(f["client_id"], f["qty"]) for f in second.state.fills()] == [(order.link_id, pytest.approx(order.qty))]
    # the plan counts as done: the same target sends nothing more
    assert len(exchange_orders(emu)) == 1 and emu.count(CANCEL) == 0
    assert summary.reports[-1].position_qty == pytest.approx(order.qty)
