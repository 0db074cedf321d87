"""Execution-cost arithmetic: slippage against the trader, taker fees and lot-step rounding.

All functions take and return plain Python floats: they run inside the env's step loop whenever an order fills.
"""

from __future__ import annotations

from bot.config import PortfolioConfig

#: Tolerance, in lots, that keeps ``0.3 / 0.1 = 2.9999999999999996`` from rounding down to 2 lots.
LOT_EPS = 1e-9


def floor_to_step(qty: float, step: float) -> float:
    """Round a quantity toward zero to a whole number of ``step`` (the exchange's lot step).

    :param qty: signed quantity (base asset).
    :param step: lot step, > 0.
    :return: the signed quantity rounded toward zero, a multiple of ``step``.
    """
    if qty >= 0.0:
        return int(qty / step + LOT_EPS) * step
    return -(int(-qty / step + LOT_EPS) * step)


class CostModel:
    """Fill prices and fees of market orders for one :class:`~bot.config.PortfolioConfig`.

    Slippage per unit of base asset is ``slippage_bps / 1e4 * price + slippage_range_frac * (high - low)``, where
    ``high - low`` is the range of the bar in which the order fills. It always goes against the trader: a buy fills
    higher, a sell lower (never below 0). Every simulated fill is a market order and pays ``taker_fee`` on its
    notional (``maker_fee`` would apply to resting limit orders, which this simulator does not place).

    :param cfg: the portfolio section of the config.
    """

    __slots__ = ("_range_frac", "_slip_frac", "lot_step", "min_notional", "taker_fee")

    def __init__(self, cfg: PortfolioConfig) -> None:
        self._slip_frac = cfg.slippage_bps / 1e4
        self._range_frac = cfg.slippage_range_frac
        self.taker_fee = cfg.taker_fee
        self.lot_step = cfg.lot_step
        self.min_notional = cfg.min_notional

    def slippage(self, price: float, high: float, low: float) -> float:
        """Slippage per unit (quote per base) for a fill near ``price`` in a bar with the given high and low.

        :param price: the reference price (the open, a stop or a take-profit price, or the close).
        :param high: high of the fill bar.
        :param low: low of the fill bar.
        :return: slippage amount, >= 0.
        """
        return self._slip_frac * price + self._range_frac * (high - low)

    def fill_price(self, price: float, side: int, slip: float) -> float:
        """Price paid (``side`` > 0, buy) or received (``side`` < 0, sell) after slippage ``slip``.

        :param price: reference price.
        :param side: +1 buy, -1 sell.
        :param slip: slippage per unit from :meth:`slippage`.
        :return: the fill price, never below 0.
        """
        if side > 0:
            return price + slip
        fill = price - slip
        return fill if fill > 0.0 else 0.0

    def fee(self, qty: float, fill: float) -> float:
        """Taker fee of a fill.

        :param qty: filled quantity (either sign).
        :param fill: fill price.
        :return: the fee in quote, >= 0.
        """
        return abs(qty) * fill * self.taker_fee
