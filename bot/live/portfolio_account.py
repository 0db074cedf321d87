"""The one shared account of a live portfolio: its equity over every symbol, the brokers that size from it, the
portfolio observation built as :class:`~bot.env.PortfolioEnv` builds it, and the account-level kill switch.

Each symbol keeps its own :class:`~bot.live.ccxt_broker.CcxtBroker` (its market rules, orders, client ids, history),
but all of them trade one exchange wallet: the account's equity is the wallet plus every position's value
(perpetuals: unrealised PnL; spot: base x price), and each symbol's orders are sized from that equity
(:class:`AccountBroker`), as the env's :class:`~bot.portfolio.BasketPortfolio` sizes ``weight x leverage x equity``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from bot.config import LiveConfig, PortfolioConfig
from bot.env import observe_positions
from bot.errors import DataError
from bot.exchange import Exchange, RetryPolicy
from bot.live.broker import AccountState, Broker
from bot.live.ccxt_broker import CcxtBroker
from bot.live.observation import LiveMarket, Obs, ObservationBuilder
from bot.live.risk import AccountTracker
from bot.live.sizing import FEE_RESERVE

logger = logging.getLogger(__name__)


class PortfolioBroker(Broker, Protocol):
    """What the portfolio trader needs of a symbol's broker besides :class:`~bot.live.broker.Broker`: the symbol's own
    view of the account (:meth:`position`), what the other positions add to its equity (``others_value``, set
    before each execution) and its portfolio section (its fees)."""

    portfolio: PortfolioConfig
    others_value: float

    def position(self, mark_price: float) -> AccountState:
        """The cash plus this symbol's position value, marked at ``mark_price``."""
        ...


class AccountBroker(CcxtBroker):
    """One symbol's broker in a portfolio: its account's equity is the whole account's, so :meth:`execute` sizes
    ``target x leverage x account equity`` (the basket's rule) and caps it with the symbol's own rules.

    :attr:`others_value` is what the account's other positions add to the equity; the portfolio trader sets it
    before each execution.
    """

    def __init__(
        self, exchange: Exchange, live: LiveConfig, portfolio: PortfolioConfig, retry_policy: RetryPolicy
    ) -> None:
        super().__init__(exchange, live, portfolio, retry_policy)
        self.others_value = 0.0

    def fetch_account(self, mark_price: float) -> AccountState:
        """The symbol's position with the account's equity (wallet + every position's value)."""
        own = self.position(mark_price)
        return dataclasses.replace(own, equity=own.equity + self.others_value)

    def position(self, mark_price: float) -> AccountState:
        """The symbol's own view: wallet (its ``cash``) + this position's value, marked at ``mark_price``."""
        return super().fetch_account(mark_price)


@dataclass(frozen=True, slots=True)
class AccountView:
    """The shared account at one bar close.

    :param equity: wallet + every position's value, quote.
    :param cash: the wallet (perpetuals) or free quote balance (spot).
    :param positions: each symbol's own :meth:`AccountBroker.position`, in the portfolio's order.
    """

    equity: float
    cash: float
    positions: tuple[AccountState, ...]

    @classmethod
    def of(cls, positions: Sequence[AccountState]) -> AccountView:
        """The account of the symbols' positions (each one's ``cash`` is the same wallet)."""
        cash = positions[0].cash
        return cls(cash + sum(p.equity - p.cash for p in positions), cash, tuple(positions))

    def value_besides(self, i: int) -> float:
        """What every position but the ``i``-th adds to the equity."""
        return sum(p.equity - p.cash for k, p in enumerate(self.positions) if k != i)

    def with_position(self, i: int, position: AccountState) -> AccountView:
        """The view after symbol ``i``'s position changed (fills move its value into the wallet)."""
        positions = (*self.positions[:i], position, *self.positions[i + 1 :])
        return AccountView.of(positions)

    def account_state(self, i: int) -> AccountState:
        """Symbol ``i``'s position carrying the account's equity (snapshots, the position cap)."""
        return dataclasses.replace(self.positions[i], equity=self.equity)

    def exposures(self) -> npt.NDArray[np.float64]:
        """float [N] each position's signed notional / account equity (0 when the equity is not positive)."""
        if self.equity <= 0.0:
            return np.zeros(len(self.positions))
        return np.array([p.position_qty * p.mark_price / self.equity for p in self.positions])


