"""Liquidation price of an isolated linear position (perpetual margin arithmetic)."""

from __future__ import annotations


def liquidation_price(qty: float, entry_price: float, wallet: float, maintenance_margin: float) -> float:
    """Price at which equity equals the maintenance margin of a linear position.

    Equity at mark ``p`` is ``wallet + qty * (p - entry_price)``; the position is liquidated when equity falls to
    ``maintenance_margin * |qty| * p``. Solving for ``p`` gives
    ``p = (qty * entry_price - wallet) / (qty * (1 - mm * sign(qty)))``.

    :param qty: signed position quantity, non-zero.
    :param entry_price: average entry price.
    :param wallet: realised balance (initial cash + realised PnL - fees - funding).
    :param maintenance_margin: maintenance margin rate in [0, 1).
    :return: the liquidation price; for a long it may be <= 0, meaning the position cannot be liquidated.
    :raises ValueError: when ``qty`` is 0.
    """
    if qty == 0.0:
        raise ValueError("liquidation_price needs a non-zero position quantity, got qty=0.0")
    if qty > 0.0:
        return (qty * entry_price - wallet) / (qty * (1.0 - maintenance_margin))
    return (qty * entry_price - wallet) / (qty * (1.0 + maintenance_margin))
