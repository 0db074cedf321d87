"""PortfolioManager: cash, one position, market orders at the next bar's open, SL/TP, funding and liquidation.

Time contract (DESIGN.md): the decision taken at the close of bar t is executed by ``process_bar`` for bar t+1,
which (in this order):

1. charges perpetual funding when bar t+1's open time starts a new 8h UTC period (on the position held into the bar);
2. liquidates at the open when the open gapped through the liquidation price (and then skips the agent's order);
3. rebalances at the open toward the requested exposure (market order, slippage against the trader, taker fee);
4. checks the adverse trigger (stop loss or liquidation, whichever the price reaches first) against the low for a
   long / high for a short, then the take profit: the stop wins when both could trigger in the bar;
5. force-closes at the close when the holding time reaches ``max_holding_bars``;
6. marks to market at the close.

The accounting identity is documented in :mod:`bot.portfolio.account`.

Rebalance rule: an order is considered only when the requested exposure ``target_exposure * size_fraction *
leverage`` differs from the previous bar's, or when the account is flat and the request is not 0 (re-entry after a
stop, take profit, liquidation or max-holding exit, one bar later). Equity drift alone never trades. The target
quantity is ``exposure * equity_at_open / fill_price``, rounded toward zero to ``lot_step``; orders below
``min_notional`` are skipped, except a full close. A reversal closes, then opens at the same fill price.
"""

from __future__ import annotations

import logging

from bot.portfolio.account import Account
from bot.portfolio.fees import LOT_EPS, floor_to_step

logger = logging.getLogger(__name__)

#: Perpetual funding interval: 8 hours in milliseconds (funding at 00:00, 08:00 and 16:00 UTC).
FUNDING_INTERVAL_MS = 8 * 3_600_000

#: Relative safety margin on spot buys so that float rounding never leaves the quote balance below 0.
_SPOT_CASH_EPS = 1e-12