def basket_observation(
    market: npt.NDArray[np.float32],
    tradable: npt.NDArray[np.bool_],
    view: AccountView,
    bars_in_position: Sequence[int],
    time_scale: float,
    drawdown: float,
    reference_equity: float,
) -> Obs:
    """The portfolio env's observation (:mod:`bot.env.portfolio_spaces`) from the live account.

    :param market: float32 [N, window, F], zeros for a symbol that cannot be observed.
    :param tradable: bool [N] symbols observable (and so tradable) at this close.
    :param bars_in_position: bars each position has been held.
    :param time_scale: ``1 / (env.episode_length x env.decision_every)``.
    :param drawdown: the account's drawdown from the observation's peak (:class:`~bot.env.ObservationReferences`).
    :param reference_equity: the equity the observation's log return is measured from.
    """
    exposure = view.exposures()
    assets, account = observe_positions(
        tradable,
        np.array([(p.position_qty, p.mark_price, p.entry_price) for p in view.positions]),
        exposure,
        np.asarray(bars_in_position, np.int64),
        (view.equity, view.cash, drawdown, float(np.abs(exposure).sum())),
        reference_equity,
        time_scale,
    )
    return {"market": market, "assets": assets, "account": account}


def kill_reason(tracker: AccountTracker, view: AccountView, symbols: Sequence[str], live: LiveConfig) -> str:
    """Why the account kill switch trips now ('' when it does not): the account's daily loss past
    ``live.max_daily_loss``, or a symbol's position notional past ``live.max_position_notional``.

    :param tracker: the account's tracker (day-start equity), updated at this bar.
    """
    flat = AccountState(view.equity, view.cash, 0.0, 0.0, 0.0, 0.0)
    reason = tracker.kill_reason(flat, live)
    if reason:
        return f"account {reason}"
    for i, symbol in enumerate(symbols):
        reason = tracker.kill_reason(view.account_state(i), live)
        if reason:
            return f"{symbol}: {reason}"
    return ""


def execution_order(targets: npt.NDArray[np.float64], view: AccountView) -> list[int]:
    """Symbol indices in the order their orders go out: the largest reductions of exposure first, so that the margin
    they free is there for the openings (the exchange checks margin over the whole account)."""
    change = np.abs(targets) - np.abs(view.exposures())
    return [int(i) for i in np.argsort(change, kind="stable")]


def within_margin(
    weights: npt.NDArray[np.float64],
    tradable: npt.NDArray[np.bool_],
    view: AccountView,
    leverage: float,
    taker_fee: float,
) -> npt.NDArray[np.float64]:
    """The target weights scaled down, when needed, so that the whole book fits the exchange's margin with its fee
    reserve: the single-symbol cap ``notional <= equity / (1 / leverage + FEE_RESERVE x taker_fee)`` applied to the
    gross (a masked symbol counts with the position it keeps). The env's weights reach a gross of exactly 1 whenever
    the action's exceeds it; unscaled, the last opening order would be refused for margin.

    :param weights: float [N] the policy's target weights (gross <= 1).
    :param tradable: bool [N] the symbols that trade at this decision.
    """
    cap = 1.0 / (1.0 + FEE_RESERVE * taker_fee * leverage)
    kept = np.abs(view.exposures())[~tradable].sum() / leverage
    moving = float(np.abs(weights[tradable]).sum())
    if kept + moving <= cap or moving <= 0.0:
        return weights
    scale = max(cap - kept, 0.0) / moving
    return np.where(tradable, weights * scale, weights)


def market_windows(
    builders: Sequence[ObservationBuilder], lives: Sequence[LiveMarket | None], bar_ms: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """The observation's ``market`` [N, window, F] and which symbols it can observe: each symbol's newest window
    (its own scaler); zeros, masked, for one without fresh candles (``None``) or whose window is in an indicator
    warm-up or spans a gap."""
    window, n_features = builders[0].window, len(builders[0].scaler.feature_names)
    market = np.zeros((len(builders), window, n_features), np.float32)
    tradable = np.zeros(len(builders), dtype=bool)
    for i, (builder, live) in enumerate(zip(builders, lives, strict=True)):
        if live is None:
            continue
        try:
            market[i] = builder.market_window(live)
            tradable[i] = True
        except DataError as e:
            logger.warning("%s masked at bar %d: %s", builder.cfg.live.symbol, bar_ms, e)
    return market, tradable
