"""A portfolio symbol's trade ledger (the net PnL its DBE's streaks count): a fill across flat, as the dry run
reports a bar's net change, closes the trade with its closing part only and opens the next with the rest."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bot.live.broker import OrderState
from bot.live.portfolio_symbol import PortfolioSymbol


def _symbol(position: float) -> PortfolioSymbol:
    """A symbol holding ``position`` at its last recorded bar, with an empty ledger (only the ledger is used; each
    booking continues from the position the previous one left)."""
    symbol = PortfolioSymbol.__new__(PortfolioSymbol)
    symbol.state = SimpleNamespace(last_position=lambda: (position, 0.0))  # type: ignore[assignment]
    symbol.trade_cash, symbol.closed_pnl, symbol._qty_booked = 0.0, None, None
    return symbol


def _fill(side: str, qty: float, price: float, fee: float) -> OrderState:
    return OrderState("dry-1-0", "", side, qty, qty, price, "closed", fee)  # type: ignore[arg-type]


def test_a_fill_across_flat_closes_the_trade_with_its_closing_part_only() -> None:
    symbol = _symbol(0.0)
    symbol._book([_fill("buy", 1.0, 100.0, 0.1)])  # long 1 at 100
    # sell 3 at 95: closes the long at a loss, opens a short of 2
    symbol._book([_fill("sell", 3.0, 95.0, 0.3)])
    assert symbol.closed_pnl == pytest.approx(-5.0 - 0.1 - 0.1)  # a loss, not the short's proceeds
    assert symbol.trade_cash == pytest.approx(2 * 95.0 - 0.2)
    symbol.closed_pnl = None
    symbol._book([_fill("buy", 2.0, 90.0, 0.2)])  # the short closed at 90: a win
    assert symbol.closed_pnl == pytest.approx(2 * 5.0 - 0.2 - 0.2)
    assert symbol.trade_cash == 0.0
