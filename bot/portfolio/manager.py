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

from bot.portfolio import bar_kernel
from bot.portfolio.account import Account
from bot.portfolio.bar_kernel import EVENTS, GROW, REFUSED
from bot.portfolio.fill_kernel import FUNDING_INTERVAL_MS

__all__ = ["FUNDING_INTERVAL_MS", "PortfolioManager", "events_logged"]

logger = logging.getLogger(__name__)
_account_logger = logging.getLogger("bot.portfolio.account")
_manager_logs = logger.isEnabledFor
_account_logs = _account_logger.isEnabledFor


def events_logged() -> bool:
    """Whether a bar's events (trades opened and closed, stops, liquidations, funding) would be logged now: the
    manager's or the account's logger is enabled for INFO. The env's compiled step stops after such bars only then;
    it asks at every step (bound methods: this runs on every step)."""
    return _manager_logs(logging.INFO) or _account_logs(logging.INFO)

_bar = bar_kernel.process_bar


class PortfolioManager(Account):
    """Simulated single-symbol account shared by the env, the backtest and the dry-run broker.

    State attributes are those of :class:`~bot.portfolio.account.Account`; :meth:`process_bar` advances one bar in
    one call of the compiled :func:`bot.portfolio.bar_kernel.process_bar`.

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

        Pass Python or NumPy floats and ints (a float32 or an int price compiles one more variant of the kernel,
        once).

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
            size fraction is negative or NaN; the account is left unchanged.
        """
        flags = _bar(self.state, time_ms, open_, high, low, close, target_exposure, stop_loss_pct, take_profit_pct,
                     size_fraction, new_decision)[0]  # fmt: skip
        if flags > EVENTS - 1:
            self.settle(flags, target_exposure, size_fraction)

    def settle(self, flags: int, target_exposure: float, size_fraction: float) -> None:
        """What Python does after a bar whose kernel flags hold more than ``CLOSED``: log the bar's events when the
        logger is enabled, grow the trade records, raise for a refused exposure.

        :param flags: the first value :func:`bot.portfolio.bar_kernel.process_bar` returned.
        :param target_exposure: the bar's requested exposure (for the error message).
        :param size_fraction: the bar's size fraction (likewise).
        :raises ValueError: when the kernel refused the exposure (see :meth:`process_bar`).
        """
        if flags & REFUSED:
            self._raise_bad_exposure(target_exposure, size_fraction)
        if flags & EVENTS and events_logged():
            self._log_events()
        if flags & GROW:
            self._grow_records()

    def _raise_bad_exposure(self, target_exposure: float, size_fraction: float) -> None:
        raise ValueError(
            f"target_exposure={target_exposure!r} x size_fraction={size_fraction!r} x leverage={self._leverage}"
            f" must lie within +-portfolio.max_leverage={self._max_exposure} with size_fraction >= 0;"
            " pass target_exposure in [-1, 1] and size_fraction in [0, 1]"
        )
