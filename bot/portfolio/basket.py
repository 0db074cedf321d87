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

import numpy as np
import numpy.typing as npt

from bot.portfolio import basket_bar
from bot.portfolio.basket_account import F64, AssetRules, BasketAccount

__all__ = ["AssetRules", "BasketPortfolio"]


class BasketPortfolio(BasketAccount):
    """Simulated multi-asset margin account shared by the portfolio env and the portfolio backtest.

    State attributes are those of :class:`~bot.portfolio.basket_account.BasketAccount`; :meth:`process_bar`
    advances one bar in one call of the compiled :func:`bot.portfolio.basket_bar.process_bar`.
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
            one whose gross exposure exceeds the cap, or an asset whose bar has a close but a NaN open, high or low;
            the account is left unchanged.
        """
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (self.n,):
            raise ValueError(f"weights {w.tolist()!r} must hold one weight per asset of {list(self.symbols)}")
        # plain floats <= 0 for both (the env's case without a DBE) leave the stop checks unarmed
        no_stops = (
            isinstance(stop_loss_pct, float)
            and isinstance(take_profit_pct, float)
            and type(stop_loss_pct) is type(take_profit_pct) is float
            and stop_loss_pct <= 0.0
            and take_profit_pct <= 0.0
        )
        self.execute_bar(
            time_ms,
            open_ if type(open_) is np.ndarray else np.asarray(open_, dtype=np.float64),
            high if type(high) is np.ndarray else np.asarray(high, dtype=np.float64),
            low if type(low) is np.ndarray else np.asarray(low, dtype=np.float64),
            close if type(close) is np.ndarray else np.asarray(close, dtype=np.float64),
            w,
            self._every if tradable is None else np.asarray(tradable, dtype=np.bool_),
            self._distances(stop_loss_pct, self._sl_one),
            self._distances(take_profit_pct, self._tp_one),
            no_stops,
            new_decision,
            rebalance,
        )

    def execute_bar(
        self,
        time_ms: int,
        open_: F64,
        high: F64,
        low: F64,
        close: F64,
        weights: F64,
        tradable: npt.NDArray[np.bool_],
        stop_loss_pct: F64,
        take_profit_pct: F64,
        no_stops: bool,
        new_decision: bool,
        rebalance: bool = False,
    ) -> None:
        """:meth:`process_bar` for a caller that already holds the kernel's types (the env, every step): NumPy
        arrays (float64 [N] prices and ``weights``, bool [N] ``tradable``), the distances as float64 [1] (one for
        all) or [N], and ``no_stops`` True only when both distances are <= 0 for every asset.

        :raises ValueError: as :meth:`process_bar` (the account is left unchanged).
        """
        self._reserve()
        # arrays pass as they are (a float32 one costs one more compilation, once)
        status = basket_bar.process_bar(
            *self._state,
            time_ms,
            open_,
            high,
            low,
            close,
            weights,
            tradable,
            stop_loss_pct,
            take_profit_pct,
            no_stops,
            new_decision,
            rebalance,
        )
        if status == basket_bar.PARTIAL_BAR:
            prices = np.array([open_, high, low, close], dtype=np.float64)
            i = int(np.flatnonzero(~np.isnan(prices[3]) & np.isnan(prices[:3]).any(axis=0))[0])
            raise ValueError(
                f"bar at {time_ms} of {self.symbols[i]} has close {float(prices[3, i])!r} but open/high/low"
                f" {prices[:3, i].tolist()}: an asset without a bar has NaN for all four prices"
            )
        if status != basket_bar.OK:
            self._refuse(weights)
        self._sync()

    def _distances(self, pct: float | F64, one: F64) -> F64:
        """Stop or take-profit distances as the kernel reads them: float [1] for one value, float [N] per asset."""
        if isinstance(pct, float):
            one[0] = pct
            return one
        return np.ascontiguousarray(np.broadcast_to(np.asarray(pct, dtype=np.float64), (self.n,)))

    def _refuse(self, w: F64) -> None:
        """Raise the error for weights whose gross exposure is above the cap or NaN (the kernel changed nothing).

        :raises ValueError: naming the NaN weight's asset, else the gross exposure and the cap.
        """
        bad = np.flatnonzero(np.isnan(w))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"target weight {float(w[i])!r} for {self.symbols[i]} is NaN (weights {w.tolist()}); the policy"
                " produced an invalid action"
            )
        exposure = np.clip(w, 0.0, 1.0) if self.is_spot else w * self.leverage
        gross = float(np.abs(exposure).sum())
        raise ValueError(
            f"weights {w.tolist()} x leverage {self.leverage} give a gross exposure {gross:.6g} above"
            f" portfolio.max_leverage={self.max_gross}; scale the weights so that sum(|w|) x leverage <= the cap"
        )
