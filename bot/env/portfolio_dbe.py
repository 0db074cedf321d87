"""The DBE of a basket (``env.mode: portfolio`` with ``dbe.enabled``): one engine per asset plus the account mode.

Per asset, a :class:`~bot.dbe.DynamicBehaviorEngine` over that symbol's own rows (its volatility percentile and trend,
computed per gap-free segment of its own data; the tables are shared with every env of the process, see
:mod:`bot.env.shared_rows`) and its own closed trades (win and loss streaks). It is updated at the close of every
clock bar where the symbol has a bar; an asset in a gap keeps its state, and a trade it closed there (an account
liquidation) counts at its next bar. The engines see no drawdown: the account's drawdown acts once, through the
account mode (:mod:`bot.dbe.account`), on every asset together.

At each decision (the close of clock bar t, data up to that close only):

- asset i's stop loss and take profit for the positions its orders open or increase (at t + 1, or on a later bar of
  the step for a re-posted limit order) are its engine's at t;
- its weight is ``w_i * size_i * account_scale``, where ``size_i`` is its engine's size fraction taken when the
  agent's weight for it changes or it is flat (a new entry) and kept while the position is held, so a change of its
  engine's mode alone never trades (as in the single-symbol env), and ``account_scale`` is the account mode's
  multiplier at the decision, applied to every asset: a deeper mode cuts the held positions too.

Every factor lies in [0, 1], so the scaled weights never exceed the agent's and their gross never the cap.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from bot.config import BotConfig
from bot.data import Universe
from bot.dbe import AccountDrawdownMode, AccountMode, DBEMode
from bot.dbe.kernel import MODE, SL, TP
from bot.env import shared_rows
from bot.env.shared_rows import make_dbe

F64 = npt.NDArray[np.float64]
_N_MODES = len(DBEMode)
# an IntEnum -> plain int by a tuple lookup (cheaper than int() on an enum member; see bot.env.trading_env)
_MODE_INT = (0, 1, 2)


class BasketDBE:
    """Per-asset DBE state and the account mode of one portfolio env (see the module docstring).

    :param cfg: the whole config (``dbe``, ``features.atr_period`` and ``adx_period``).
    :param universe: the basket's symbols on one clock.

    State after :meth:`reset` / :meth:`update`: ``engines`` (one per asset), ``account`` (the account mode),
    ``size`` (the size fraction each asset holds), ``mode_bars`` (int [N, 3] bars per engine mode this episode) and
    ``account_bars`` (int [3] bars per account mode); :meth:`distances` gives the stops of new positions.
    """

    def __init__(self, cfg: BotConfig, universe: Universe) -> None:
        shared_rows.reserve(len(universe.symbols))
        self.symbols = universe.symbols
        self.n = len(universe.symbols)
        self.engines = tuple(make_dbe(cfg, dataset.market) for dataset in universe.datasets)
        self.account = AccountDrawdownMode(cfg.dbe)
        self._row = universe.row
        self._keys = [
            (f"dbe_mode_{i}", f"dbe_stop_loss_{i}", f"dbe_take_profit_{i}", f"dbe_size_{i}") for i in range(self.n)
        ]
        self.reset(0)

    def reset(self, t: int) -> None:
        """Start an episode observed first at the close of clock bar ``t``: engines and account reset, then each
        engine updated at ``t`` where its asset has a bar."""
        n = self.n
        self.account.reset()
        rows = self._row[:, t].tolist()
        for engine, row in zip(self.engines, rows, strict=True):
            engine.reset()
            if row >= 0:
                engine.update(row, 0.0, None)
        self.size = [e.size_fraction for e in self.engines]
        self._weight = [0.0] * n
        self._pending: list[float | None] = [None] * n
        self.mode_bars = [[0] * _N_MODES for _ in range(n)]
        self.account_bars = [0] * len(AccountMode)

    def weights(self, raw: F64, tradable: npt.NDArray[np.bool_], qty: F64) -> F64:
        """The weights to execute for the agent's ``raw`` weights (float [N]) decided now.

        :param tradable: bool [N] assets that may trade at this decision; the others keep their held size.
        :param qty: float [N] the positions now (a flat asset takes its engine's size).
        """
        w = raw.tolist()
        can, held, size, last = tradable.tolist(), qty.tolist(), self.size, self._weight
        scale = self.account.scale
        for i, engine in enumerate(self.engines):
            if can[i] and (w[i] != last[i] or held[i] == 0.0):
                size[i] = engine.size_fraction
                last[i] = w[i]
        return np.array([w[i] * size[i] * scale for i in range(self.n)])

    def update(self, t: int, drawdown: float, exits: list[tuple[int, float]]) -> None:
        """After clock bar ``t`` closed: each asset with a bar there updates its engine (with the PnL of the last
        trade it closed since its last bar), the account mode follows the account's ``drawdown``.

        :param exits: ``(asset, pnl)`` of the trades closed during the bar, in order
            (``BasketPortfolio.last_exit_pnls``).
        """
        pending = self._pending
        for i, pnl in exits:
            pending[i] = pnl
        rows = self._row[:, t].tolist()
        counts = self.mode_bars
        for i, engine in enumerate(self.engines):
            row = rows[i]
            if row >= 0:
                engine.update(row, 0.0, pending[i])
                pending[i] = None
            counts[i][int(engine.state.item(MODE))] += 1  # the engine's mode, read off its state (every bar)
        account = self.account
        account.update(drawdown, t)
        self.account_bars[account.mode] += 1

    def distances(self) -> tuple[F64, F64]:
        """float [N] stop-loss and take-profit distances (fractions of price; 0 = none) of the positions opened or
        increased by the decision taken now: each asset's engine's."""
        states = [e.state for e in self.engines]
        return np.array([s.item(SL) for s in states]), np.array([s.item(TP) for s in states])

    def info(self) -> dict[str, float | int]:
        """Plain scalars for ``info``: ``account_mode`` (0 normal, 1 defensive, 2 critical), ``account_size`` (its
        size multiplier), ``account_drawdown`` (the decayed drawdown it follows) and per asset i (in symbol order)
        ``dbe_mode_i`` (0 defensive, 1 neutral, 2 aggressive), ``dbe_stop_loss_i``, ``dbe_take_profit_i`` and
        ``dbe_size_i`` (the size fraction the asset holds)."""
        account = self.account
        out: dict[str, float | int] = {
            "account_mode": _MODE_INT[account.mode],
            "account_size": account.scale,
            "account_drawdown": account.drawdown,
        }
        for (mode, sl, tp, size), engine, held in zip(self._keys, self.engines, self.size, strict=True):
            # the engine's mode and stops read off its state: its properties cost twice as much, every step
            state = engine.state
            out[mode] = int(state.item(MODE))
            out[sl] = state.item(SL)
            out[tp] = state.item(TP)
            out[size] = held
        return out

    def summary(self) -> dict[str, Any]:
        """The share of this episode's bars in each account mode and, per symbol, in each engine mode."""
        return {
            "account_mode_share": _shares(self.account_bars, [m.name.lower() for m in AccountMode]),
            "assets": {
                symbol: {"mode_share": _shares(self.mode_bars[i], [m.name.lower() for m in DBEMode])}
                for i, symbol in enumerate(self.symbols)
            },
        }


def _shares(counts: list[int], names: list[str]) -> dict[str, float]:
    total = sum(counts)
    return {name: (c / total if total else 0.0) for name, c in zip(names, counts, strict=True)}
