"""The live portfolio's DBE (``dbe.enabled``): the env's rules (:mod:`bot.env.portfolio_dbe`) on live candles.

Per symbol, the single-symbol trader's engine (:meth:`~bot.live.observation.ObservationBuilder.dbe`: rebuilt on the
symbol's candle window at every closed bar where the symbol has one, its streaks and mode carried over) sees no
drawdown and the net PnL of the symbol's trades (:attr:`~bot.live.portfolio_symbol.PortfolioSymbol.closed_pnl`);
the account's drawdown acts once, through :class:`~bot.dbe.AccountDrawdownMode`. At a decision, symbol i trades
``w_i x size_i x account scale`` (``size_i`` its engine's size fraction, taken when the agent's weight for it changes
or it is flat, kept while its position is held) with its engine's stop loss and take profit. Everything is saved
with each bar, so a restart continues it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.config import BotConfig
from bot.dbe import AccountDrawdownMode
from bot.live.observation import DBEState, LiveMarket, ObservationBuilder

F64 = npt.NDArray[np.float64]


class LiveBasketDBE:
    """Per-symbol engines and the account mode of a live portfolio (see the module docstring).

    :param cfg: the model's config (``dbe``).
    :param n: the number of symbols.
    :param saved: :meth:`to_dict` of the last run, or None.
    """

    def __init__(self, cfg: BotConfig, n: int, saved: dict[str, Any] | None) -> None:
        self.account = AccountDrawdownMode(cfg.dbe)
        base = (float(cfg.dbe.base_stop_loss), float(cfg.dbe.base_take_profit), 1.0)
        #: each symbol's engine state, (stop loss, take profit, size fraction) of its newest update, held size and
        #: the agent's weight that size was taken for
        self.states = [DBEState() for _ in range(n)]
        self.engine: list[tuple[float, float, float]] = [base] * n
        self.size = [1.0] * n
        self.weight = [0.0] * n
        if saved:
            self.states = [DBEState(**s) for s in saved["states"]]
            self.engine = [(float(e[0]), float(e[1]), float(e[2])) for e in saved["engine"]]
            self.size, self.weight = list(saved["size"]), list(saved["weight"])
            self.account.restore(saved["account"])

    def update(
        self,
        builders: Sequence[ObservationBuilder],
        markets: Sequence[LiveMarket | None],
        closed_pnl: Sequence[float | None],
        drawdown: float,
        bar: int,
    ) -> None:
        """After a bar closed: each symbol with a fresh bar (``markets[i]`` not None) updates its engine with the
        PnL of a trade it closed since its last update; the account mode follows the account's ``drawdown``."""
        for i, live in enumerate(markets):
            if live is None:
                continue
            engine = builders[i].dbe(live, self.states[i], 0.0, closed_pnl[i])
            self.engine[i] = (engine.stop_loss_pct, engine.take_profit_pct, engine.size_fraction)
        self.account.update(drawdown, bar)

    def weights(self, raw: F64, tradable: npt.NDArray[np.bool_], qty: Sequence[float]) -> F64:
        """The weights to trade for the agent's ``raw`` weights decided now (``BasketDBE.weights``' rule).

        :param qty: each symbol's position now (a flat symbol takes its engine's size).
        """
        w = raw.tolist()
        for i in range(len(w)):
            if tradable[i] and (w[i] != self.weight[i] or qty[i] == 0.0):
                self.size[i], self.weight[i] = self.engine[i][2], w[i]
        scale = self.account.scale
        return np.array([w[i] * self.size[i] * scale for i in range(len(w))])

    def distances(self) -> tuple[list[float], list[float]]:
        """Each symbol's stop-loss and take-profit distances for the positions the decision opens or increases."""
        return [e[0] for e in self.engine], [e[1] for e in self.engine]

    def to_dict(self) -> dict[str, Any]:
        """What a restart continues from."""
        return {
            "states": [dataclasses.asdict(s) for s in self.states],
            "engine": [list(e) for e in self.engine],
            "size": self.size,
            "weight": self.weight,
            "account": self.account.to_dict(),
        }
