"""Simulated portfolio: cash, one position, market orders at the next bar's open, SL/TP, funding, liquidation;
:class:`BasketPortfolio` is one margin account over N assets (:mod:`bot.portfolio.basket`).

Shared by the env, the backtest and the dry-run broker so that all three agree trade for trade.
See :mod:`bot.portfolio.manager` for the time contract and the rebalance rule, :mod:`bot.portfolio.account` for the
accounting identity.

Notes for callers:

- ``process_bar`` trades only when the requested exposure (``target_exposure * size_fraction * leverage``) differs
  from the previous bar's, or when flat with a non-zero request (re-entry one bar after a stop, take profit,
  liquidation or max-holding exit). Equity drift alone never rebalances. A changing ``size_fraction`` from the DBE
  therefore resizes the position.
- Added read-only state: ``slippage_paid``, ``wallet``, ``initial_cash``, ``open_trade_pnl`` (net PnL of the open
  position), ``stop_loss_price``, ``take_profit_price``, ``liquidation_price`` (+-inf when disabled or flat).
- ``funding_paid`` is signed (negative when a short received funding); ``fees_paid`` and ``slippage_paid`` are >= 0.
- ``last_trade_pnl`` / ``last_exit_reason`` describe the last trade closed during the last ``process_bar`` (on a
  reversal bar that is the closed leg; ``None`` / ``""`` when none closed).
- ``process_bar`` is one compiled (numba) call over the account's state array (:mod:`bot.portfolio.bar_kernel`);
  the attributes read that array as plain Python floats and ints, whatever the caller passed.
- ``process_bar`` raises ``ValueError`` when ``|target| * size * leverage > max_leverage``, size < 0 or NaN (the
  account is left unchanged).
"""

from bot.portfolio.account import Account
from bot.portfolio.basket import AssetRules, BasketPortfolio
from bot.portfolio.fees import CostModel, floor_to_step
from bot.portfolio.manager import FUNDING_INTERVAL_MS, PortfolioManager, events_logged
from bot.portfolio.margin import liquidation_price
from bot.portfolio.metrics import (
    DAY_MS,
    YEAR_MS,
    cagr,
    cost_drag,
    drawdown_series,
    max_drawdown_duration,
    periods_per_year,
    sharpe_ratio,
    simple_returns,
    sortino_ratio,
)
from bot.portfolio.trade import EXIT_REASONS, ExitReason, Side, Trade

__all__ = [
    "DAY_MS", "EXIT_REASONS", "FUNDING_INTERVAL_MS", "YEAR_MS", "Account", "AssetRules", "BasketPortfolio", "CostModel",
    "ExitReason", "PortfolioManager", "Side", "Trade", "cagr", "cost_drag", "drawdown_series", "events_logged",
    "floor_to_step",
    "liquidation_price", "max_drawdown_duration", "periods_per_year", "sharpe_ratio", "simple_returns", "sortino_ratio",

]
