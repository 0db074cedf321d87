"""``UniverseEnv``: ``env.mode: universe``, where each episode trades one symbol drawn from a universe.

The env holds one :class:`~bot.env.trading_env.TradingEnv` per symbol it may draw, each over that symbol's own
dataset (its rows, gaps, splits and feature scaler), and delegates every call to the one drawn at ``reset``. Every
symbol's features are normalised by its own scaler and the observation carries no symbol identity, so one policy
learns from all of them (symbol-agnostic); the spaces are those of a single-symbol env. Each symbol's env trades at
that symbol's costs (``portfolio.assets``). ``info`` adds ``symbol_id`` (the symbol's index in the universe, a plain
int) to the single-symbol keys.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium.utils import seeding

from bot.config import BotConfig
from bot.data import Universe
from bot.env import shared_rows
from bot.env.trading_env import Obs, TradingEnv
from bot.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

_SEED_BOUND = 2**31 - 1


def worker_symbols(n_symbols: int, n_workers: int, worker_id: int) -> list[int]:
    """The symbols a training worker draws from: distinct slices, so the workers together cover every symbol.

    With at least as many symbols as workers, worker ``w`` gets symbols ``w, w + n_workers, ...``; with fewer, the
    workers share them round robin (worker ``w`` gets symbol ``w % n_symbols``).

    :param n_symbols: symbols in the universe (>= 1).
    :param n_workers: worker processes (>= 1).
    :param worker_id: 0 .. n_workers - 1.
    """
    if n_symbols >= n_workers:
        return list(range(worker_id % n_workers, n_symbols, n_workers))
    return [worker_id % n_symbols]


def symbol_config(cfg: BotConfig, symbol: str) -> BotConfig:
    """``cfg`` with ``symbol``'s ``portfolio.assets`` entry (lot step, minimum notional, fees) applied; ``cfg`` itself
    when the symbol has none."""
    portfolio = cfg.portfolio.for_symbol(symbol)
    return cfg if portfolio is cfg.portfolio else cfg.model_copy(update={"portfolio": portfolio})


def symbol_env(cfg: BotConfig, universe: Universe, index: int, split: str, worker_id: int = 0) -> TradingEnv:
    """The single-symbol env of symbol ``index`` of ``universe`` over ``split``, with that symbol's costs.

    :raises DataError: when that symbol's split holds no episode, naming the symbol.
    """
    try:
        scfg = symbol_config(cfg, universe.symbols[index])
        return TradingEnv(scfg, universe.datasets[index], split=split, worker_id=worker_id)
    except DataError as e:
        raise DataError(f"{universe.symbols[index]}: {e}") from e


class UniverseEnv(gym.Env[dict[str, Any], Any]):
    """Each episode trades one symbol, drawn uniformly by the env's own seeded generator.

    :param cfg: the whole config.
    :param universe: the symbols' datasets on one clock.
    :param split: ``"train"``, ``"validation"``, ``"test"`` or ``"all"``.
    :param worker_id: reported in every ``info``.
    :param seed: seeds the symbol draw and, through it, each episode's start until ``reset(seed=...)`` reseeds.
    :param symbols: indices into ``universe.symbols`` this env draws from (default: all).
    :raises ConfigError: for an empty or out-of-range ``symbols`` or a ``portfolio.assets`` entry naming none of the
        universe's symbols.
    :raises DataError: when a symbol's split holds no episode (naming the symbol).
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 - gymnasium's class attribute

    def __init__(
        self,
        cfg: BotConfig,
        universe: Universe,
        split: str = "train",
        worker_id: int = 0,
        seed: int | None = None,
        symbols: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        indices = list(range(len(universe.symbols))) if symbols is None else [int(i) for i in symbols]
        if not indices or any(not 0 <= i < len(universe.symbols) for i in indices):
            raise ConfigError(
                f"symbols={indices} must name at least one of the universe's {len(universe.symbols)} symbols"
                f" (indices 0..{len(universe.symbols) - 1})"
            )
        cfg.portfolio.check_symbols(universe.symbols)
        shared_rows.reserve(len(universe.symbols))
        self.universe = universe
        #: indices (into ``universe.symbols``) this env draws from, and one single-symbol env for each.
        self.symbol_ids: tuple[int, ...] = tuple(indices)
        self.envs: tuple[TradingEnv, ...] = tuple(symbol_env(cfg, universe, i, split, worker_id) for i in indices)
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space
        self.split = split
        self._k = 0
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seed)
            self.action_space.seed(seed)
            self._reseed_symbols()

    @property
    def current(self) -> TradingEnv:
        """The env of the symbol drawn at the last reset."""
        return self.envs[self._k]

    @property
    def symbol(self) -> str:
        """The symbol drawn at the last reset."""
        return self.universe.symbols[self.symbol_ids[self._k]]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Obs, dict[str, Any]]:
        """Draw a symbol and start an episode of it.

        :param seed: reseeds the draw (the episode start inside the symbol follows from it).
        :param options: passed to the symbol's :meth:`TradingEnv.reset`, plus ``symbol`` (a name or an index into
            ``universe.symbols``) to choose the symbol instead of drawing it.
        """
        super().reset(seed=seed)
        if seed is not None:
            self._reseed_symbols()
        options = dict(options or {})
        chosen = options.pop("symbol", None)
        if chosen is None:
            self._k = int(self.np_random.integers(len(self.envs)))
        else:
            index = self.universe.index(chosen) if isinstance(chosen, str) else int(chosen)
            if index not in self.symbol_ids:
                raise ValueError(f"symbol {chosen!r} is not one this env draws from ({self.symbol_ids})")
            self._k = self.symbol_ids.index(index)
        obs, info = self.current.reset(options=options or None)
        info["symbol_id"] = self.symbol_ids[self._k]
        return obs, info

    def _reseed_symbols(self) -> None:
        # every symbol's env draws its episode starts from a generator seeded by this env's: one seed fixes both
        for env in self.envs:
            env.np_random, _ = seeding.np_random(int(self.np_random.integers(_SEED_BOUND)))

    def step(self, action: Any) -> tuple[Obs, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.current.step(action)
        info["symbol_id"] = self.symbol_ids[self._k]
        return obs, reward, terminated, truncated, info

    def action_masks(self) -> npt.NDArray[np.bool_]:
        """The drawn symbol's action mask."""
        return self.current.action_masks()

    def close(self) -> None:
        for env in self.envs:
            env.close()
