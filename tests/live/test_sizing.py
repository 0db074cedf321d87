"""Target exposure -> order legs, with the PortfolioManager's rebalance rule and the exchange's minimums."""

from __future__ import annotations

import pytest

from bot.live.broker import ExecutionPlan, MarketRules
from bot.live.sizing import SizingInputs, plan_legs, protection_prices

PERP = MarketRules("BTC/USDT:USDT", False, 0.001, 0.001, 5.0, 0.1, "BTC", "USDT")
SPOT = MarketRules("BTC/USDT", True, 0.000001, 0.000048, 1.0, 0.01, "BTC", "USDT")


def plan(target: float, size: float = 1.0, sl: float = 0.02, tp: float = 0.04) -> ExecutionPlan:
    return ExecutionPlan(0, target, size, sl, tp, 20_000.0, "tag-1")


def inputs(qty: float = 0.0, last: float = 0.0, equity: float = 10_000.0, cap: float = 1e9) -> SizingInputs:
    return SizingInputs(equity, qty, 1.0, cap, last)


def test_open_long_rounds_down_and_attaches_sl_tp() -> None:
    (leg,) = plan_legs(plan(1.0), PERP, inputs())
    assert (leg.client_id, leg.side, leg.qty, leg.reduce_only) == ("tag-1-0", "buy", 0.5, False)
    assert leg.stop_loss == pytest.approx(19_600.0) and leg.take_profit == pytest.approx(20_800.0)


def test_reversal_is_reduce_only_close_then_open() -> None:
    close, open_ = plan_legs(plan(-1.0), PERP, inputs(qty=0.5, last=1.0))
    assert (close.side, close.qty, close.reduce_only) == ("sell", 0.5, True)
    assert (open_.client_id, open_.side, open_.qty, open_.reduce_only) == ("tag-1-1", "sell", 0.5, False)
    assert open_.stop_loss == pytest.approx(20_400.0)


def test_reduce_and_flat() -> None:
    (leg,) = plan_legs(plan(1.0, size=0.5), PERP, inputs(qty=0.5, last=1.0))
    assert (leg.side, leg.qty, leg.reduce_only) == ("sell", 0.25, True)
    (flat,) = plan_legs(plan(0.0), PERP, inputs(qty=0.5, last=1.0))
    assert (flat.qty, flat.reduce_only) == (0.5, True)


def test_unchanged_request_never_trades_on_equity_drift() -> None:
    assert plan_legs(plan(1.0), PERP, inputs(qty=0.4, last=1.0)) == []


def test_flat_account_re_enters_after_a_stop() -> None:
    (leg,) = plan_legs(plan(1.0), PERP, inputs(qty=0.0, last=1.0))
    assert leg.qty == 0.5


def test_below_min_notional_is_skipped_and_cap_applies() -> None:
    assert plan_legs(plan(1.0), PERP, inputs(equity=3.0)) == []
    (leg,) = plan_legs(plan(1.0), PERP, inputs(cap=2_000.0))
    assert leg.qty == 0.1


def test_spot_is_long_only_without_reduce_only_or_stops() -> None:
    assert plan_legs(plan(-1.0), SPOT, inputs()) == []
    (leg,) = plan_legs(plan(1.0), SPOT, inputs())
    assert (leg.side, leg.reduce_only, leg.stop_loss) == ("buy", False, None)
    (sell,) = plan_legs(plan(0.0), SPOT, inputs(qty=0.5, last=1.0))
    assert (sell.side, sell.qty, sell.reduce_only) == ("sell", 0.5, False)


def test_protection_prices_disabled_and_short() -> None:
    assert protection_prices(plan(1.0, sl=0.0, tp=0.0), PERP, True) == (None, None)
    assert protection_prices(plan(-1.0), PERP, False) == (pytest.approx(20_400.0), pytest.approx(19_200.0))
