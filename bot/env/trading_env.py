"""``TradingEnv``: the gymnasium environment that trains and evaluates the agents on one split of a :class:`Dataset`.

Time (DESIGN.md): the agent observes at the CLOSE of bar ``t`` and picks a target exposure; the
:class:`~bot.portfolio.PortfolioManager` executes it inside bar ``t + 1`` (fill at its open with slippage, or a
post-only limit order resting through it; SL/TP from its high/low, funding, liquidation, mark at its close); the next
observation is at the close of ``t + 1`` and the reward comes from the change of equity, which is net of every cost.
Episodes never cross a data gap (:mod:`bot.env.episode`).

Decision controls (each off by default): with ``env.decision_every = N`` one step spans N bars, simulated one by one
(only the first places an order; stops, liquidation and funding act on every bar) and the observation comes at the
last one's close; ``portfolio.min_holding_bars`` keeps the policy from closing or reversing a young position;
``env.rebalance_threshold`` is a no-trade band around the held target; ``env.turnover_penalty`` subtracts
``reward_scale * penalty * notional traded / equity`` from the reward; ``env.action_mode = delta`` makes the actions
hold / step up / step down / flat. The DBE's size is taken when the target changes (a mode change alone never trades).

Observation ``Dict``:

- ``market``: float32 [window, n_features], rows ``t - window + 1 .. t`` of ``Dataset.obs_features`` (every timeframe's
  normalised features aligned to the base clock, oldest row first, the current bar last).
- ``portfolio``: float32 [12], in the order of :data:`~bot.env.spaces.PORTFOLIO_FEATURES`:

  0. ``exposure``: signed position notional / equity (1 = fully long at leverage 1).
  1. ``unrealized_pnl_frac``: unrealised PnL / equity.
  2. ``cash_frac``: cash / equity (perpetual: margin balance; spot: quote balance).
  3. ``time_in_position``: bars in the current position / (``env.episode_length x env.decision_every``), capped at 1.
  4. ``drawdown``: 1 - equity / peak equity since the reference restarted.
  5-7. ``dbe_defensive``, ``dbe_neutral``, ``dbe_aggressive``: one-hot DBE mode.
  8. ``dbe_stop_loss``: the DBE's stop-loss distance / ``dbe.stop_loss.high``.
  9. ``dbe_take_profit``: the DBE's take-profit distance / ``dbe.take_profit.high``.
  10. ``dbe_size``: the DBE's size fraction.
  11. ``equity_log_return``: log(equity / the reference equity).

  The drawdown and the reference equity restart every ``env.episode_length x env.decision_every`` bars (never inside
  a training episode), so a months-long evaluation shows the agent the same ranges that training did.

  Entries 0-2 and 11 are clipped to +-``PORTFOLIO_BOUND`` (10), which only an account near ruin reaches; with
  equity <= 0 the fractions are 0 and entry 11 is ``log(MIN_EQUITY_RATIO)``.

``info`` (plain Python scalars only, every step): ``equity``, ``return`` (this step's simple equity return),
``position`` (signed base quantity), ``exposure``, ``fees_paid``, ``trades`` (closed trades this episode),
``drawdown``, ``dbe_mode`` (0 defensive, 1 neutral, 2 aggressive), ``worker_id``, ``time_ms`` (OPEN time of bar t,
the bar just traded and observed at its close), ``price`` (its close), the cumulative ``slippage_paid``,
``funding_paid`` and ``traded_notional`` (quote) and ``bars`` (bars this step spanned; per-bar marks are in
:attr:`TradingEnv.step_marks`). The last step of an episode adds the
:func:`~bot.env.stats.episode_summary` scalars (``episode_return``, ``final_equity``, ``sharpe``, ``max_drawdown``,
``win_rate``, ``exposure_mean``, ``episode_steps`` (bars), ``liquidated``, ``bankrupt`` and the cost diagnostics
``turnover_per_day``, ``cost_share_equity``, ``cost_drag``, ``trades_per_day``, ``avg_holding_bars``).

Every ``step`` returns a new observation dict, new arrays and a new info dict: SB3 vec envs keep references to the
terminal observation and write ``terminal_observation`` into the info, so reusing these objects is not safe.
"""

