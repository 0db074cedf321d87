"""``PortfolioEnv``: ``env.mode: portfolio``, one env holding every symbol of a universe in one margin account.

Time (DESIGN.md): the agent observes every symbol at the close of clock bar ``t`` and picks target weights; the
:class:`~bot.portfolio.basket.BasketPortfolio` executes them inside bar ``t + 1`` (fills at each symbol's open, stops
from its high/low, account-level liquidation, funding, marks at the close), over ``env.decision_every`` bars per step
(only the first places orders). A symbol that cannot be observed at ``t`` (a gap or warm-up in its feature window) is
masked and not traded at ``t + 1``; a symbol without a bar at ``t + 1`` is neither traded nor stopped there and keeps
its last mark. Episodes run on the clock inside one split; one symbol's gap does not end them.

Spaces and the action-to-weights mapping: :mod:`bot.env.portfolio_spaces`. The reward is ``env.reward`` on the
account's equity, as in the single-symbol env. ``info`` carries plain scalars: ``equity``, ``return``, ``exposure``
(gross), ``fees_paid``, ``slippage_paid``, ``funding_paid``, ``traded_notional``, ``trades``, ``drawdown``,
``tradable`` (symbols observable at this bar), ``worker_id``, ``time_ms`` and ``bars``; the last step of an episode
adds the :func:`~bot.env.stats.episode_summary` scalars. Double-DQN cannot drive it (one Q-value per joint action
of N symbols): the env refuses ``training.algo=ddqn``.

Costs per symbol: ``portfolio.assets`` overrides the lot step, minimum notional and fees of the symbols it names.
With ``dbe.enabled`` each asset has its own DBE and the account a drawdown mode (:mod:`bot.env.portfolio_dbe`): they
set each asset's stop loss and take profit and scale the agent's weights, and ``info`` adds their state
(:meth:`~bot.env.portfolio_dbe.BasketDBE.info`); without it positions carry no stops and the weights trade as given.
"""

from __future__ import annotations

import logging
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium.utils import seeding

from bot.config import BotConfig
from bot.data import Universe
from bot.env.portfolio_dbe import BasketDBE
from bot.env.portfolio_obs import fill_basket_observation
from bot.env.portfolio_rows import portfolio_rows
from bot.env.portfolio_spaces import ACCOUNT_FEATURES, ASSET_FEATURES, WeightMapper, portfolio_observation_space
from bot.env.rewards import make_reward
from bot.env.stats import EpisodeAccumulator, episode_summary
from bot.errors import ConfigError, DataError
from bot.portfolio import AssetRules, BasketPortfolio

logger = logging.getLogger(__name__)

Obs = dict[str, npt.NDArray[np.float32]]
_RESET_OPTIONS = frozenset({"start_index", "end_index"})


