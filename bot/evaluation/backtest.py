"""Out-of-sample backtest: a policy run once over a whole split, gap-free run by gap-free run, with chained equity.

The agent runs inside the :class:`~bot.env.TradingEnv` itself, so its observations, DBE, PortfolioManager and costs are
exactly those of training. The split is covered by the env's evaluation episodes (one per gap-free run of bars, no
random starts); each starts a fresh account, so the runs are chained: every quote amount of run ``k`` (equity, trade
PnL, fees, traded notional) is multiplied by the equity growth of runs ``0 .. k-1``. The per-bar returns of the chained
curve are exactly the per-bar returns of the runs, and the first bar after a gap compounds on the last equity before it.
Costs (fees, slippage, funding) chain the same way, so ``gross - fees - slippage - funding == net`` holds for the
chained curve as it does for each account.

Each run is one :func:`bot.training.rollout.run_episode` (the loop validation runs too). A position still open at
the end of a run is marked at the run's last close (no exit cost is charged, as for the final bar of the split) and
recorded as a trade with exit reason ``open_at_end``. Only bankruptcy ends a run early (the env's ``max_drawdown``
termination is lifted for evaluation by :func:`evaluation_config`); the curve then stops there.
"""

from __future__ import annotations

import logging

import numpy as np

from bot.config import BotConfig
from bot.env import TradingEnv
from bot.evaluation.metrics import TradeStats, compute_metrics
from bot.evaluation.results import BacktestResult
from bot.training import Costs, Policy, Segment, TradeRecord, run_episode

logger = logging.getLogger(__name__)


def evaluation_config(cfg: BotConfig, zero_costs: bool = False) -> BotConfig:
    """A copy of ``cfg`` for backtests: sequential episodes, no drawdown termination, optionally zero costs.

    :param cfg: the model's (or the user's) config.
    :param zero_costs: set fees and slippage to 0 (funding is kept: it is a carry, not an execution cost).
    """
    out = cfg.model_copy(deep=True)
    out.env.random_start = False
    out.env.max_drawdown = 1.0
    if zero_costs:
        out.portfolio.taker_fee = 0.0
        out.portfolio.maker_fee = 0.0
        out.portfolio.slippage_bps = 0.0
        out.portfolio.slippage_range_frac = 0.0
        for costs in out.portfolio.assets.values():  # per-symbol fees too
            costs.taker_fee = 0.0 if costs.taker_fee is not None else None
            costs.maker_fee = 0.0 if costs.maker_fee is not None else None
    return out


def chain_segments(segments: list[Segment], name: str, timeframe: str, risk_free_annual: float = 0.0) -> BacktestResult:
    """Chain the runs of one policy into one curve and compute its metrics (see the module docstring).

    :param segments: the runs in time order, each starting at the same initial cash.
    :param name: policy name.
    :param timeframe: bar timeframe (annualisation).
    :param risk_free_annual: annual risk-free rate for Sharpe and Sortino.
    :raises ValueError: when no segment is given.
    """
    if not segments:
        raise ValueError(f"policy {name!r}: no gap-free run to backtest")
    initial = float(segments[0].equity[0])
    scale = 1.0
    times, equity, exposure, price = [], [], [], []
    trades: list[TradeRecord] = []
    stats: list[TradeStats] = []
    costs = Costs()
    for k, seg in enumerate(segments):
        first = 0 if k == 0 else 1  # a later run's opening mark repeats the previous run's final equity
        times.append(seg.time_ms[first:])
        equity.append(seg.equity[first:] * scale)
        exposure.append(seg.exposure[first:])
        price.append(seg.price[first:])
        for trade, bars in zip(seg.trades, seg.bars_held, strict=True):
            trades.append(_scaled(trade, scale))
            stats.append(TradeStats(trade.pnl * scale, bars))
        costs = costs + seg.costs.scaled(scale)
        scale *= float(seg.equity[-1]) / initial
        if seg.bankrupt or scale <= 0.0:
            logger.warning("Policy %s went bankrupt at bar %d; the backtest stops there", name, int(seg.time_ms[-1]))
            break
    eq = np.concatenate(equity)
    ex = np.concatenate(exposure)
    metrics = compute_metrics(eq, ex, stats, costs, timeframe, risk_free_annual)
    return BacktestResult(
        name, np.concatenate(times).astype(np.int64), eq, ex, np.concatenate(price), tuple(trades), metrics
    )


def _scaled(trade: TradeRecord, scale: float) -> TradeRecord:
    if scale == 1.0:
        return trade
    return TradeRecord(
        trade.entry_time_ms,
        trade.exit_time_ms,
        trade.side,
        trade.entry_price,
        trade.exit_price,
        trade.pnl * scale,
        trade.exit_reason,
    )


def decision_rows(env: TradingEnv) -> range:
    """The smallest row range covering every decision row of the env's evaluation episodes."""
    episodes = env.evaluation_episodes
    return range(episodes[0].start, episodes[-1].stop)


def run_agent(env: TradingEnv, policy: Policy, name: str = "agent", risk_free_annual: float = 0.0) -> BacktestResult:
    """Backtest ``policy`` over every evaluation episode of ``env`` and chain the runs.

    :param env: a TradingEnv built from :func:`evaluation_config` over the split to evaluate.
    :param policy: the (deterministic) policy.
    :param name: the result's name.
    :param risk_free_annual: annual risk-free rate for Sharpe and Sortino.
    """
    segments: list[Segment] = []
    for episode in env.evaluation_episodes:
        segment = run_episode(env, policy, episode)
        segments.append(segment)
        if segment.bankrupt:
            break
    timeframe = env.cfg.data.base_timeframe
    return chain_segments(segments, name, timeframe, risk_free_annual)


def episode_rows(env: TradingEnv) -> list[range]:
    """The evaluation episodes as row ranges (what the baselines simulate, so every policy trades the same bars)."""
    return [range(e.start, e.stop) for e in env.evaluation_episodes]
