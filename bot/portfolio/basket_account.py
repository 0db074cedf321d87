"""Account state of the multi-asset portfolio: one shared wallet, one position per asset, per-asset trade logs.

Accounting (linear contracts; a spot account is the same with ``qty >= 0``, leverage 1 and cash >= 0), per asset i::

    wallet         = initial_cash + sum(realized) - sum(fees) - sum(funding)
    unrealized_i   = qty_i * (mark_i - entry_i)
    equity         = wallet + sum(unrealized)
    pnl_i          = realized_i + unrealized_i - fees_i - funding_i          (the attribution)
    sum(pnl_i)     = equity - initial_cash
    cash           = wallet                                 (perpetual: the margin balance)
                   = wallet - sum(qty * entry)              (spot: the quote balance, >= 0)

As in the single-asset :class:`~bot.portfolio.account.Account`, ``realized_i`` is the gross price PnL of reducing fills
at their fill prices (slippage is inside it) and a liquidation deficit (equity below 0 after closing everything) is
written back into the realised PnL of the assets that lost it, so equity is floored at 0 and the identities stay
exact. Every state array is float64 [N] (``bars_in_position`` int64 [N]) in the order of ``symbols``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bot.config import PortfolioConfig
from bot.portfolio.fees import LOT_EPS
from bot.portfolio.trade import ExitReason, Side, Trade, new_trade

logger = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]
#: float [N] per-asset values, as an array or a list (the order path builds lists)
Floats = Sequence[float] | F64
_INF = float("inf")
#: Below this length NumPy sums a float64 vector left to right (its pairwise summation starts at 8 elements).
_SEQUENTIAL_SUM_MAX = 7


def total_of(values: list[float]) -> float:
    """The sum of ``values`` in NumPy's order (:func:`total` of the same vector), without building an array."""
    if len(values) <= _SEQUENTIAL_SUM_MAX:
        return sum(values, 0.0)
    return float(np.array(values).sum())


def total(x: F64) -> float:
    """``float(x.sum())`` for a 1-D float64 vector, bit for bit, in a fraction of its cost on a few elements.

    ``ndarray.sum`` costs about 3 us whatever the size; a basket's vectors hold a few assets, and NumPy adds up to
    seven elements in order from 0.0, which Python's ``sum`` reproduces.
    """
    if x.shape[0] <= _SEQUENTIAL_SUM_MAX:
        return sum(x.tolist(), 0.0)
    return float(x.sum())


@dataclass(frozen=True, slots=True)
class AssetRules:
    """Per-asset exchange rules and fees, float64 [N] each.

    :param lot_step: quantity step (base asset), > 0.
    :param min_notional: smallest order notional (quote), >= 0; a full close is always allowed.
    :param taker_fee: fraction of notional per market fill, >= 0.
    :param maker_fee: fraction of notional per limit fill (may be negative: a rebate).
    """

    lot_step: F64
    min_notional: F64
    taker_fee: F64
    maker_fee: F64

    @classmethod
    def from_config(
        cls,
        cfg: PortfolioConfig,
        symbols: Sequence[str],
        overrides: dict[str, dict[str, float]] | None = None,
    ) -> AssetRules:
        """The config's rules for every asset, with per-symbol ``overrides`` (``{"BTC/USDT": {"lot_step": 0.001}}``).

        :raises ValueError: naming the symbol and key of an unknown symbol, unknown key or out-of-range value.
        """
        base = {
            "lot_step": cfg.lot_step,
            "min_notional": cfg.min_notional,
            "taker_fee": cfg.taker_fee,
            "maker_fee": cfg.maker_fee,
        }
        columns = {k: np.full(len(symbols), float(v)) for k, v in base.items()}
        for symbol, rules in (overrides or {}).items():
            if symbol not in symbols:
                raise ValueError(f"asset rules for {symbol!r}: not one of the portfolio's symbols {list(symbols)}")
            for key, value in rules.items():
                if key not in base:
                    raise ValueError(f"asset rules for {symbol!r}: unknown key {key!r}; expected one of {list(base)}")
                columns[key][symbols.index(symbol)] = float(value)
        rules_ = cls(**columns)
        for key, low, strict in (("lot_step", 0.0, True), ("min_notional", 0.0, False), ("taker_fee", 0.0, False)):
            values = getattr(rules_, key)
            bad = np.flatnonzero(~(values > low) if strict else ~(values >= low))
            if bad.size:
                i = int(bad[0])
                relation = ">" if strict else ">="
                raise ValueError(f"asset rules for {symbols[i]!r}: {key}={float(values[i])!r} must be {relation} 0")
        return rules_


