"""Account state of the simulated portfolio: wallet, one position, fills, the trade log and the liquidation price.

Accounting (linear contracts; a spot account is the same with ``qty >= 0`` and leverage 1)::

    wallet      = initial_cash + realized_pnl - fees_paid - funding_paid
    unrealized  = position_qty * (mark - entry_price)
    equity      = wallet + unrealized
    cash        = wallet                               (perpetual: margin balance)
                = wallet - position_qty * entry_price  (spot: quote balance, >= 0)

``realized_pnl`` is the gross price PnL of reducing fills at their fill prices, so slippage is inside it (and inside
``unrealized_pnl`` through the entry fill price); ``slippage_paid`` reports that cost on its own. When a close would
leave the wallet below 0 (a liquidation gap), the deficit is written back into ``realized_pnl`` (the exchange's
insurance fund absorbs it) so that equity is floored at 0 and the identity stays exact. With these definitions
``sum(t.pnl for t in trades) + open_trade_pnl - funding_paid == equity - initial_cash``.
"""

from __future__ import annotations

import logging

from bot.config import PortfolioConfig
from bot.portfolio.fees import CostModel
from bot.portfolio.trade import ExitReason, Side, Trade, new_trade

logger = logging.getLogger(__name__)
# ``logger.isEnabledFor(INFO)`` before the per-trade INFO lines: one Python call instead of two (``Logger.info`` calls
# it itself) and no argument tuple when INFO is off, on the fill path that runs on most env steps
_INFO = logging.INFO

_INF = float("inf")


