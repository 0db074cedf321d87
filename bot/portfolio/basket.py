"""BasketPortfolio: one margin account over N assets; target weights in, orders out.

The multi-asset counterpart of :class:`~bot.portfolio.PortfolioManager`, with the same time contract (DESIGN.md): the
weights decided at the close of bar t are executed by :meth:`BasketPortfolio.process_bar` for bar t+1, which (in
this order):

1. charges perpetual funding per asset when bar t+1's open time starts a new 8h UTC period;
2. liquidates the whole account at the open when the open prices put its equity at or below the maintenance margin
   ``maintenance_margin * sum(|qty| * open)`` (and then skips the agent's orders);
3. rebalances at the open toward the requested weights: market orders (slippage against the trader, each asset's
   taker fee) or post-only limit orders at the decision close -/+ ``limit_offset`` that fill, at the maker fee, only
   when t+1 trades through them; on spot, sells go first and buys are scaled down to the cash left;
4. checks each position's stop loss (against the low for a long, the high for a short) and then its take profit: the
   stop wins when both could trigger in the bar;
5. liquidates the whole account inside the bar when the adverse extremes (the low of every long, the high of every
   short) would reach the maintenance margin. The adverse moves are assumed to happen together, in proportion: the
   account is closed at ``open + lam * (extreme - open)`` for the ``lam`` in [0, 1] where equity meets the margin;
6. force-closes at the close the positions held ``max_holding_bars``;
7. marks every asset to market at its close.

An asset without a bar (NaN prices: a gap in its data) keeps its position, marked at its last close, and is neither
traded nor stopped; ``tradable=False`` (for example during its feature warm-up) blocks new orders only.

Rebalance rule, per asset as in the single-asset manager: an order is considered only when the asset's requested
exposure ``weight * leverage`` differs from the one last executed, when it is flat with a non-zero request
(re-entry after a stop), or when the caller asks for a ``rebalance`` (the daily-rebalanced baselines). Equity drift
alone never trades. The target quantity is ``exposure * equity_at_open / fill_price``, rounded toward zero to the
asset's lot step; orders below its ``min_notional`` are skipped, except a full close. The accounting identities are
in :mod:`bot.portfolio.basket_account`.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import numpy.typing as npt

from bot.portfolio.basket_account import F64, AssetRules, BasketAccount, total, total_of
from bot.portfolio.fees import LOT_EPS
from bot.portfolio.manager import FUNDING_INTERVAL_MS
from bot.portfolio.trade import ExitReason

logger = logging.getLogger(__name__)

#: Relative safety margin on spot buys so that float rounding never leaves the quote balance below 0.
_SPOT_CASH_EPS = 1e-12
#: Relative slack on the gross-exposure cap, for weights that sum to the cap up to float rounding.
_GROSS_EPS = 1e-9

__all__ = ["AssetRules", "BasketPortfolio"]


def _floor_lot(raw: float, lot: float) -> float:
    """``raw`` rounded toward zero to a multiple of ``lot`` (the float twin of ``BasketAccount._floor_lots``)."""
    return math.copysign(math.floor(abs(raw) / lot + LOT_EPS) * lot, raw)


class BasketPortfolio(BasketAccount):
    """Simulated multi-asset margin account shared by the portfolio env and the portfolio backtest.

    State attributes are those of :class:`~bot.portfolio.basket_account.BasketAccount`; :meth:`process_bar`
    advances one bar.
    """

    def process_bar(
        self,
        time_ms: int,
        open_: F64,
        high: F64,
        low: F64,
        close: F64,
        weights: npt.ArrayLike,
        tradable: npt.NDArray[np.bool_] | None = None,
        stop_loss_pct: float | F64 = 0.0,
        take_profit_pct: float | F64 = 0.0,
        new_decision: bool = True,
        rebalance: bool = False,
    ) -> None:
        """Execute, inside this bar, the weights decided at the previous bar's close, then mark at this close.

        :param time_ms: this bar's OPEN time, UTC milliseconds.
        :param open_: float [N] this bar's opens (NaN for an asset without a bar); likewise ``high``, ``low``,
            ``close``.
        :param weights: float [N] target weights: asset i's exposure is ``weights[i] * leverage`` x equity (spot:
            clipped to [0, 1]). ``sum(|weights|) * leverage`` may not exceed ``max_leverage`` (spot: 1).
        :param tradable: bool [N] assets that may receive orders in this bar (None: every asset with a bar).
        :param stop_loss_pct: stop distance from the entry (fraction of price), one for all or float [N], for the
            positions opened or increased in this bar; <= 0 disables it. ``take_profit_pct`` likewise.
        :param new_decision: False on the bars between two decisions: no new order (stops, liquidation, funding and
            max-holding exits still act), except re-posted unfilled limit orders (``limit_unfilled: repost``).
        :param rebalance: trade every tradable asset back to its weight even when the weights did not change.
        :raises ValueError: for a weight vector of the wrong shape, one holding NaN (naming the asset and value) or
            one whose gross exposure exceeds the cap.
        """
        self.last_exits = []
        exposure = self._exposures(weights)
        priced = close == close
        if np.count_nonzero(priced) == self.n:
            o, h, lo, c = open_, high, low, close.copy()
        else:
            o = np.where(priced, open_, self.mark)
            h = np.where(priced, high, self.mark)
            lo = np.where(priced, low, self.mark)
            c = np.where(priced, close, self.mark)
        can_trade = priced if tradable is None else priced & tradable
        if self._funding_rate != 0.0:
            epoch = time_ms // FUNDING_INTERVAL_MS
            if epoch != self._funding_epoch:
                if self._funding_epoch >= 0:
                    payment = self.qty * o * (self._funding_rate * (epoch - self._funding_epoch))
                    self.funding += payment
                    self.wallet -= total(payment)
                self._funding_epoch = epoch
        gap_liquidated = False
        # the equity at the open, shared by the margin check and the market orders (no fill in between)
        equity_open = self._equity_at(o)
        if self._mm_check(o, equity_open):
            self._liquidate(time_ms, o, in_bar=False)
            gap_liquidated = True

        if gap_liquidated:
            self.pending[:] = False
            self.last_exposure = exposure
        elif new_decision or (self._repost and np.count_nonzero(self.pending)):
            consider = can_trade & ((exposure != self.last_exposure) | ((exposure != 0.0) & (self.qty == 0.0)))
            if rebalance:
                consider = can_trade.copy()
            if not new_decision:
                # a re-post only where a trade is still needed: an order whose target no longer needs one is dropped,
                # as the single-asset manager does (one in a gap waits)
                self.pending &= consider | ~can_trade
                consider &= self.pending
            if np.count_nonzero(consider):
                if self._limit:
                    done = self._rebalance_limit(consider, time_ms, o, h, lo, exposure, stop_loss_pct, take_profit_pct)
                else:
                    self._rebalance_market(
                        consider, time_ms, o, h, lo, exposure, stop_loss_pct, take_profit_pct, equity_open
                    )
                    done = consider
                self.last_exposure = np.where(done, exposure, self.last_exposure)
            elif new_decision:
                self.pending[:] = False

        qty = self.qty
        if np.count_nonzero(qty):
            if self.stops_armed:
                self._stops(time_ms, priced, o, h, lo)
            if not self.is_spot and np.count_nonzero(self.qty):
                self._intrabar_liquidation(time_ms, o, h, lo)
            held = self.qty != 0.0
            self.bars_in_position += held
            if self._max_hold:
                expired = held & priced & (self.bars_in_position >= self._max_hold)
                if np.count_nonzero(expired):
                    self._close_at_market(expired, time_ms, c, h, lo, "max_holding", in_bar=False)

        self.mark = c
        qty = self.qty
        equity = self.wallet + (float(qty @ c) - self._cost_basis())
        self.equity = equity
        if equity >= self.peak_equity:
            self.peak_equity = equity
            self.drawdown = 0.0
        else:
            self.drawdown = 1.0 - equity / self.peak_equity
        self.exposure = qty * c / equity if equity > 0.0 else np.zeros(self.n)

    # ------------------------------------------------------------------------------------------------ weights

    def _exposures(self, weights: npt.ArrayLike) -> F64:
        """Requested exposures ``weights * leverage`` (spot: weights clipped to [0, 1]), checked."""
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (self.n,):
            raise ValueError(f"weights {w.tolist()!r} must hold one weight per asset of {list(self.symbols)}")
        exposure = np.clip(w, 0.0, 1.0) if self.is_spot else w * self.leverage
        gross = total(np.abs(exposure))
        if not gross <= self.max_gross * (1.0 + _GROSS_EPS):
            bad = np.flatnonzero(np.isnan(w))
            if bad.size:
                i = int(bad[0])
                raise ValueError(
                    f"target weight {float(w[i])!r} for {self.symbols[i]} is NaN (weights {w.tolist()}); the policy"
                    " produced an invalid action"
                )
            raise ValueError(
                f"weights {w.tolist()} x leverage {self.leverage} give a gross exposure {gross:.6g} above"
                f" portfolio.max_leverage={self.max_gross}; scale the weights so that sum(|w|) x leverage <= the cap"
            )
        return exposure

    # ------------------------------------------------------------------------------------------------ orders

    def _equity_at(self, prices: F64) -> float:
        return self.wallet + (float(self.qty @ prices) - self._cost_basis())

    def _rebalance_market(
        self,
        consider: npt.NDArray[np.bool_],
        time_ms: int,
        o: F64,
        h: F64,
        lo: F64,
        exposure: F64,
        sl_pct: float | F64,
        tp_pct: float | F64,
        equity: float,
    ) -> None:
        """Market orders at this bar's open toward ``exposure`` for the assets in ``consider``; ``equity`` is the
        account's equity at the opens ``o``. Per asset in plain floats, like :meth:`_trade`."""
        n = self.n
        want = [0.0] * n if equity <= 0.0 else exposure.tolist()
        qty = self.qty.tolist()
        opens, highs, lows, lots = o.tolist(), h.tolist(), lo.tolist(), self._lot_step
        slip_frac, range_frac = self._slip_frac, self._range_frac
        target, side, fill, slip = list(qty), [0.0] * n, [0.0] * n, [0.0] * n
        orders = []
        for i in consider.nonzero()[0].tolist():
            price = opens[i]
            side[i] = s = 1.0 if want[i] * equity > qty[i] * price else -1.0
            slip[i] = cost = slip_frac * price + range_frac * (highs[i] - lows[i])
            fill[i] = f = price + s * cost
            if f > 0.0:
                raw = want[i] * equity / f
                target[i] = _floor_lot(raw, lots[i])
                orders.append(i)
        self._send(orders, qty, target, side, fill, slip, self._taker_fee, time_ms, sl_pct, tp_pct)

    def _rebalance_limit(
        self,
        consider: npt.NDArray[np.bool_],
        time_ms: int,
        o: F64,
        h: F64,
        lo: F64,
        exposure: F64,
        sl_pct: float | F64,
        tp_pct: float | F64,
    ) -> npt.NDArray[np.bool_]:
        """Post-only limit orders at the decision close -/+ ``limit_offset``, resting through this bar.

        :return: bool [N] the assets whose order filled or needed none (the others stay pending).
        """
        ref = np.where(self.mark > 0.0, self.mark, o)
        equity = self._equity_at(ref)
        if equity <= 0.0:
            exposure = np.zeros(self.n)
        qty = self.qty
        side = np.where(exposure * equity > qty * ref, 1.0, -1.0)
        price = ref * (1.0 - side * self._limit_offset)
        ok = consider & (price > 0.0)
        # size at the limit price: the equity the order would see when it fills there (the other assets at ref)
        at_fill = equity + qty * (price - ref)
        ok &= at_fill > 0.0
        target = self._floor_lots(np.where(ok, exposure * at_fill / np.where(ok, price, 1.0), qty))
        qty_, target_, side_, price_ = qty.tolist(), target.tolist(), side.tolist(), price.tolist()
        placed = [i for i in ok.nonzero()[0].tolist() if self._admissible(i, qty_[i], target_[i], side_[i], price_[i])]
        through = np.where(side > 0.0, lo < price, h > price).tolist()
        filled = [i for i in placed if through[i]]
        self.limit_orders += len(placed)
        self.limit_fills += len(filled)
        self._send(filled, qty_, target_, side_, price_, [0.0] * self.n, self._maker_fee, time_ms, sl_pct, tp_pct)
        self.pending = np.zeros(self.n, dtype=bool)
        self.pending[list(set(placed) - set(filled))] = True
        return consider & ~self.pending

    def _admissible(self, i: int, qty: float, target: float, side: float, fill: float) -> bool:
        """Asset ``i``'s order is worth sending: it moves the right way and reaches ``min_notional`` unless it
        closes."""
        change = target - qty
        return change * side > 0.0 and (target == 0.0 or abs(change) * fill >= self._min_notional[i])

    def _send(
        self,
        orders: list[int],
        qty: list[float],
        target: list[float],
        side: list[float],
        fill: list[float],
        slip: list[float],
        fee_rate: list[float],
        time_ms: int,
        sl_pct: float | F64,
        tp_pct: float | F64,
    ) -> None:
        """Execute the admissible ``orders`` (asset indices, ascending; ``qty`` the positions before them); on spot,
        sells first, then buys scaled down to the cash left."""
        m = [i for i in orders if self._admissible(i, qty[i], target[i], side[i], fill[i])]
        if not self.is_spot:
            if m:
                self._trade(m, target, fill, slip, fee_rate, time_ms, "signal", False, sl_pct, tp_pct)
            return
        sells = [i for i in m if side[i] < 0.0]
        if sells:
            self._trade(sells, target, fill, slip, fee_rate, time_ms, "signal", False, sl_pct, tp_pct)
        buys = [i for i in m if side[i] > 0.0]
        if not buys:
            return
        # a sell never touches a buy's asset: ``qty`` still holds the buys' positions
        outlay = [0.0] * self.n
        for i in buys:
            outlay[i] = (target[i] - qty[i]) * fill[i] * (1.0 + fee_rate[i])
        cost = total_of(outlay)
        cash = self.cash
        if cost > cash:
            scale = max(cash, 0.0) / cost * (1.0 - _SPOT_CASH_EPS)
            lots = self._lot_step
            target = list(target)
            for i in buys:
                raw = (target[i] - qty[i]) * scale
                target[i] = qty[i] + _floor_lot(raw, lots[i])
            buys = [i for i in buys if self._admissible(i, qty[i], target[i], side[i], fill[i])]
        if buys:
            self._trade(buys, target, fill, slip, fee_rate, time_ms, "signal", False, sl_pct, tp_pct)

    # ------------------------------------------------------------------------------------------------ triggers

    def _stops(self, time_ms: int, priced: npt.NDArray[np.bool_], o: F64, h: F64, lo: F64) -> None:
        """Stop loss, then take profit, of every position inside this bar (the stop first when both could hit)."""
        qty = self.qty
        long = qty > 0.0
        short = qty < 0.0
        stop = self.stop_price
        tp = self.take_profit_price
        stop_hit = priced & ((long & (lo <= stop)) | (short & (h >= stop)))
        tp_hit = priced & ~stop_hit & ((long & (h >= tp)) | (short & (lo <= tp)))
        if np.count_nonzero(stop_hit):
            # a gap through the trigger fills at the open
            price = np.where(stop_hit & ~np.where(long, o <= stop, o >= stop), stop, o)
            self._close_at_market(stop_hit, time_ms, price, h, lo, "stop_loss", in_bar=True)
        if np.count_nonzero(tp_hit):
            price = np.where(tp_hit & ~np.where(long, o >= tp, o <= tp), tp, o)
            self._close_at_market(tp_hit, time_ms, price, h, lo, "take_profit", in_bar=True)

    def _close_at_market(
        self, m: npt.NDArray[np.bool_], time_ms: int, price: F64, h: F64, lo: F64, reason: ExitReason, in_bar: bool
    ) -> None:
        """Close the positions in ``m`` near ``price`` with slippage against the trader and the taker fee."""
        slip = self._slip_frac * price + self._range_frac * (h - lo)
        fill = np.maximum(price + np.where(self.qty > 0.0, -slip, slip), 0.0)
        paid = np.abs(fill - price)  # a sell's fill is floored at 0
        zero = np.zeros(self.n)
        self._trade(m.nonzero()[0].tolist(), zero, fill, paid, self._taker_fee, time_ms, reason, in_bar, zero, zero)

    def _mm_check(self, prices: F64, equity: float) -> bool:
        """True when ``equity``, the equity at ``prices``, is at or below the maintenance margin of the open
        positions."""
        if self.is_spot:
            return False
        qty = self.qty
        if not np.count_nonzero(qty):
            return False
        return equity <= self._mm * float(np.abs(qty) @ prices)

    def _intrabar_liquidation(self, time_ms: int, o: F64, h: F64, lo: F64) -> None:
        """Liquidate the account where the proportional adverse move meets the maintenance margin (see step 5)."""
        qty = self.qty
        adverse = np.where(qty > 0.0, lo, h) - o
        size = np.abs(qty)
        a = self._equity_at(o) - self._mm * float(size @ o)
        b = float(qty @ adverse) - self._mm * float(size @ adverse)
        if a + b > 0.0:
            return
        lam = 0.0 if a <= 0.0 else min(1.0, -a / b)
        self._liquidate(time_ms, o + lam * adverse, in_bar=True)

    def _liquidate(self, time_ms: int, prices: F64, in_bar: bool) -> None:
        """Close every position at ``prices`` (taker fee, no slippage); a deficit goes to the insurance fund."""
        m = self.qty != 0.0
        before = self.realized - self.fees
        symbols = [self.symbols[i] for i in np.flatnonzero(m).tolist()]
        self.is_liquidated = True
        zero = np.zeros(self.n)
        assets = m.nonzero()[0].tolist()
        self._trade(assets, zero, prices, zero, self._taker_fee, time_ms, "liquidation", in_bar, zero, zero)
        self._absorb_deficit(self.realized - self.fees - before, m)
        logger.info(
            "Liquidation of the account (%s) %s, equity left %.8g",
            ", ".join(symbols),
            "inside the bar" if in_bar else "at the open",
            self.wallet,
        )
