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

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bot.config import PortfolioConfig
from bot.portfolio import basket_kernel as kernel
from bot.portfolio.basket_bar import mark_account
from bot.portfolio.trade import EXIT_REASONS, ExitReason, Trade, trade_of_record

logger = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]
_INF = float("inf")


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

    :param bars_held: the ``bars_held`` of every asset's closed trades, summed.
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
    bars_held: int


class BasketAccount:
    """Shared wallet, per-asset positions and trade logs, held in the arrays of the compiled kernel.

    :class:`~bot.portfolio.basket.BasketPortfolio` drives it bar by bar through :mod:`bot.portfolio.basket_bar`.
    Read-only state: the float64 [N] arrays ``qty``, ``entry``, ``mark`` (last known close), ``realized``, ``fees``,
    ``slippage``, ``funding`` (signed), ``traded_notional``, ``stop_price``, ``take_profit_price``, ``exposure``
    (signed notional / equity) and ``bars_in_position`` (int64), updated in place by each bar; the scalars
    ``wallet``, ``equity``, ``peak_equity``, ``drawdown``, ``is_liquidated``, ``n_trades``, ``wins``, ``losses``,
    ``limit_orders``, ``limit_fills``; ``trades`` (one list of :class:`~bot.portfolio.trade.Trade` per asset) and
    ``last_exits`` (``(asset, reason)`` closed during the last bar).

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
        n = self.n = len(self.symbols)
        self.rules = rules if rules is not None else AssetRules.from_config(cfg, self.symbols)
        self.is_spot = cfg.market == "spot"
        self.leverage = 1.0 if self.is_spot else float(cfg.leverage)
        #: gross exposure cap: sum(|weight|) x leverage may not exceed it (spot: 1, long only).
        self.max_gross = 1.0 if self.is_spot else float(cfg.max_leverage)
        self.initial_cash = float(cfg.initial_cash)
        r = self.rules
        self._rules = np.ascontiguousarray(np.stack([r.lot_step, r.min_notional, r.taker_fee, r.maker_fee]))
        params = np.zeros(kernel.N_PARAMS)
        params[kernel.IS_SPOT] = float(self.is_spot)
        params[kernel.LEVERAGE] = self.leverage
        params[kernel.MAX_GROSS] = self.max_gross
        params[kernel.SLIP_FRAC] = cfg.slippage_bps / 1e4
        params[kernel.RANGE_FRAC] = float(cfg.slippage_range_frac)
        params[kernel.MM] = 0.0 if self.is_spot else float(cfg.maintenance_margin)
        params[kernel.FUNDING_RATE] = 0.0 if self.is_spot else float(cfg.funding_rate_8h)
        params[kernel.LIMIT] = float(cfg.order_type == "limit")
        params[kernel.LIMIT_OFFSET] = float(cfg.limit_offset)
        params[kernel.REPOST] = float(cfg.limit_unfilled == "repost")
        params[kernel.MAX_HOLD] = float(cfg.max_holding_bars)
        self._params = params
        # the kernel's state; the public arrays are views of its rows, written in place
        self._f = np.zeros((kernel.N_FLOAT_ROWS, n))
        self._k = np.zeros((2, n), dtype=np.int64)
        self._acct = np.zeros(kernel.N_ACCT)
        self._cnt = np.zeros(kernel.N_CNT, dtype=np.int64)
        self.pending = np.zeros(n, dtype=bool)
        f = self._f
        self.qty, self.entry, self.mark, self.realized = (
            f[kernel.QTY],
            f[kernel.ENTRY],
            f[kernel.MARK],
            f[kernel.REALIZED],
        )
        self.fees, self.slippage, self.funding, self.traded_notional = (
            f[kernel.FEES],
            f[kernel.SLIPPAGE],
            f[kernel.FUNDING],
            f[kernel.NOTIONAL],
        )
        self.stop_price, self.take_profit_price, self.exposure = f[kernel.STOP], f[kernel.TAKE], f[kernel.EXPOSURE]
        self.last_exposure = f[kernel.LAST_EXPOSURE]
        self._pos_fees, self._pos_realized, self._pos_max_qty = (
            f[kernel.POS_FEES],
            f[kernel.POS_REALIZED],
            f[kernel.POS_MAX],
        )
        self.bars_in_position, self._pos_open_time_ms = self._k[kernel.BARS], self._k[kernel.OPEN_TIME]
        # closed trades as rows (built into Trade objects when read), with room for every exit of a bar; the events
        # of the last bar for the log
        self._room = 3 * n + 1
        self._rec = np.zeros((max(1024, 4 * self._room), kernel.N_RECORD_COLS))
        self._ev = np.zeros((4 * n + 2, 4))
        self._trades: list[list[Trade]] = []
        self._built = 0
        # the bar's default tradable mask and the one-value stop and take-profit distances
        self._every = np.ones(n, dtype=bool)
        self._sl_one = np.zeros(1)
        self._tp_one = np.zeros(1)
        self._state = self._kernel_state()
        #: the kernel's float [rows, N], int [2, N] and account-scalar state arrays (rows and slots named in
        #: :mod:`bot.portfolio.basket_kernel`), for compiled readers such as the portfolio env's observation.
        self.kernel_arrays = (self._f, self._k, self._acct)
        self.reset()

    # ------------------------------------------------------------------------------------------------ state

    def reset(self, reference_prices: npt.ArrayLike | None = None) -> None:
        """Start a new episode: initial cash, every asset flat, empty trade logs, counters at 0.

        :param reference_prices: float [N] closes of the bar before the first processed bar (the marks of assets
            without a bar yet and the base of the first limit prices); None = unknown (the first bars stand in).
        """
        f = self._f
        f[:] = 0.0
        f[kernel.STOP] = -_INF
        f[kernel.TAKE] = _INF
        # 0 stands for an unknown mark: only flat assets (never traded yet) have one
        if reference_prices is not None:
            f[kernel.MARK] = np.nan_to_num(np.asarray(reference_prices, dtype=np.float64))
        self._k[:] = 0
        self.pending[:] = False
        self._acct[:] = 0.0
        self._acct[[kernel.WALLET, kernel.PEAK]] = self.initial_cash
        self._cnt[:] = 0
        self._cnt[kernel.FUNDING_EPOCH] = -1
        self._trades = [[] for _ in range(self.n)]
        self._built = 0
        mark_account(self._f, self._acct, self._params)
        self._sync()

    def _sync(self) -> None:
        """Copy the kernel's scalars into plain attributes (read many times a step; only the kernel writes them)."""
        (
            self.wallet,
            self.equity,
            self.peak_equity,
            self.drawdown,
            self._cash,
            self._gross,
            self._fees_paid,
            self._slippage_paid,
            self._funding_paid,
            self._notional_paid,
        ) = self._acct.tolist()
        counts = self._cnt.tolist()
        self.n_trades, self.wins, self.losses, self.limit_orders, self.limit_fills = counts[: kernel.FUNDING_EPOCH]
        self.is_liquidated = counts[kernel.LIQUIDATED] != 0
        #: True once a position was given a stop loss or take profit (until then the bar skips the trigger checks).
        self.stops_armed = counts[kernel.STOPS_ARMED] != 0
        self._n_records = counts[kernel.N_RECORDS]
        self._bar_records = counts[kernel.BAR_RECORDS]
        if counts[kernel.N_EVENTS] and logger.isEnabledFor(logging.INFO):
            self._log_events(counts[kernel.N_EVENTS])

    def _reserve(self) -> None:
        """Make room in the trade records for every exit one more bar can write."""
        if self._rec.shape[0] - self._n_records < self._room:
            self._rec = np.concatenate([self._rec, np.zeros_like(self._rec)])
            self._state = self._kernel_state()

    def _kernel_state(self) -> kernel.State:
        """The arrays the kernels take first, in :mod:`bot.portfolio.basket_kernel`'s order."""
        return (self._f, self._k, self.pending, self._acct, self._cnt, self._rec, self._ev, self._rules, self._params)

    @property
    def trades(self) -> list[list[Trade]]:
        """One list of closed :class:`~bot.portfolio.trade.Trade` per asset, in the order they closed."""
        if self._built < self._n_records:
            logs = self._trades
            for row in self._rec[self._built : self._n_records].tolist():
                logs[int(row[kernel.R_ASSET])].append(_trade_of(row))
            self._built = self._n_records
        return self._trades

    @property
    def last_exits(self) -> list[tuple[int, ExitReason]]:
        """``(asset, reason)`` of every trade closed during the last bar, in order."""
        rows = self._rec[int(self._cnt[kernel.BAR_RECORDS]) : self._n_records].tolist()
        return [(int(row[kernel.R_ASSET]), EXIT_REASONS[int(row[kernel.R_REASON])]) for row in rows]

    @property
    def last_exit_pnls(self) -> list[tuple[int, float]]:
        """``(asset, net PnL)`` of every trade closed during the last bar, in order: what :attr:`last_exits` and the
        trades' ``pnl`` say, read without building the :class:`~bot.portfolio.trade.Trade` objects."""
        if self._n_records == self._bar_records:
            return []
        asset, pnl = kernel.R_ASSET, kernel.R_PNL
        return [(int(row[asset]), row[pnl]) for row in self._rec[self._bar_records : self._n_records].tolist()]

    @property
    def cash(self) -> float:
        """Perpetual: the margin balance (wallet). Spot: the quote balance, ``wallet - sum(qty * entry)``."""
        return self._cash

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
        return self._fees_paid

    @property
    def slippage_paid(self) -> float:
        """Slippage paid (quote, >= 0), already inside the realised and unrealised PnL."""
        return self._slippage_paid

    @property
    def funding_paid(self) -> float:
        """Funding paid (quote, signed: < 0 when received)."""
        return self._funding_paid

    @property
    def notional_paid(self) -> float:
        """Notional traded over every asset (quote), ``sum(traded_notional)``."""
        return self._notional_paid

    @property
    def gross_exposure(self) -> float:
        """sum(|notional|) / equity at the marks."""
        return self._gross

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
            traded_notional=self._notional_paid,
            is_liquidated=self.is_liquidated,
            bars_held=sum(t.bars_held for log in self.trades for t in log),
        )

    def _log_events(self, count: int) -> None:
        """Log the last bar's opened and closed trades and liquidation, in the order they happened."""
        liquidated: list[str] = []
        for kind, a, b, c in self._ev[:count].tolist():
            if kind == kernel.EV_OPENED:
                side = "long" if b > 0.0 else "short"
                logger.info("Trade opened %s %s %.8g at %.8g", self.symbols[int(a)], side, abs(b), c)
            elif kind == kernel.EV_CLOSED:
                t = _trade_of(self._rec[int(a)].tolist())
                symbol = self.symbols[int(self._rec[int(a), kernel.R_ASSET])]
                if t.exit_reason == "liquidation":
                    liquidated.append(symbol)
                logger.info(
                    "Trade closed %s %s %.8g at %.8g, pnl %.8g, reason %s",
                    symbol,
                    t.side,
                    t.qty,
                    t.exit_price,
                    t.pnl,
                    t.exit_reason,
                )
            else:
                where = "inside the bar" if a else "at the open"
                logger.info("Liquidation of the account (%s) %s, equity left %.8g", ", ".join(liquidated), where, b)


def _trade_of(row: list[float]) -> Trade:
    """The :class:`~bot.portfolio.trade.Trade` of one closed-trade record (its columns in ``R_*`` order)."""
    return trade_of_record(row[1:])