class PortfolioManager(Account):
    """Simulated single-symbol account shared by the env, the backtest and the dry-run broker.

    State attributes are those of :class:`~bot.portfolio.account.Account`; :meth:`process_bar` advances one bar.

    :param cfg: the portfolio section of the config.
    """

    __slots__ = ()

    # ------------------------------------------------------------------------------------------------ the bar

    def process_bar(
        self,
        time_ms: int,
        open_: float,
        high: float,
        low: float,
        close: float,
        target_exposure: float,
        stop_loss_pct: float,
        take_profit_pct: float,
        size_fraction: float = 1.0,
        new_decision: bool = True,
    ) -> None:
        """Execute, inside this bar, the decision taken at the previous bar's close, then mark at this close.

        Pass plain Python floats (rows of ``ndarray.tolist()``): NumPy scalars would propagate into the state.

        :param time_ms: this bar's OPEN time, UTC milliseconds.
        :param open_: this bar's open: market orders fill here (plus slippage).
        :param high: this bar's high (stop / take-profit / liquidation checks, slippage range, limit fills).
        :param low: this bar's low.
        :param close: this bar's close: the mark price, the max-holding exit price and the next limit price's base.
        :param target_exposure: requested exposure in [-1, 1] (spot: clamped to [0, 1]); 1 = ``leverage`` x equity.
        :param stop_loss_pct: stop distance from the entry as a fraction of price for a position opened or
            increased in this bar; <= 0 disables it.
        :param take_profit_pct: take-profit distance likewise; <= 0 disables it.
        :param size_fraction: fraction in [0, 1] of the requested exposure to use (the DBE's size).
        :param new_decision: False on the bars between two decisions (``env.decision_every``): no new order is
            placed (the target is held; stops, liquidation, funding and max-holding exits still act), except that an
            unfilled limit order is re-posted when ``portfolio.limit_unfilled`` is ``repost``.
        :raises ValueError: when ``|target_exposure| * size_fraction * leverage`` exceeds ``max_leverage`` or the
            size fraction is negative or NaN.
        """
        self.last_trade_pnl = None
        self.last_exit_reason = ""
        qty = self.position_qty
        if self._funding_rate != 0.0:
            epoch = time_ms // FUNDING_INTERVAL_MS
            if epoch != self._funding_epoch:
                if qty != 0.0 and self._funding_epoch >= 0:
                    self._pay_funding(open_, epoch - self._funding_epoch)
                self._funding_epoch = epoch
        gap_liquidated = False
        if (qty > 0.0 and open_ <= self.liquidation_price) or (qty < 0.0 and open_ >= self.liquidation_price):
            self._liquidate(time_ms, open_, in_bar=False)
            gap_liquidated = True

        if self._is_spot:
            target = 0.0 if target_exposure < 0.0 else (1.0 if target_exposure > 1.0 else target_exposure)
            exposure = target * size_fraction
        else:
            exposure = target_exposure * size_fraction * self._leverage
        if not (-self._max_exposure <= exposure <= self._max_exposure) or not size_fraction >= 0.0:
            self._raise_bad_exposure(target_exposure, size_fraction)
        if gap_liquidated:
            self._order_pending = False
            self._last_exposure = exposure
        elif new_decision or (self._order_pending and self._repost):
            if exposure != self._last_exposure or (exposure != 0.0 and self.position_qty == 0.0):
                if self._limit:
                    self._order_pending = not self._rebalance_limit(
                        time_ms, open_, high, low, exposure, stop_loss_pct, take_profit_pct
                    )
                    if not self._order_pending:
                        self._last_exposure = exposure
                else:
                    self._rebalance(time_ms, open_, high, low, exposure, stop_loss_pct, take_profit_pct)
                    self._last_exposure = exposure
            else:
                self._order_pending = False

        qty = self.position_qty
        if qty > 0.0:
            if low <= self._adverse:
                self._adverse_exit(time_ms, open_, high, low)
            elif high >= self.take_profit_price:
                self._take_profit(time_ms, open_, high, low)
        elif qty < 0.0:
            if high >= self._adverse:
                self._adverse_exit(time_ms, open_, high, low)
            elif low <= self.take_profit_price:
                self._take_profit(time_ms, open_, high, low)

        if self.position_qty != 0.0:
            self.bars_in_position += 1
            if self._max_hold and self.bars_in_position >= self._max_hold:
                self._close_at_market(time_ms, close, high, low, "max_holding", in_bar=False)

        qty = self.position_qty
        upnl = qty * (close - self.entry_price)
        equity = self._wallet + upnl
        self.unrealized_pnl = upnl
        self.equity = equity
        self._last_close = close
        if equity >= self.peak_equity:
            self.peak_equity = equity
            self.drawdown = 0.0
        else:
            self.drawdown = 1.0 - equity / self.peak_equity
        self.exposure = qty * close / equity if equity > 0.0 else 0.0

    def _raise_bad_exposure(self, target_exposure: float, size_fraction: float) -> None:
        raise ValueError(
            f"target_exposure={target_exposure!r} x size_fraction={size_fraction!r} x leverage={self._leverage}"
            f" must lie within +-portfolio.max_leverage={self._max_exposure} with size_fraction >= 0;"
            " pass target_exposure in [-1, 1] and size_fraction in [0, 1]"
        )

    # ------------------------------------------------------------------------------------------------ orders

    def _rebalance(
        self, time_ms: int, open_: float, high: float, low: float, exposure: float, sl_pct: float, tp_pct: float
    ) -> None:
        """Market order at this bar's open toward ``exposure``: slippage against the trader, taker fee."""
        qty = self.position_qty
        equity = self._wallet + qty * (open_ - self.entry_price)
        if equity <= 0.0:
            exposure = 0.0
        raw = exposure * equity / open_
        if raw == qty:
            return
        # CostModel.slippage and CostModel.fill_price inlined, with the same arithmetic: this runs on most env steps
        slip = self._slip_frac * open_ + self._range_frac * (high - low)
        if raw > qty:
            side = 1
            fill = open_ + slip
        else:
            side = -1
            fill = open_ - slip
        if fill <= 0.0:
            return
        target = self._order_target(exposure * equity / fill, side, fill, self._taker)
        if target is not None:
            self._execute(time_ms, target, fill, slip, sl_pct, tp_pct, self._taker)

    def _rebalance_limit(
        self, time_ms: int, open_: float, high: float, low: float, exposure: float, sl_pct: float, tp_pct: float
    ) -> bool:
        """Post-only limit order at the decision bar's close -/+ ``limit_offset``, resting through this bar.

        It fills at its limit price, with the maker fee and no slippage, only when this bar trades THROUGH the price
        (a buy needs ``low < price``, a sell ``high > price``: a touch is not a fill, as a resting order at the touch
        may be behind the queue).

        :return: True when the order filled or no order was needed; False when it was placed and did not fill.
        """
        ref = self._last_close if self._last_close > 0.0 else open_
        qty = self.position_qty
        equity = self._wallet + qty * (ref - self.entry_price)
        if equity <= 0.0:
            exposure = 0.0
        raw = exposure * equity / ref
        if raw == qty:
            return True
        side = 1 if raw > qty else -1
        price = ref * (1.0 - self._limit_offset) if side > 0 else ref * (1.0 + self._limit_offset)
        # size at the limit price: the equity the order would see when it fills there
        equity_at_fill = self._wallet + qty * (price - self.entry_price)
        if equity_at_fill <= 0.0 or price <= 0.0:
            return True
        target = self._order_target(exposure * equity_at_fill / price, side, price, self._maker)
        if target is None:
            return True
        self.limit_orders += 1
        if (side > 0 and not low < price) or (side < 0 and not high > price):
            return False
        self.limit_fills += 1
        self._execute(time_ms, target, price, 0.0, sl_pct, tp_pct, self._maker)
        return True

    def _order_target(self, raw_target: float, side: int, fill: float, fee_rate: float) -> float | None:
        """The lot-rounded target quantity of an order at ``fill``, or None when no order should be sent."""
        qty = self.position_qty
        lot = self._lot
        # floor_to_step inlined (same arithmetic)
        if raw_target >= 0.0:
            target = int(raw_target / lot + LOT_EPS) * lot
        else:
            target = -(int(-raw_target / lot + LOT_EPS) * lot)
        if self._is_spot and side > 0:
            cash = self._wallet - qty * self.entry_price
            room = floor_to_step(cash / (fill * (1.0 + fee_rate)) * (1.0 - _SPOT_CASH_EPS), self._lot)
            target = min(target, qty + room)
        if (target - qty) * side <= 0.0:
            return None
        if target != 0.0 and abs(target - qty) * fill < self._min_notional:
            return None
        return target

    def _execute(
        self, time_ms: int, target: float, fill: float, slip: float, sl_pct: float, tp_pct: float, fee_rate: float
    ) -> None:
        """Move the position to ``target`` at ``fill``: close, reverse (close then open at the same price) or resize."""
        qty = self.position_qty
        if qty != 0.0 and (target == 0.0 or (target > 0.0) != (qty > 0.0)):
            self._close(time_ms, fill, slip, "signal", False, fee_rate)
            if target != 0.0:
                self._open(time_ms, target, fill, slip, sl_pct, tp_pct, fee_rate)
        elif abs(target) > abs(qty):
            self._open(time_ms, target, fill, slip, sl_pct, tp_pct, fee_rate)
        else:
            self._reduce(target, fill, slip, fee_rate)

    # ------------------------------------------------------------------------------------------------ triggers

    def _adverse_exit(self, time_ms: int, open_: float, high: float, low: float) -> None:
        """The adverse trigger was reached: stop loss, or liquidation when it lies before the stop."""
        if self.position_qty > 0.0:
            is_stop = self.stop_loss_price >= self.liquidation_price
            gapped = open_ <= self._adverse
        else:
            is_stop = self.stop_loss_price <= self.liquidation_price
            gapped = open_ >= self._adverse
        if not is_stop:
            self._liquidate(time_ms, open_, in_bar=True)
            return
        trigger = self.stop_loss_price
        price = open_ if gapped else trigger
        logger.info(
            "Stop loss hit %s %.8g at %.8g (stop %.8g, open %.8g)",
            "long" if self.position_qty > 0.0 else "short",
            abs(self.position_qty),
            price,
            trigger,
            open_,
        )
        self._close_at_market(time_ms, price, high, low, "stop_loss", in_bar=True)

    def _take_profit(self, time_ms: int, open_: float, high: float, low: float) -> None:
        trigger = self.take_profit_price
        gapped = open_ >= trigger if self.position_qty > 0.0 else open_ <= trigger
        price = open_ if gapped else trigger
        logger.info(
            "Take profit hit %s %.8g at %.8g (target %.8g, open %.8g)",
            "long" if self.position_qty > 0.0 else "short",
            abs(self.position_qty),
            price,
            trigger,
            open_,
        )
        self._close_at_market(time_ms, price, high, low, "take_profit", in_bar=True)

    def _liquidate(self, time_ms: int, open_: float, in_bar: bool) -> None:
        """Close at the liquidation price (or at the open when it gapped through), taker fee, no slippage."""
        liq = self.liquidation_price
        long = self.position_qty > 0.0
        price = (open_ if open_ < liq else liq) if long else (open_ if open_ > liq else liq)
        size = abs(self.position_qty)
        self.is_liquidated = True
        self._close(time_ms, price, 0.0, "liquidation", in_bar)
        logger.info(
            "Liquidation of %s %.8g at %.8g (liquidation price %.8g), equity left %.8g",
            "long" if long else "short",
            size,
            price,
            liq,
            self._wallet,
        )
