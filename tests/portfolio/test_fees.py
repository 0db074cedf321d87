"""Slippage, fee and lot-step arithmetic, checked by hand."""

from __future__ import annotations

import pytest

from bot.config import PortfolioConfig
from bot.portfolio import CostModel, floor_to_step


def test_slippage_is_bps_of_price_plus_share_of_range() -> None:
    costs = CostModel(PortfolioConfig(slippage_bps=10.0, slippage_range_frac=0.1))
    # 10 bps of 100 = 0.1, plus 10% of the 4.0 range = 0.4
    assert costs.slippage(100.0, 102.0, 98.0) == pytest.approx(0.5)


def test_fill_price_goes_against_the_trader_and_never_below_zero() -> None:
    costs = CostModel(PortfolioConfig())
    assert costs.fill_price(100.0, 1, 0.5) == 100.5
    assert costs.fill_price(100.0, -1, 0.5) == 99.5
    assert costs.fill_price(0.3, -1, 0.5) == 0.0


def test_fee_is_taker_fee_on_notional_for_either_sign() -> None:
    costs = CostModel(PortfolioConfig(taker_fee=0.001))
    assert costs.fee(2.0, 100.0) == pytest.approx(0.2)
    assert costs.fee(-2.0, 100.0) == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("qty", "step", "expected"),
    [
        (0.3, 0.1, 0.3),  # 0.3 / 0.1 = 2.9999999999999996 in floats: must still give 3 lots
        (0.29999, 0.1, 0.2),
        (-0.35, 0.1, -0.3),  # toward zero for shorts
        (99.5024875, 0.001, 99.502),
        (0.0, 0.001, 0.0),
        (7.0, 5.0, 5.0),
    ],
)
def test_floor_to_step_rounds_toward_zero(qty: float, step: float, expected: float) -> None:
    assert floor_to_step(qty, step) == pytest.approx(expected, abs=1e-12)
