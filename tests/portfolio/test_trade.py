"""The trade record: the fill path's fast builder makes the same frozen Trade as its constructor."""

from __future__ import annotations

import dataclasses

import pytest

from bot.portfolio import Trade
from bot.portfolio.trade import new_trade

_ARGS = (1_000, 2_000, "short", 0.5, 101.25, 99.5, 0.75, 0.125, "take_profit", 4)


def test_new_trade_equals_the_constructor() -> None:
    built = new_trade(*_ARGS)  # type: ignore[arg-type]
    assert type(built) is Trade
    assert built == Trade(*_ARGS)  # type: ignore[arg-type]
    assert dataclasses.astuple(built) == _ARGS


def test_new_trade_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        new_trade(*_ARGS).pnl = 1.0  # type: ignore[arg-type, misc]