class Account:
    """Wallet, position and trade log with the fill primitives; :class:`~bot.portfolio.PortfolioManager` drives it.

    Read-only state, plain Python floats and ints: ``equity``, ``position_qty`` (signed, base asset),
    ``entry_price``, ``unrealized_pnl``, ``realized_pnl``, ``fees_paid`` (>= 0), ``slippage_paid`` (>= 0),
    ``funding_paid`` (signed: < 0 when funding was received), ``exposure`` (signed notional / equity),
    ``drawdown`` (1 - equity / peak), ``peak_equity``, ``n_trades``, ``wins``, ``losses``, ``bars_in_position``,
    ``is_liquidated`` (sticky until reset), ``last_exit_reason`` and ``last_trade_pnl`` (the last trade closed during
    the last bar, ``""`` / None when none), ``stop_loss_price``, ``take_profit_price``, ``liquidation_price``
    (+-inf when disabled or flat) and ``trades``.

    :param cfg: the portfolio section of the config.
    """

    __slots__ = (
        "_adverse",
        "_costs",
        "_funding_epoch",
        "_funding_rate",
        "_initial_cash",
        "_is_spot",
        "_last_close",
        "_last_exposure",
        "_leverage",
        "_limit",
        "_limit_offset",
        "_lot",
        "_maker",
        "_max_exposure",
        "_max_hold",
        "_min_notional",
        "_mm",
        "_order_pending",
        "_pos_fees",
        "_pos_max_qty",
        "_pos_open_time_ms",
        "_pos_realized",
        "_range_frac",
        "_repost",
        "_slip_frac",
        "_taker",
        "_wallet",
        "bars_in_position",
        "cfg",
        "drawdown",
        "entry_price",
        "equity",
        "exposure",
        "fees_paid",
        "funding_paid",
        "is_liquidated",
        "last_exit_reason",
        "last_trade_pnl",
        "limit_fills",
        "limit_orders",
        "liquidation_price",
        "losses",
        "n_trades",
        "peak_equity",
        "position_qty",
        "realized_pnl",
        "slippage_paid",
        "stop_loss_price",
        "take_profit_price",
        "traded_notional",
        "trades",
        "unrealized_pnl",
        "wins",
    )

    def __init__(self, cfg: PortfolioConfig) -> None:
        self.cfg = cfg
        self._is_spot = cfg.market == "spot"
        self._leverage = 1.0 if self._is_spot else float(cfg.leverage)
        self._max_exposure = 1.0 if self._is_spot else float(cfg.max_leverage)
        self._costs = CostModel(cfg)
        # the CostModel's slippage terms, inlined by the market-order fill path (the env's hot path)
        self._slip_frac = cfg.slippage_bps / 1e4
        self._range_frac = cfg.slippage_range_frac
        self._taker = float(cfg.taker_fee)
        self._maker = float(cfg.maker_fee)
        self._limit = cfg.order_type == "limit"
        self._limit_offset = float(cfg.limit_offset)
        self._repost = cfg.limit_unfilled == "repost"
        self._mm = float(cfg.maintenance_margin)
        self._funding_rate = 0.0 if self._is_spot else float(cfg.funding_rate_8h)
        self._lot = float(cfg.lot_step)
        self._min_notional = float(cfg.min_notional)
        self._max_hold = int(cfg.max_holding_bars)
        self._initial_cash = float(cfg.initial_cash)
        self.trades: list[Trade] = []
        self.reset()

    # ------------------------------------------------------------------------------------------------ state

    def reset(self, reference_price: float = 0.0) -> None:
        """Start a new episode: initial cash, flat, empty trade log, counters at 0.

        :param reference_price: the close of the bar before the first processed bar (the first decision's price,
            where a limit order is placed); 0 = unknown, the first bar's open stands in.
        """
        cash = self._initial_cash
        self._wallet = cash
        self.equity = cash
        self.peak_equity = cash
        self.drawdown = 0.0
        self.exposure = 0.0
        self.realized_pnl = 0.0
        self.unrealized_pnl = 0.0
        self.fees_paid = 0.0
        self.slippage_paid = 0.0
        self.funding_paid = 0.0
        self.n_trades = 0
        self.wins = 0
        self.losses = 0
        self.is_liquidated = False
        self.last_exit_reason = ""
        self.last_trade_pnl: float | None = None
        self.trades = []
        self.traded_notional = 0.0
        self.limit_orders = 0
        self.limit_fills = 0
        self._last_exposure = 0.0
        self._last_close = float(reference_price)
        self._order_pending = False
        self._funding_epoch = -1
        self._set_flat()

    def _set_flat(self) -> None:
        self.position_qty = 0.0
        self.entry_price = 0.0
        self.bars_in_position = 0
        self.stop_loss_price = -_INF
        self.take_profit_price = _INF
        self.liquidation_price = -_INF
        self._adverse = -_INF
        self._pos_fees = 0.0
        self._pos_realized = 0.0
        self._pos_max_qty = 0.0
        self._pos_open_time_ms = 0

    @property
    def initial_cash(self) -> float:
        """Starting balance (quote)."""
        return self._initial_cash

    @property
    def cash(self) -> float:
        """Perpetual: the margin balance (wallet). Spot: the quote balance, ``wallet - qty * entry_price``."""
        if self._is_spot:
            return self._wallet - self.position_qty * self.entry_price
        return self._wallet

    @property
    def wallet(self) -> float:
        """Realised balance: ``initial_cash + realized_pnl - fees_paid - funding_paid``."""
        return self._wallet

    @property
    def is_bankrupt(self) -> bool:
        """True when equity at the last mark is <= 0."""
        return self.equity <= 0.0

    @property
    def open_trade_pnl(self) -> float:
        """Net PnL of the open position so far: partial realisations + unrealised PnL - its fees (0 when flat)."""
        return self._pos_realized + self.unrealized_pnl - self._pos_fees

    def _open(
        self, time_ms: int, target: float, fill: float, slip: float, sl_pct: float, tp_pct: float, fee_rate: float
    ) -> None:
        """Open from flat, or increase, to ``target`` (same sign as the position) at ``fill``, paying ``fee_rate``."""
        qty = self.position_qty
        added = abs(target - qty)
        self.traded_notional += added * fill
        fee = added * fill * fee_rate
        self.fees_paid += fee
        self.slippage_paid += added * slip
        self._wallet -= fee
        self._pos_fees += fee
        entry = (abs(qty) * self.entry_price + added * fill) / abs(target)
        self.position_qty = target
        self.entry_price = entry
        if abs(target) > self._pos_max_qty:
            self._pos_max_qty = abs(target)
        if target > 0.0:
            self.stop_loss_price = entry * (1.0 - sl_pct) if sl_pct > 0.0 else -_INF
            self.take_profit_price = entry * (1.0 + tp_pct) if tp_pct > 0.0 else _INF
        else:
            self.stop_loss_price = entry * (1.0 + sl_pct) if sl_pct > 0.0 else _INF
            self.take_profit_price = entry * (1.0 - tp_pct) if tp_pct > 0.0 else -_INF
        self._update_liquidation()
        if qty == 0.0:
            self._pos_open_time_ms = time_ms
            self.bars_in_position = 0
            if logger.isEnabledFor(_INFO):
                logger.info(
                    "Trade opened %s %.8g at %.8g (stop loss %.8g, take profit %.8g)",
                    "long" if target > 0.0 else "short",
                    abs(target),
                    fill,
                    self.stop_loss_price,
                    self.take_profit_price,
                )
        else:
            logger.debug("Position increased to %.8g at %.8g (average entry %.8g)", target, fill, entry)

    def _reduce(self, target: float, fill: float, slip: float, fee_rate: float) -> None:
        """Partially reduce the position to ``target`` (same sign, smaller size) at ``fill``, paying ``fee_rate``."""
        reduced = self.position_qty - target
        gross = reduced * (fill - self.entry_price)
        self.traded_notional += abs(reduced) * fill
        fee = abs(reduced) * fill * fee_rate
        self.realized_pnl += gross
        self.fees_paid += fee
        self.slippage_paid += abs(reduced) * slip
        self._wallet += gross - fee
        self._pos_realized += gross
        self._pos_fees += fee
        self.position_qty = target
        self._update_liquidation()
        logger.debug("Position reduced to %.8g at %.8g (realised %.8g)", target, fill, gross)

    def _close(
        self, time_ms: int, fill: float, slip: float, reason: ExitReason, in_bar: bool, fee_rate: float | None = None
    ) -> None:
        """Close the whole position at ``fill``, record the trade and go flat (taker fee unless ``fee_rate`` is given).

        ``in_bar`` is True for exits after this bar's open (stops, take profits, intrabar liquidations): the exit
        bar then counts in ``bars_held``, which ``bars_in_position`` only counts at the bar's end.
        """
        qty = self.position_qty
        size = abs(qty)
        gross = qty * (fill - self.entry_price)
        self.traded_notional += size * fill
        fee = size * fill * (self._taker if fee_rate is None else fee_rate)
        self.fees_paid += fee
        self.slippage_paid += size * slip
        self.realized_pnl += gross
        self._wallet += gross - fee
        pos_realized = self._pos_realized + gross
        if self._wallet < 0.0:
            # Losses beyond the account are absorbed (insurance fund): equity is floored at 0.
            deficit = -self._wallet
            self._wallet = 0.0
            self.realized_pnl += deficit
            pos_realized += deficit
        fees = self._pos_fees + fee
        pnl = pos_realized - fees
        side: Side = "long" if qty > 0.0 else "short"
        max_qty = self._pos_max_qty
        self.trades.append(
            new_trade(
                self._pos_open_time_ms,
                time_ms,
                side,
                max_qty,
                self.entry_price,
                fill,
                fees,
                pnl,
                reason,
                self.bars_in_position + (1 if in_bar else 0),
            )
        )
        self.n_trades += 1
        if pnl > 0.0:
            self.wins += 1
        else:
            self.losses += 1
        self.last_trade_pnl = pnl
        self.last_exit_reason = reason
        self._set_flat()
        if logger.isEnabledFor(_INFO):
            logger.info("Trade closed %s %.8g at %.8g, pnl %.8g, reason %s", side, max_qty, fill, pnl, reason)

    def _close_at_market(
        self, time_ms: int, price: float, high: float, low: float, reason: ExitReason, in_bar: bool
    ) -> None:
        side = -1 if self.position_qty > 0.0 else 1
        fill = self._costs.fill_price(price, side, self._costs.slippage(price, high, low))
        # the slippage actually paid: a sell's fill price is floored at 0
        self._close(time_ms, fill, abs(fill - price), reason, in_bar)

    def _update_liquidation(self) -> None:
        """Recompute the liquidation price and the adverse trigger after any change of position or wallet."""
        qty = self.position_qty
        if self._is_spot:
            liq = -_INF
        elif qty > 0.0:
            # bot.portfolio.margin.liquidation_price inlined, with the same arithmetic (called on every fill)
            liq = (qty * self.entry_price - self._wallet) / (qty * (1.0 - self._mm))
        else:
            liq = (qty * self.entry_price - self._wallet) / (qty * (1.0 + self._mm))
        self.liquidation_price = liq
        stop = self.stop_loss_price
        if qty > 0.0:
            self._adverse = stop if stop >= liq else liq
        else:
            self._adverse = stop if stop <= liq else liq

    def _pay_funding(self, price: float, n_periods: int) -> None:
        """Longs pay, shorts receive ``funding_rate_8h * notional`` per funding time crossed."""
        payment = self.position_qty * price * self._funding_rate * n_periods
        self.funding_paid += payment
        self._wallet -= payment
        self._update_liquidation()
        logger.debug("Funding %.8g paid on %.8g at %.8g", payment, self.position_qty, price)