class PortfolioEnv(gym.Env[dict[str, Any], Any]):
    """N symbols, one account (see the module docstring for the contract).

    :param cfg: the whole config (``env``, ``portfolio``; ``training.algo`` is checked).
    :param universe: the symbols' datasets on one clock.
    :param split: ``"train"``, ``"validation"``, ``"test"`` or ``"all"``.
    :param worker_id: reported in every ``info``.
    :param seed: seeds the episode starts and the action space until ``reset(seed=...)`` reseeds them.
    :raises ConfigError: for ``training.algo=ddqn``, a sequence extractor or an unknown split.
    :raises DataError: when the split holds no decision bar with an observable symbol.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 - gymnasium's class attribute

    def __init__(
        self, cfg: BotConfig, universe: Universe, split: str = "train", worker_id: int = 0, seed: int | None = None
    ) -> None:
        super().__init__()
        if cfg.training.algo == "ddqn":
            raise ConfigError(
                "training.algo='ddqn' cannot drive env.mode='portfolio': Double-DQN needs one discrete action, a"
                " basket has one per symbol; use training.algo=ppo (continuous weights) or maskable_ppo (discrete)"
            )
        if cfg.training.extractor.kind != "mlp":
            raise ConfigError(
                f"training.extractor.kind={cfg.training.extractor.kind!r} reads one symbol's window of bars;"
                " env.mode='portfolio' observes [N symbols, window, features]: use training.extractor.kind=mlp"
            )
        self.cfg = cfg
        self.universe = universe
        self.symbols = universe.symbols
        self.n_assets = len(universe.symbols)
        self.split = split
        self.worker_id = int(worker_id)
        env_cfg = cfg.env
        self.window = int(env_cfg.window)
        self._random_start = bool(env_cfg.random_start)
        self._episode_length = int(env_cfg.episode_length)
        self._decision_every = int(env_cfg.decision_every)
        self._max_drawdown = float(env_cfg.max_drawdown)
        self.rows = portfolio_rows(universe, self.window)
        self._first, self._stop = _decision_span(self.rows.observable, universe, split)
        self.weights = WeightMapper(cfg, universe.symbols)
        self.action_space = self.weights.space
        first = universe.datasets[0]
        bound = float(first.scaler.clip) if first.scaler is not None else float(np.abs(first.obs_features).max())
        self.observation_space = portfolio_observation_space(
            self.n_assets, self.window, len(universe.feature_names), max(bound, 1.0)
        )
        self.asset_feature_names = ASSET_FEATURES
        self.account_feature_names = ACCOUNT_FEATURES
        pcfg = cfg.portfolio
        pcfg.check_symbols(universe.symbols)
        rules = AssetRules.from_config(pcfg, universe.symbols, pcfg.asset_overrides())
        self.portfolio = BasketPortfolio(pcfg, universe.symbols, rules)
        #: the per-asset DBE and account mode (``dbe.enabled``), else None: no stops, the agent's weights as given.
        self.dbe = BasketDBE(cfg, universe) if cfg.dbe.enabled else None
        self._reward = make_reward(env_cfg.reward, env_cfg)
        self._time_scale = 1.0 / float(self._episode_length * self._decision_every)
        self._acc = EpisodeAccumulator()
        self._last_level = np.full(self.n_assets, self.weights.flat_level, dtype=np.int64)
        # without a DBE: one zero distance for every asset, no stops armed (BasketPortfolio.execute_bar's types)
        self._no_distance = np.zeros(1)
        # the per-step reads of the shared rows, bound once; the tradable symbols per clock bar for ``info``
        self._observable, self._time_ms = self.rows.observable, self.rows.time_ms
        self._windows, self._window_index = self.rows.windows, self.rows.window_index
        self._tradable_count = np.count_nonzero(self.rows.observable, axis=1)
        self._assets_shape = (self.n_assets, len(ASSET_FEATURES))
        self._n_account = len(ACCOUNT_FEATURES)
        self._t = -1
        self._last_row = -1
        self._start_equity = float(self.portfolio.equity)
        self._done = True
        #: (clock bar, equity, gross exposure) after every bar of the last step.
        self.step_marks: list[tuple[int, float, float]] = []
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seed)
            self.action_space.seed(seed)

    # ------------------------------------------------------------------------------------------------ gym API

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Obs, dict[str, Any]]:
        """Start an episode: a random ``env.episode_length``-step stretch of the split (``env.random_start``), else
        the whole split; ``options={"start_index": t, "end_index": t2}`` observes clock bars ``[t, t2)``.

        :raises ValueError: for unknown options or a range outside the split's decision bars.
        """
        super().reset(seed=seed)
        start, stop = self._choose(options)
        self._t = start
        self._last_row = stop - 1
        self._done = False
        self.portfolio.reset(reference_prices=self.rows.mark[start])
        if self.dbe is not None:
            self.dbe.reset(start)
        self._reward.reset()
        self._acc.clear()
        self._last_level[:] = self.weights.flat_level
        self._start_equity = float(self.portfolio.equity)
        self.step_marks = []
        gross = self.portfolio.gross_exposure
        return self._observe(start, gross), self._info(start, 0.0, gross)

    def step(self, action: Any) -> tuple[Obs, float, bool, bool, dict[str, Any]]:
        """Trade toward the weights of ``action`` over the next ``env.decision_every`` bars, observe at the last close.

        :raises RuntimeError: when called before ``reset`` or after the episode ended.
        :raises ValueError: for an action outside the action space or a NaN weight (naming the symbol).
        """
        if self._done:
            raise RuntimeError("step() called on an ended episode (terminated or truncated); call reset() first")
        pm = self.portfolio
        rows = self.rows
        t = self._t
        tradable = rows.observable[t]
        weights = self.weights.weights(action)
        if self.weights.is_discrete:
            self._last_level = np.where(tradable, np.asarray(action, dtype=np.int64), self._last_level)
        dbe = self.dbe
        sl = tp = self._no_distance
        if dbe is not None:
            weights = dbe.weights(weights, tradable, pm.qty)
            sl, tp = dbe.distances()
        no_stops = dbe is None
        start_equity = pm.equity
        reward = 0.0
        gross = pm.gross_exposure
        marks: list[tuple[int, float, float]] = []
        acc = self._acc
        terminated = False
        execute_bar = pm.execute_bar
        time_ms, open_, high, low, close = rows.time_ms, rows.open, rows.high, rows.low, rows.close
        for k in range(min(self._decision_every, self._last_row - t)):
            prev_equity = pm.equity
            prev_drawdown = pm.drawdown
            t += 1
            execute_bar(
                int(time_ms[t]), open_[t], high[t], low[t], close[t], weights, tradable, sl, tp, no_stops, k == 0
            )
            equity = pm.equity
            if dbe is not None:
                dbe.update(t, pm.drawdown, pm.last_exit_pnls)
            reward += self._reward(prev_equity, equity, prev_drawdown, pm.drawdown)
            gross = pm.gross_exposure
            marks.append((t, equity, gross))
            step_return = equity / prev_equity - 1.0 if prev_equity > 0.0 else 0.0
            acc.n_steps += 1
            acc.sum_return += step_return
            acc.sum_return_sq += step_return * step_return
            acc.sum_abs_exposure += gross
            acc.sum_equity += equity
            acc.max_drawdown = max(acc.max_drawdown, pm.drawdown)
            if equity <= 0.0 or pm.drawdown > self._max_drawdown:
                terminated = True
                break
        self._t = t
        self.step_marks = marks
        truncated = not terminated and t >= self._last_row
        info = self._info(t, pm.equity / start_equity - 1.0 if start_equity > 0.0 else 0.0, gross)
        info["bars"] = len(marks)
        if terminated or truncated:
            self._done = True
            info.update(episode_summary(self._acc, self._start_equity, pm.totals(), self.universe.base_ms))
            if terminated:
                logger.info(
                    "Portfolio episode terminated at clock bar %d (equity %.8g, drawdown %.4f), env worker %d",
                    t,
                    pm.equity,
                    pm.drawdown,
                    self.worker_id,
                )
        return self._observe(t, gross), reward, terminated, truncated, info

    def action_masks(self) -> npt.NDArray[np.bool_]:
        """bool [N * L] MultiDiscrete masks for sb3-contrib ``MaskablePPO`` (one entry per symbol for Box actions):
        a symbol that cannot be traded at this decision keeps its last level; spot masks short levels."""
        tradable = self.rows.observable[max(self._t, 0)]
        if not self.weights.is_discrete:
            return tradable.copy()
        return self.weights.masks(tradable, self._last_level)

    # ------------------------------------------------------------------------------------------------ helpers

    @property
    def current_row(self) -> int:
        """Clock bar observed last; -1 before the first reset."""
        return self._t

    @property
    def decision_span(self) -> tuple[int, int]:
        """``(first, stop)``: the split's clock bars where an episode may observe, ``[first, stop)``."""
        return self._first, self._stop

    def _choose(self, options: dict[str, Any] | None) -> tuple[int, int]:
        first, stop = self._first, self._stop
        if options:
            unknown = set(options) - _RESET_OPTIONS
            if unknown:
                raise ValueError(
                    f"reset options {sorted(unknown)} are unknown; PortfolioEnv accepts {sorted(_RESET_OPTIONS)}"
                )
            start = int(options.get("start_index", first))
            end = options.get("end_index")
            end = stop if end is None else int(end)
            if not first <= start < end - 1 or end > stop:
                raise ValueError(
                    f"reset options start_index={start}, end_index={end} must satisfy {first} <= start < end - 1 and"
                    f" end <= {stop} (the decision bars of split {self.split!r})"
                )
            return start, end
        if not self._random_start:
            return first, stop
        last_start = max(first, stop - 1 - self._episode_length)
        start = int(self.np_random.integers(first, last_start + 1))
        return start, min(start + self._episode_length + 1, stop)

    def _observe(self, t: int, gross: float) -> Obs:
        """The observation at clock bar ``t``'s close; ``gross`` is the account's gross exposure there (entries:
        :func:`~bot.env.portfolio_obs.fill_basket_observation`). Every array is new: vec envs keep the terminal one.
        """
        pm = self.portfolio
        assets = np.empty(self._assets_shape, np.float32)
        account = np.empty(self._n_account, np.float32)
        f, k, acct = pm.kernel_arrays
        fill_basket_observation(
            assets, account, self._observable[t], f, k, acct, gross, self._start_equity, self._time_scale
        )
        return {"market": self._windows[self._window_index[t]], "assets": assets, "account": account}

    def _info(self, t: int, step_return: float, gross: float) -> dict[str, Any]:
        pm = self.portfolio
        info = {
            "equity": pm.equity,
            "return": step_return,
            "exposure": gross,
            "fees_paid": pm.fees_paid,
            "slippage_paid": pm.slippage_paid,
            "funding_paid": pm.funding_paid,
            "traded_notional": pm.notional_paid,
            "trades": pm.n_trades,
            "drawdown": pm.drawdown,
            "tradable": int(self._tradable_count[t]),
            "worker_id": self.worker_id,
            "time_ms": int(self._time_ms[t]),
        }
        if self.dbe is not None:
            info.update(self.dbe.info())
        return info


def _decision_span(observable: npt.NDArray[np.bool_], universe: Universe, split: str) -> tuple[int, int]:
    """``[first, stop)`` clock bars of ``split`` an episode may observe: from the first bar where some symbol is
    observable to the split's end."""
    if split == "all":
        span = range(len(universe))
    elif split in universe.splits:
        span = universe.splits[split]
    else:
        raise ConfigError(
            f"split={split!r} is not a split of the universe; choose one of: {', '.join([*universe.splits, 'all'])}"
        )
    seen = np.flatnonzero(observable[span.start : span.stop].any(axis=1))
    if seen.size == 0 or span.start + int(seen[0]) >= span.stop - 1:
        raise DataError(
            f"split {split!r} (clock bars {span.start}..{span.stop - 1}) holds no decision bar: no symbol has"
            " env.window valid bars of one gap-free segment there plus one more bar; lower env.window or widen the"
            " data range or the split fractions"
        )
    return span.start + int(seen[0]), span.stop