from __future__ import annotations

import logging
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium.utils import seeding

from bot.config import BotConfig
from bot.data import Dataset
from bot.env.account_obs import AccountInfo
from bot.env.decisions import DecisionControls, ObservationReferences
from bot.env.episode import EpisodeBounds, EpisodeSampler, split_range
from bot.env.portfolio_obs import PortfolioObservation
from bot.env.rewards import LogReturnReward, make_reward
from bot.env.shared_rows import make_dbe, market_rows
from bot.env.spaces import PORTFOLIO_FEATURES, ActionMapper, market_bound, observation_space
from bot.env.stats import (
    DRAWDOWN_ROW,
    EQUITY_ROW,
    QTY_ROW,
    ROW,
    BarRecord,
    EpisodeAccumulator,
    accumulate,
    episode_summary,
)
from bot.env.step_kernel import MODE_CHANGED, SETTLE, TERMINATED, EnvKernels
from bot.portfolio import PortfolioManager, events_logged

logger = logging.getLogger(__name__)

Obs = dict[str, npt.NDArray[np.float32]]

_N_PORTFOLIO = len(PORTFOLIO_FEATURES)
_RESET_OPTIONS = frozenset({"start_index", "end_index"})


class TradingEnv(gym.Env[dict[str, Any], Any]):
    """Single-symbol trading env over one split of a dataset (see the module docstring for the full contract).

    :param cfg: the whole config (``env``, ``portfolio`` and ``dbe`` sections are used).
    :param dataset: the market arrays, splits and normalised observation features.
    :param split: ``"train"``, ``"validation"``, ``"test"`` or ``"all"`` (every row of the dataset).
    :param worker_id: id of the worker process owning the env, reported in ``info`` (SmartLogger, callbacks).
    :param seed: seeds the episode sampler and the action space when ``reset`` gets no seed.
    :raises ConfigError: for an unknown split name.
    :raises DataError: when the split holds no episode (too short for the observation window).
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 - gymnasium's class attribute

    def __init__(
        self, cfg: BotConfig, dataset: Dataset, split: str = "train", worker_id: int = 0, seed: int | None = None
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.dataset = dataset
        self.split = split
        self.worker_id = int(worker_id)
        market = dataset.market
        env_cfg = cfg.env
        self.window = int(env_cfg.window)
        self._random_start = bool(env_cfg.random_start)
        self.sampler = EpisodeSampler(
            market.valid, market.segment_id, split_range(dataset, split), split, self.window, env_cfg.episode_length
        )
        self.actions = ActionMapper(env_cfg, cfg.portfolio)
        self.action_space = self.actions.space
        n_features = int(dataset.obs_features.shape[1])
        self.observation_space = observation_space(self.window, n_features, market_bound(dataset))
        #: names of the ``portfolio`` observation entries, in order.
        self.portfolio_feature_names: tuple[str, ...] = PORTFOLIO_FEATURES
        obs_features = np.ascontiguousarray(dataset.obs_features, dtype=np.float32)
        # _windows[i] is the view of rows i .. i + window - 1; the observation at row t is _windows[t - window + 1]
        self._windows = np.lib.stride_tricks.sliding_window_view(obs_features, (self.window, n_features))[:, 0]
        self._window_m1 = self.window - 1
        # Python scalars once, so that the step is float math (no NumPy scalar boxing per bar).
        # shared with the other envs of this process over the same market (bot.env.shared_rows)
        rows = market_rows(market)
        self._time_ms: list[int] = rows.time_ms
        self._close: list[float] = rows.close
        #: float64 [rows, 5] open time, open, high, low, close: what the compiled bar reads by row
        self._bar_table = rows.bars
        self._base_ms = int(market.base_ms)
        self.portfolio = PortfolioManager(cfg.portfolio)
        self._initial_equity = float(self.portfolio.equity)
        # the account's equity, drawdown and position after the last bar, as the step's kernel calls return them
        self._equity, self._drawdown, self._qty = self._initial_equity, 0.0, 0.0
        self.dbe = make_dbe(cfg, market)
        self._reward = make_reward(env_cfg.reward, env_cfg)
        self._reward_fn = self._reward.__call__
        #: reward_scale when the reward is the plain log return, which the step computes inline; else 0.0
        self._log_scale = self._reward.scale if type(self._reward) is LogReturnReward else 0.0
        #: the step's compiled bars and the account's reader, called without numba's dispatcher
        self._kernels = EnvKernels()
        self._max_drawdown = float(env_cfg.max_drawdown)
        self._portfolio_scales = np.array(PortfolioObservation(cfg).scales)
        self._decision_every = int(env_cfg.decision_every)
        self._turnover_penalty = float(env_cfg.turnover_penalty) * float(env_cfg.reward_scale)
        self.controls = DecisionControls(cfg, self.actions)
        self._targets = self.actions.targets
        self._plain_actions = (
            self.actions.is_discrete
            and not self.actions.is_delta
            and not cfg.portfolio.min_holding_bars
            and not env_cfg.rebalance_threshold
        )
        self.obs_refs = ObservationReferences(int(env_cfg.episode_length) * self._decision_every)
        self._acc = EpisodeAccumulator()
        self._bars = BarRecord()
        self._step_from = 0  # the last step's first bar in self._bars
        self._eval_cursor = 0
        self._t = -1
        self._last_row = -1
        self._done = True
        self.episode = EpisodeBounds(0, 0)
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seed)
            self.action_space.seed(seed)
        logger.debug(
            "TradingEnv worker %d split %s: %d gap-free runs, window %d, %s actions %s",
            self.worker_id,
            split,
            len(self.sampler.runs),
            self.window,
            env_cfg.action_type,
            list(self.actions.levels),
        )

    # ------------------------------------------------------------------------------------------------ gym API

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Obs, dict[str, Any]]:
        """Start an episode.

        Without options: a random episode of ``env.episode_length`` steps when ``env.random_start`` is True, else
        the next gap-free run of the split in order (the first after construction or after a ``seed``; the split's
        runs repeat in a cycle), so an evaluation that resets at every truncation covers the split segment by segment.

        :param seed: reseeds the episode sampler (and restarts the sequential order at the first run).
        :param options: ``{"start_index": row, "end_index": row}``: observe rows ``[start_index, end_index)``;
            ``end_index`` may be omitted (None) for the end of the gap-free run; see :attr:`evaluation_episodes`.
        :return: the first observation (close of row ``start``) and an info dict.
        :raises ValueError: for unknown option keys or a range that leaves its gap-free run or the split.
        """
        super().reset(seed=seed)
        if seed is not None:
            self._eval_cursor = 0
        self.episode = self._choose_episode(options)
        start = self.episode.start
        self._t = start
        self._last_row = self.episode.stop - 1
        self._done = False
        self.portfolio.reset(reference_price=self._close[start])
        self._reward.reset()
        self.dbe.reset()
        self.dbe.update(start, 0.0, None)
        self._initial_equity = float(self.portfolio.equity)
        self._equity, self._drawdown, self._qty = self._initial_equity, self.portfolio.drawdown, 0.0
        self._bars = BarRecord(self._initial_equity, capacity=self._last_row - start)
        self._step_from = 0
        self.obs_refs.reset(start, self._initial_equity)
        self.controls.reset(self.dbe.size_fraction)
        portfolio = np.empty(_N_PORTFOLIO, np.float32)
        account = self._kernels.observe_account(
            portfolio, self.portfolio.state, self.dbe.state, self.obs_refs.values, self._portfolio_scales
        )
        return self._outputs(start, 0.0, 0, portfolio, account)

    def step(self, action: Any) -> tuple[Obs, float, bool, bool, dict[str, Any]]:
        """Execute ``action`` over the next ``env.decision_every`` bars and observe at the last one's close.

        The decision controls act first: the minimum holding time (a position younger than
        ``portfolio.min_holding_bars`` is not closed or reversed by the policy), then the no-trade band
        (``env.rebalance_threshold``). The DBE's size applies when the target changes or the account is flat, so a
        DBE mode change alone never trades. The bars are simulated one by one (stops, liquidation, funding); only
        the first places a new order.

        :param action: an index of the discrete exposure levels (or of the delta moves), or a float array of shape
            (1,) in [-1, 1].
        :return: ``(observation, reward, terminated, truncated, info)``. ``terminated`` when the account is bankrupt
            or its drawdown exceeds ``env.max_drawdown``; ``truncated`` at the episode's last row (episode length,
            end of a gap-free run or of the split).
        :raises RuntimeError: when called before ``reset`` or after the episode ended.
        :raises ValueError: for an action outside the action space.
        """
        if self._done:
            raise RuntimeError("step() called on an ended episode (terminated or truncated); call reset() first")
        pm = self.portfolio
        dbe = self.dbe
        controls = self.controls
        if self._plain_actions:
            # DecisionControls.decide with every control off (discrete levels, no delta mode, holding time or
            # no-trade band), without its call: the same target and size
            try:
                target = self._targets[action] if action >= 0 else self.actions.target(action)
            except (IndexError, TypeError, ValueError):  # not a plain in-range int: the mapper says what is wrong
                target = self.actions.target(action)
            if target != controls.target or self._qty == 0.0:
                controls.size = dbe.size_fraction
            controls.target = target
        else:
            target = controls.decide(action, pm.position_qty, pm.bars_in_position, dbe.size_fraction)
        size = controls.size
        step_start_equity = self._equity
        step_start_drawdown = self._drawdown
        traded_before = pm.traded_notional if self._turnover_penalty else 0.0
        t = self._t
        last = t + self._decision_every
        if last > self._last_row:
            last = self._last_row
        record = self._bars
        n = self._step_from = record.n
        run_bars = self._kernels.run_bars
        pause_on_events = events_logged()
        portfolio = np.empty(_N_PORTFOLIO, np.float32)
        reward = 0.0
        first = True
        # the step in one compiled call (bot.env.step_kernel); it returns early only for a bar that Python settles:
        # log lines to write, more room for trades, a refused exposure (raises), a DBE mode change
        while True:
            status, t, n, reward, flags, account = run_bars(
                pm.state, self._bar_table, dbe.state, dbe.tables, record.bars, self.obs_refs.values, portfolio,
                self._portfolio_scales, n, t, last, target, size, first, reward, self._log_scale, self._max_drawdown,
                pause_on_events,
            )  # fmt: skip
            if not status:
                break
            if status & SETTLE:
                pm.settle(flags, target, size)
            if status & MODE_CHANGED:
                dbe.log_mode_change(t)
            if status & TERMINATED or t >= last:
                break
            first = False
        record.n = n
        terminated = status & TERMINATED != 0
        if not self._log_scale:
            reward = self._recorded_reward(step_start_equity, step_start_drawdown)
        equity = account[0]
        self._t = t
        self._equity = equity
        self._drawdown = drawdown = account[8]
        self._qty = account[2]
        if self._turnover_penalty and step_start_equity > 0.0:
            reward -= self._turnover_penalty * (pm.traded_notional - traded_before) / step_start_equity
        truncated = not terminated and t >= self._last_row
        step_return = equity / step_start_equity - 1.0 if step_start_equity > 0.0 else 0.0
        obs, info = self._outputs(t, step_return, n - self._step_from, portfolio, account)
        if terminated or truncated:
            self._end_episode(info, terminated, drawdown)
        return obs, reward, terminated, truncated, info

    @property
    def step_marks(self) -> list[tuple[int, float, float, float]]:
        """(row, equity, exposure, position) after every bar of the last step (``decision_every`` bars or fewer)."""
        record = self._bars
        rows, equity, exposure, qty = record.bars[ROW : QTY_ROW + 1, self._step_from : record.n].tolist()
        return [(int(row), *mark) for row, *mark in zip(rows, equity, exposure, qty, strict=True)]

    def _recorded_reward(self, prev_equity: float, prev_drawdown: float) -> float:
        """The last step's reward, bar by bar from its record: a reward other than the plain log return (which the
        step's kernel adds up itself)."""
        record = self._bars
        reward_fn = self._reward_fn
        reward = 0.0
        bars = record.bars[:, self._step_from : record.n]
        for equity, drawdown in zip(bars[EQUITY_ROW].tolist(), bars[DRAWDOWN_ROW].tolist(), strict=True):
            reward += reward_fn(prev_equity, equity, prev_drawdown, drawdown)
            prev_equity, prev_drawdown = equity, drawdown
        return reward

    def action_masks(self) -> npt.NDArray[np.bool_]:
        """bool [n_actions]: the allowed actions, for sb3-contrib ``MaskablePPO``.

        Short levels on spot (see :class:`~bot.env.spaces.ActionMapper`); in delta mode a step past the top or
        bottom level; while ``portfolio.min_holding_bars`` holds a young position, the levels that would close or
        reverse it. The env enforces the same rules when a masked action arrives anyway (Double-DQN ignores masks).
        """
        return self.controls.masks(self.portfolio.position_qty, self.portfolio.bars_in_position)

    # ------------------------------------------------------------------------------------------------ helpers

    @property
    def evaluation_episodes(self) -> list[EpisodeBounds]:
        """The split's gap-free runs as episodes, in order: pass ``start``/``stop`` as ``start_index``/``end_index``."""
        return list(self.sampler.runs)

    @property
    def current_row(self) -> int:
        """Row of the dataset observed last (the bar whose close the agent sees); -1 before the first reset."""
        return self._t

    def _choose_episode(self, options: dict[str, Any] | None) -> EpisodeBounds:
        if options:
            unknown = set(options) - _RESET_OPTIONS
            if unknown:
                raise ValueError(
                    f"reset options {sorted(unknown)} are unknown; TradingEnv accepts {sorted(_RESET_OPTIONS)}"
                )
            start, end = options.get("start_index"), options.get("end_index")
            if start is not None:
                return self.sampler.explicit(int(start), None if end is None else int(end))
            if end is not None:
                raise ValueError(
                    f"reset option end_index={end} needs a start_index; pass both (see evaluation_episodes)"
                )
        if self._random_start:
            return self.sampler.sample(self.np_random)
        runs = self.sampler.runs
        episode = runs[self._eval_cursor % len(runs)]
        self._eval_cursor += 1
        return episode

    def _outputs(
        self, t: int, step_return: float, bars: int, portfolio: npt.NDArray[np.float32], account: AccountInfo
    ) -> tuple[Obs, dict[str, Any]]:
        """The observation at the close of row ``t`` and the info dict (with ``bars`` when > 0, i.e. after a step),
        from the ``portfolio`` vector and the ``account`` figures of :func:`bot.env.account_obs.observe_account`.

        New objects every time (see the module docstring).
        """
        (equity, exposure, position, fees_paid, slippage_paid, funding_paid, traded_notional, n_trades, drawdown,
         dbe_mode) = account  # fmt: skip
        info = {
            "equity": equity,
            "return": step_return,
            "position": position,
            "exposure": exposure,
            "fees_paid": fees_paid,
            "slippage_paid": slippage_paid,
            "funding_paid": funding_paid,
            "traded_notional": traded_notional,
            "trades": n_trades,
            "drawdown": drawdown,
            "dbe_mode": dbe_mode,
            "worker_id": self.worker_id,
            "time_ms": self._time_ms[t],
            "price": self._close[t],
        }
        if bars:
            info["bars"] = bars
        return {"market": self._windows[t - self._window_m1].copy(), "portfolio": portfolio}, info

    def _end_episode(self, info: dict[str, Any], terminated: bool, drawdown: float) -> None:
        self._done = True
        pm = self.portfolio
        if terminated:
            if pm.equity <= 0.0:
                logger.info(
                    "Episode terminated: bankrupt (equity %.8g) at row %d, env worker %d",
                    pm.equity,
                    self._t,
                    self.worker_id,
                )
            else:
                logger.info(
                    "Drawdown limit hit: drawdown %.4f > env.max_drawdown %.4f, episode terminated at row %d,"
                    " env worker %d",
                    drawdown,
                    self._max_drawdown,
                    self._t,
                    self.worker_id,
                )
        accumulate(self._bars, self._acc)
        info.update(episode_summary(self._acc, self._initial_equity, pm, self._base_ms))
