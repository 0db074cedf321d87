"""The one rollout loop: a deterministic policy stepped through one evaluation episode of a TradingEnv.

Validation (:mod:`bot.training.validation`) and the backtest (:mod:`bot.evaluation.backtest`) both run episodes
through :func:`run_episode`, which records what each needs: one mark per bar (``TradingEnv.step_marks``; a step spans
``env.decision_every`` bars), the account's costs and trades, and the env's end-of-episode summary.

A position still open at the end of a run is marked at the run's last close (no exit cost is charged) and recorded
as a trade with exit reason ``open_at_end``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import gymnasium as gym
import numpy as np
import numpy.typing as npt

from bot.env import EpisodeBounds, TradingEnv
from bot.portfolio import Account
from bot.training.policy import Policy

#: Exit reason of a position still open when a gap-free run (or the split) ends.
OPEN_AT_END = "open_at_end"


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """A closed trade as the report draws it (times are bar open times, UTC ms)."""

    entry_time_ms: int
    exit_time_ms: int
    side: str
    entry_price: float
    exit_price: float
    pnl: float
    exit_reason: str


@dataclass(frozen=True, slots=True)
class Costs:
    """What a run paid and traded (quote amounts, except the order counts).

    :param fees: exchange fees paid (>= 0).
    :param slippage: slippage paid against the bars' prices (>= 0; inside the fill prices, reported on its own).
    :param funding: funding paid (signed: negative when funding was received).
    :param traded_notional: traded notional, valued at the fill bars' opens.
    :param limit_orders: limit orders placed (0 with market orders).
    :param limit_fills: limit orders filled.
    """

    fees: float = 0.0
    slippage: float = 0.0
    funding: float = 0.0
    traded_notional: float = 0.0
    limit_orders: int = 0
    limit_fills: int = 0

    @property
    def total(self) -> float:
        """Fees + slippage + funding: everything between the gross and the net PnL."""
        return self.fees + self.slippage + self.funding

    def scaled(self, factor: float) -> Costs:
        """The quote amounts times ``factor`` (an account chained onto a grown one); order counts unchanged."""
        return Costs(
            self.fees * factor,
            self.slippage * factor,
            self.funding * factor,
            self.traded_notional * factor,
            self.limit_orders,
            self.limit_fills,
        )

    def __add__(self, other: Costs) -> Costs:
        return Costs(
            self.fees + other.fees,
            self.slippage + other.slippage,
            self.funding + other.funding,
            self.traded_notional + other.traded_notional,
            self.limit_orders + other.limit_orders,
            self.limit_fills + other.limit_fills,
        )


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
    :param summary: the env's end-of-episode ``info`` (:func:`bot.env.stats.episode_summary` and the step's
        scalars); empty for runs simulated without an env (the baselines).
    """

    time_ms: npt.NDArray[np.int64]
    equity: npt.NDArray[np.float64]
    exposure: npt.NDArray[np.float64]
    price: npt.NDArray[np.float64]
    trades: list[TradeRecord] = field(default_factory=list)
    bars_held: list[int] = field(default_factory=list)
    costs: Costs = field(default_factory=Costs)
    bankrupt: bool = False
    summary: dict[str, Any] = field(default_factory=dict)


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


def run_episode(env: gym.Env[Any, Any], policy: Policy, episode: EpisodeBounds) -> Segment:
    """Run ``policy`` deterministically over one evaluation episode of ``env``.

    :param env: a TradingEnv with sequential episodes (``env.random_start=false``), or a wrapper of one: the steps go
        through the wrapper (a stop flag may end them), the marks and the account are read from the TradingEnv.
    :param policy: the policy; :meth:`~bot.training.policy.Policy.reset` is called before the first step.
    :param episode: one of ``TradingEnv.evaluation_episodes``.
    :return: the run's marks (decision row first), trades, costs and the env's episode summary.
    """
    trading_env = cast(TradingEnv, env.unwrapped)
    obs, info = env.reset(options={"start_index": episode.start, "end_index": episode.stop})
    policy.reset()
    market = trading_env.dataset.market
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
        obs, _, terminated, truncated, info = step(act(obs, trading_env.current_row))
        # one mark per bar: a step spans env.decision_every bars (fewer at the end of a run)
        for row, bar_equity, bar_exposure, new_position in trading_env.step_marks:
            i += 1
            if new_position != position:
                traded += abs(new_position - position) * float(opens[row])
                position = new_position
            times[i], equity[i], exposure[i], price[i] = open_ms[row], bar_equity, bar_exposure, closes[row]
        done = terminated or truncated
    pm = trading_env.portfolio
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
        summary=info,
    )
