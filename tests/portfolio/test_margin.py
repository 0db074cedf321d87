"""Liquidation price of linear positions."""

from __future__ import annotations

import pytest

from bot.portfolio import liquidation_price


def test_long_liquidation_price_solves_equity_equals_maintenance_margin() -> None:
    qty, entry, wallet, mm = 500.0, 100.0, 10_000.0, 0.005
    p = liquidation_price(qty, entry, wallet, mm)
    assert p == pytest.approx(40_000.0 / 497.5)
    assert wallet + qty * (p - entry) == pytest.approx(mm * qty * p)


def test_short_liquidation_price_lies_above_entry() -> None:
    qty, entry, wallet, mm = -500.0, 100.0, 10_000.0, 0.005
    p = liquidation_price(qty, entry, wallet, mm)
    assert p > entry
    assert wallet + qty * (p - entry) == pytest.approx(mm * abs(qty) * p)


def test_unleveraged_long_cannot_be_liquidated_above_zero() -> None:
    assert liquidation_price(100.0, 100.0, 10_000.0, 0.005) <= 0.0


def test_zero_quantity_is_rejected() -> None:
    with pytest.raises(ValueError, match="non-zero position quantity"):
        liquidation_price(0.0, 100.0, 10_000.0, 0.005)
