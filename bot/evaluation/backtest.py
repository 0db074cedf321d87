"""Out-of-sample backtest: a policy run once over a whole split, gap-free run by gap-free run, with chained equity.

The agent runs inside the :class:`~bot.env.TradingEnv` itself, so its observations, DBE, PortfolioManager and costs are
exactly those of training. The split is covered by the env's evaluation episodes (one per gap-free run of bars, no
random starts); each starts a fresh account, so the runs are chained: every quote amount of run ``k`` (equity, trade
PnL, fees, traded notional) is multiplied by the equity growth of runs ``0 .. k-1``. The per-bar returns of the chained
curve are exactly the per-bar returns of the runs, and the first bar after a gap compounds on the last equity before it.
Costs (fees, slippage, funding) chain the same way, so ``gross - fees - slippage - funding == net`` holds for the
chained curve as it does for each account.

A position still open at the end of a run is marked at the run's last close (no exit cost is charged, as for the final
bar of the split) and recorded as a trade with exit reason ``open_at_end``. Only bankruptcy ends a run early (the
env's ``max_drawdown`` termination is lifted for evaluation by :func:`evaluation_config`); the curve then stops there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from bot.config import BotConfig
from bot.env import EpisodeBounds, TradingEnv
from bot.evaluation.fast_policy import Policy
from bot.evaluation.metrics import Costs, TradeStats, compute_metrics
from bot.evaluation.results import BacktestResult, TradeRecord
from bot.portfolio import Account

logger = logging.getLogger(__name__)

#: Exit reason of a position still open when a gap-free run (or the split) ends.
OPEN_AT_END = "open_at_end"


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
    return out


@dataclass(slots=True)
class Segment:
    """One gap-free run simulated on a fresh account (quote amounts in that account's units).

    :param time_ms: int64 [m] bar open times of the marks; the first is the decision row before the first trade.
    :param equity: float64 [m] equity at each bar's close, starting with the initial cash.
    :param exposure: float64 [m] signed exposure at each close.
    :param price: float64 [m] close prices.
    :param trades: closed trades, plus the position open at the end (``open_at_end``).
    :param bars_held: bars held of each trade, aligned with ``trades``.
    :param costs: fees, slippage, funding, traded notional and limit-order counts of the run's account.
    :param bankrupt: the run ended early because equity reached 0.
    """

    time_ms: npt.NDArray[np.int64]
    equity: npt.NDArray[np.float64]
    exposure: npt.NDArray[np.float64]
    price: npt.NDArray[np.float64]
    trades: list[TradeRecord] = field(default_factory=list)
    bars_held: list[int] = field(default_factory=list)
    costs: Costs = field(default_factory=Costs)
    bankrupt: bool = False


def account_costs(pm: Account, traded_notional: float) -> Costs:
    """The costs an account paid over a run, with the run's traded notional.

    :param pm: the account after the run.
    :param traded_notional: notional traded during the run (quote).
    """
    return Costs(
        fees=pm.fees_paid,
        slippage=pm.slippage_paid,
        funding=pm.funding_paid,
        traded_notional=traded_notional,
        limit_orders=pm.limit_orders,
        limit_fills=pm.limit_fills,
    )


def account_trades(pm: Account, times: npt.NDArray[np.int64], end_price: float) -> tuple[list[TradeRecord], list[int]]:
    """The account's closed trades plus its open position marked at ``end_price`` (an ``open_at_end`` trade).

    :param pm: the account after the run.
    :param times: int64 [m] open times of the run's marks (the last is the final bar).
    :param end_price: the final close.
    :return: the trade records and their bars held.
    """
    trades = [
        TradeRecord(t.entry_time_ms, t.exit_time_ms, t.side, t.entry_price, t.exit_price, t.pnl, t.exit_reason)
        for t in pm.trades
    ]
    held = [t.bars_held for t in pm.trades]
    if pm.position_qty != 0.0:
        side = "long" if pm.position_qty > 0.0 else "short"
        # held for bars_in_position bars, the last being the final mark: it was entered at that many marks before
        entry_ms = int(times[max(0, times.size - pm.bars_in_position)])
        trades.append(
            TradeRecord(entry_ms, int(times[-1]), side, pm.entry_price, end_price, pm.open_trade_pnl, OPEN_AT_END)
        )
        held.append(pm.bars_in_position)
    return trades, held


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


def run_episode(env: TradingEnv, policy: Policy, episode: EpisodeBounds) -> Segment:
    """Run ``policy`` deterministically over one evaluation episode of ``env``.

    :param env: a TradingEnv built from :func:`evaluation_config`.
    :param policy: the policy.
    :param episode: one of ``env.evaluation_episodes``.
    :return: the run's marks (decision row first), trades and costs.
    """
    obs, info = env.reset(options={"start_index": episode.start, "end_index": episode.stop})
    market = env.dataset.market
    opens, closes, open_ms = market.open, market.close, market.open_time_ms
    n = episode.n_steps + 1
    times = np.empty(n, dtype=np.int64)
    equity = np.empty(n, dtype=np.float64)
    exposure = np.empty(n, dtype=np.float64)
    price = np.empty(n, dtype=np.float64)
    times[0], equity[0], exposure[0], price[0] = info["time_ms"], info["equity"], info["exposure"], info["price"]
    traded = 0.0
    position = 0.0
    i = 0
    done = False
    act = policy.act
    step = env.step
    while not done:
        obs, _, terminated, truncated, info = step(act(obs, env.current_row))
        # one mark per bar: a step spans env.decision_every bars (fewer at the end of a run)
        for row, bar_equity, bar_exposure, new_position in env.step_marks:
            i += 1
            if new_position != position:
                traded += abs(new_position - position) * float(opens[row])
                position = new_position
            times[i], equity[i], exposure[i], price[i] = open_ms[row], bar_equity, bar_exposure, closes[row]
        done = terminated or truncated
    pm = env.portfolio
    trades, held = account_trades(pm, times[: i + 1], float(price[i]))
    return Segment(
        times[: i + 1],
        equity[: i + 1],
        exposure[: i + 1],
        price[: i + 1],
        trades,
        held,
        account_costs(pm, traded),
        bankrupt=pm.equity <= 0.0,
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