@dataclass(frozen=True, slots=True)
class BasketTotals:
    """Account-wide totals of a basket (what :func:`bot.env.stats.episode_summary` reads of an account).

    :param trades: every asset's closed trades, asset by asset.
    """

    equity: float
    wins: int
    losses: int
    n_trades: int
    fees_paid: float
    slippage_paid: float
    funding_paid: float
    traded_notional: float
    is_liquidated: bool
    trades: tuple[Trade, ...]


class BasketAccount:
    """Shared wallet, per-asset positions and trade logs with the vectorized fill primitive.

    :class:`~bot.portfolio.basket.BasketPortfolio` drives it bar by bar. Read-only state: the float64 [N] arrays
    ``qty``, ``entry``, ``mark`` (last known close), ``realized``, ``fees``, ``slippage``, ``funding`` (signed),
    ``traded_notional``, ``stop_price``, ``take_profit_price``, ``exposure`` (signed notional / equity) and
    ``bars_in_position`` (int64); the scalars ``equity``, ``peak_equity``, ``drawdown``, ``is_liquidated``,
    ``n_trades``, ``wins``, ``losses``, ``limit_orders``, ``limit_fills``; ``trades`` (one list of
    :class:`~bot.portfolio.trade.Trade` per asset) and ``last_exits`` (``(asset, reason)`` closed during the last bar).

    :param cfg: the portfolio section of the config (market, leverage, costs, margin, funding, order type).
    :param symbols: the assets, in order.
    :param rules: per-asset lot step, minimum notional and fees; None takes the config's for every asset.
    :raises ValueError: for an empty or repeated symbol list.
    """

    def __init__(self, cfg: PortfolioConfig, symbols: Sequence[str], rules: AssetRules | None = None) -> None:
        if not symbols:
            raise ValueError("a basket portfolio needs at least one symbol, got none")
        repeated = sorted({s for s in symbols if list(symbols).count(s) > 1})
        if repeated:
            raise ValueError(f"symbol {repeated[0]!r} is listed twice in the portfolio's symbols {list(symbols)}")
        self.cfg = cfg
        self.symbols: tuple[str, ...] = tuple(symbols)
        self.n = len(self.symbols)
        self.rules = rules if rules is not None else AssetRules.from_config(cfg, self.symbols)
        # the rules as lists, read asset by asset in the order path
        self._lot_step: list[float] = self.rules.lot_step.tolist()
        self._min_notional: list[float] = self.rules.min_notional.tolist()
        self._taker_fee: list[float] = self.rules.taker_fee.tolist()
        self._maker_fee: list[float] = self.rules.maker_fee.tolist()
        self.is_spot = cfg.market == "spot"
        self.leverage = 1.0 if self.is_spot else float(cfg.leverage)
        #: gross exposure cap: sum(|weight|) x leverage may not exceed it (spot: 1, long only).
        self.max_gross = 1.0 if self.is_spot else float(cfg.max_leverage)
        self._slip_frac = cfg.slippage_bps / 1e4
        self._range_frac = float(cfg.slippage_range_frac)
        self._mm = 0.0 if self.is_spot else float(cfg.maintenance_margin)
        self._funding_rate = 0.0 if self.is_spot else float(cfg.funding_rate_8h)
        self._limit = cfg.order_type == "limit"
        self._limit_offset = float(cfg.limit_offset)
        self._repost = cfg.limit_unfilled == "repost"
        self._max_hold = int(cfg.max_holding_bars)
        self.initial_cash = float(cfg.initial_cash)
        self.trades: list[list[Trade]] = []
        self.reset()

    # ------------------------------------------------------------------------------------------------ state

    def reset(self, reference_prices: npt.ArrayLike | None = None) -> None:
        """Start a new episode: initial cash, every asset flat, empty trade logs, counters at 0.

        :param reference_prices: float [N] closes of the bar before the first processed bar (the marks of assets
            without a bar yet and the base of the first limit prices); None = unknown (the first bars stand in).
        """
        n = self.n
        z = np.zeros(n)
        self.qty, self.entry, self.realized, self.fees = z.copy(), z.copy(), z.copy(), z.copy()
        self.slippage, self.funding, self.traded_notional, self.exposure = z.copy(), z.copy(), z.copy(), z.copy()
        # 0 stands for an unknown mark: only flat assets (never traded yet) have one
        ref = z if reference_prices is None else np.asarray(reference_prices, dtype=np.float64)
        self.mark = np.nan_to_num(ref)
        self.stop_price = np.full(n, -_INF)
        self.take_profit_price = np.full(n, _INF)
        self.bars_in_position = np.zeros(n, dtype=np.int64)
        self.last_exposure = z.copy()
        self.pending = np.zeros(n, dtype=bool)
        self._pos_fees, self._pos_realized, self._pos_max_qty = z.copy(), z.copy(), z.copy()
        self._pos_open_time_ms = np.zeros(n, dtype=np.int64)
        self._basis_of: tuple[F64, F64] = (z, z)
        self._basis = 0.0
        self.wallet = self.initial_cash
        self.equity = self.initial_cash
        self.peak_equity = self.initial_cash
        self.drawdown = 0.0
        self.is_liquidated = False
        self.n_trades = self.wins = self.losses = 0
        self.limit_orders = self.limit_fills = 0
        self.trades = [[] for _ in range(n)]
        self.last_exits: list[tuple[int, ExitReason]] = []
        self._funding_epoch = -1
        #: True once a position was given a stop loss or take profit (until then the bar skips the trigger checks).
        self.stops_armed = False

    def _cost_basis(self) -> float:
        """``qty @ entry``, computed once per position change: fills replace both arrays, never write into them."""
        qty, entry = self.qty, self.entry
        if self._basis_of[0] is not qty or self._basis_of[1] is not entry:
            self._basis_of = (qty, entry)
            self._basis = float(qty @ entry)
        return self._basis

    @property
    def cash(self) -> float:
        """Perpetual: the margin balance (wallet). Spot: the quote balance, ``wallet - sum(qty * entry)``."""
        if self.is_spot:
            return self.wallet - self._cost_basis()
        return self.wallet

    @property
    def unrealized(self) -> F64:
        """float [N] unrealised PnL at the marks (0 for a flat asset)."""
        return self.qty * (self.mark - self.entry)

    @property
    def position_value(self) -> F64:
        """float [N] what each position adds to ``cash`` in the equity: ``qty * mark`` on spot, unrealised PnL else."""
        return self.qty * self.mark if self.is_spot else self.unrealized

    @property
    def attribution(self) -> F64:
        """float [N] net PnL per asset: realised + unrealised - fees - funding; sums to ``equity - initial_cash``."""
        return self.realized + self.unrealized - self.fees - self.funding

    @property
    def fees_paid(self) -> float:
        """Every fee paid (quote); >= 0 unless maker rebates exceed the fees."""
        return total(self.fees)

    @property
    def slippage_paid(self) -> float:
        """Slippage paid (quote, >= 0), already inside the realised and unrealised PnL."""
        return total(self.slippage)

    @property
    def funding_paid(self) -> float:
        """Funding paid (quote, signed: < 0 when received)."""
        return total(self.funding)

    @property
    def gross_exposure(self) -> float:
        """sum(|notional|) / equity at the marks."""
        return total(np.abs(self.exposure))

    def totals(self) -> BasketTotals:
        """The account-wide totals, summed over the assets."""
        return BasketTotals(
            equity=self.equity,
            wins=self.wins,
            losses=self.losses,
            n_trades=self.n_trades,
            fees_paid=self.fees_paid,
            slippage_paid=self.slippage_paid,
            funding_paid=self.funding_paid,
            traded_notional=total(self.traded_notional),
            is_liquidated=self.is_liquidated,
            trades=tuple(t for log in self.trades for t in log),
        )

    # ------------------------------------------------------------------------------------------------ fills

    def _trade(
        self,
        assets: list[int],
        target: Floats,
        fill: Floats,
        slip: Floats,
        fee_rate: Floats,
        time_ms: int,
        reason: ExitReason,
        in_bar: bool,
        sl_pct: float | F64,
        tp_pct: float | F64,
    ) -> None:
        """Move the positions of ``assets`` (indices, ascending) to ``target`` at ``fill`` (close, reverse, reduce or
        increase); the float [N] arguments are lists or arrays.

        A reversal closes (recording the trade) and opens at the same price; fees are ``|target - qty| * fill *
        fee_rate``. ``fill``, ``slip`` and ``fee_rate`` must be finite for ``assets`` (the others are not
        read). ``in_bar`` marks exits after the bar's open (stops, intrabar liquidations), whose bar counts in
        ``bars_held``.

        Per asset in plain floats: on a few assets each NumPy call costs more than the arithmetic it runs, and
        this is the simulator's innermost step. The operations are the element-wise ones of the vectorised
        accounting, so the results are the same to the bit; the one sum (the wallet's) keeps NumPy's order.
        """
        qty = self.qty.tolist()
        entry = self.entry.tolist()
        stop = self.stop_price.tolist()
        take = self.take_profit_price.tolist()
        realized, fees, slippage, notional_sum = self.realized, self.fees, self.slippage, self.traded_notional
        pos_realized, pos_fees, pos_max = self._pos_realized, self._pos_fees, self._pos_max_qty
        no_stops = type(sl_pct) is float and type(tp_pct) is float and sl_pct <= 0.0 and tp_pct <= 0.0
        sl_all = None if isinstance(sl_pct, float) else np.broadcast_to(sl_pct, (self.n,)).tolist()
        tp_all = None if isinstance(tp_pct, float) else np.broadcast_to(tp_pct, (self.n,)).tolist()
        cash_flow = [0.0] * self.n
        opened: list[int] = []
        for i in assets:
            q, e, tgt, price, rate = qty[i], entry[i], float(target[i]), float(fill[i]), float(fee_rate[i])
            aq = abs(q)
            at = abs(tgt)
            size = abs(tgt - q)
            notional = size * price
            fee = notional * rate
            cross = q * tgt <= 0.0 and q != 0.0
            closed = q if cross else (q - tgt if at < aq else 0.0)
            gross = closed * (price - e)
            realized[i] += gross
            fees[i] += fee
            slippage[i] += size * float(slip[i])
            notional_sum[i] += notional
            cash_flow[i] = gross - fee
            pos_realized[i] += gross
            pos_fees[i] += fee
            held = 0.0 if cross else aq
            growing = at > held
            if growing:
                e = (held * e + (at - held) * price) / at
                long = tgt > 0.0
                if no_stops:
                    stop[i] = -_INF if long else _INF
                    take[i] = -stop[i]
                else:
                    self.stops_armed = True
                    side = 1.0 if long else -1.0
                    sl = float(sl_pct) if sl_all is None else sl_all[i]
                    tp = float(tp_pct) if tp_all is None else tp_all[i]
                    stop[i] = e * (1.0 - side * sl) if sl > 0.0 else -side * _INF
                    take[i] = e * (1.0 + side * tp) if tp > 0.0 else side * _INF
            if cross:
                open_fee = at * price * rate
                self._record(i, time_ms, price, float(pos_realized[i]), float(pos_fees[i] - open_fee), reason, in_bar)
                pos_realized[i] = 0.0
                pos_fees[i] = open_fee
                pos_max[i] = 0.0
                self.bars_in_position[i] = 0
                if tgt == 0.0:
                    e = 0.0
                    stop[i] = -_INF
                    take[i] = _INF
            if growing and (cross or q == 0.0):
                self.bars_in_position[i] = 0
                self._pos_open_time_ms[i] = time_ms
                opened.append(i)
            if at > pos_max[i]:
                pos_max[i] = at
            entry[i] = e
            qty[i] = tgt
        self.wallet += total_of(cash_flow)
        if opened and logger.isEnabledFor(logging.INFO):
            for i in opened:
                logger.info(
                    "Trade opened %s %s %.8g at %.8g",
                    self.symbols[i],
                    "long" if qty[i] > 0.0 else "short",
                    abs(qty[i]),
                    fill[i],
                )
        self.entry = np.array(entry)
        self.qty = np.array(qty)
        self.stop_price = np.array(stop)
        self.take_profit_price = np.array(take)

    def _record(
        self, i: int, time_ms: int, price: float, realized: float, fees: float, reason: ExitReason, in_bar: bool
    ) -> None:
        """Append asset ``i``'s closed trade to its log (its position state is reset by the caller)."""
        qty = float(self.qty[i])
        pnl = realized - fees
        side: Side = "long" if qty > 0.0 else "short"
        self.trades[i].append(
            new_trade(
                int(self._pos_open_time_ms[i]),
                time_ms,
                side,
                float(self._pos_max_qty[i]),
                float(self.entry[i]),
                price,
                fees,
                pnl,
                reason,
                int(self.bars_in_position[i]) + (1 if in_bar else 0),
            )
        )
        self.n_trades += 1
        if pnl > 0.0:
            self.wins += 1
        else:
            self.losses += 1
        self.last_exits.append((i, reason))
        logger.info(
            "Trade closed %s %s %.8g at %.8g, pnl %.8g, reason %s",
            self.symbols[i],
            side,
            self._pos_max_qty[i],
            price,
            pnl,
            reason,
        )

    def _absorb_deficit(self, losses: F64, closed: npt.NDArray[np.bool_]) -> None:
        """Floor a negative wallet at 0 (the insurance fund) once every position is closed.

        The deficit is credited to the assets in proportion to ``-losses`` (what each lost in the closing fills),
        in their realised PnL and in the trade just recorded for each (``closed``), so that both the attribution and
        the trade log keep summing to the equity change.
        """
        if self.wallet >= 0.0:
            return
        deficit = -self.wallet
        weights = np.where(closed, np.maximum(-losses, 0.0), 0.0)
        total = float(weights.sum())
        share = deficit * (weights / total if total > 0.0 else closed / max(int(np.count_nonzero(closed)), 1))
        self.realized += share
        self.wallet = 0.0
        for i in np.flatnonzero(closed).tolist():
            last = self.trades[i][-1]
            self.trades[i][-1] = dataclasses.replace(last, pnl=last.pnl + float(share[i]))

    def _floor_lots(self, raw: F64) -> F64:
        """Signed quantities rounded toward zero to each asset's lot step."""
        lot = self.rules.lot_step
        return np.copysign(np.floor(np.abs(raw) / lot + LOT_EPS) * lot, raw)
