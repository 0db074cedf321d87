"""Live observations built exactly as the env builds them: same features, scaler, window and portfolio vector.

Market part: :func:`bot.data.market_from_frame` on the closed candles, normalised with the checkpoint's saved
:class:`~bot.data.FeatureScaler`, the last ``env.window`` rows. Portfolio part: the 12 entries of
:data:`bot.env.PORTFOLIO_FEATURES` with the definitions of ``TradingEnv``. The DBE is rebuilt on the candle window each
bar and carries its streaks and mode over from the previous bar.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from bot.config import BotConfig
from bot.data import FeatureScaler, MarketData, market_from_frame, schema_hash
from bot.dbe import DBEMode, DynamicBehaviorEngine
from bot.env import ObservationReferences, PortfolioObservation
from bot.env.shared_rows import build_dbe
from bot.errors import DataError, SchemaMismatchError

if TYPE_CHECKING:
    from bot.training import Policy

logger = logging.getLogger(__name__)

Obs = dict[str, npt.NDArray[np.float32]]


@dataclass(frozen=True, slots=True)
class PortfolioView:
    """Account statistics the portfolio observation needs (what the env reads from its PortfolioManager)."""

    equity: float
    unrealized_pnl: float
    cash: float
    exposure: float
    bars_in_position: int
    drawdown: float
    initial_equity: float


@dataclass(slots=True)
class DBEState:
    """What the DBE carries from one bar to the next."""

    win_streak: int = 0
    loss_streak: int = 0
    mode: int = int(DBEMode.NEUTRAL)
    #: the engine's decayed drawdown reference (``dbe.drawdown_halflife_bars``); 1.0, the account's peak, for a
    #: state saved before it was kept
    drawdown_reference: float = 1.0


@dataclass(frozen=True, slots=True)
class LiveMarket:
    """Features of the candle buffer: the market arrays and the normalised observation features."""

    market: MarketData
    obs_features: npt.NDArray[np.float32]


class LiveReferences:
    """The portfolio observation's references (peak and reference equity) as the env keeps them: restarted every
    ``env.episode_length x env.decision_every`` bars, so the drawdown and equity return the policy sees stay in the
    ranges training showed it. They are saved with every bar, so a restart of the trader continues them.

    :param cfg: the model's config.
    :param saved: :meth:`to_dict` of the last run, or None to start at the first bar.
    """

    def __init__(self, cfg: BotConfig, saved: dict[str, Any] | None) -> None:
        self.refs = ObservationReferences(cfg.env.episode_length * cfg.env.decision_every)
        self.started = saved is not None
        if saved is not None:
            self.refs.restore(saved)

    def observe(self, view: PortfolioView, row: int) -> PortfolioView:
        """``view`` with the drawdown and reference equity the policy sees after bar ``row`` (its clock's index)."""
        if self.started:
            self.refs.update(row, view.equity)
        else:
            self.refs.reset(row, view.equity)
            self.started = True
        return dataclasses.replace(view, drawdown=self.refs.drawdown(view.equity), initial_equity=self.refs.reference)

    def to_dict(self) -> dict[str, float] | None:
        """What a restart continues from (None before the first bar)."""
        return self.refs.to_dict() if self.started else None


class ObservationBuilder:
    """Builds the policy's observation at the close of the newest candle.

    :param cfg: the checkpoint's config.
    :param scaler: the checkpoint's feature scaler.
    :param expected_schema: the manifest's ``schema_hash`` (None skips the check).
    :param market_shape: the model's ``market`` observation shape (window, n_features), checked when given.
    """

    def __init__(
        self, cfg: BotConfig, scaler: FeatureScaler, expected_schema: str | None, market_shape: tuple[int, ...] | None
    ) -> None:
        self.cfg = cfg
        self.scaler = scaler
        self.expected_schema = expected_schema
        self.window = cfg.env.window
        self.market_shape = market_shape
        self._portfolio_obs = PortfolioObservation(cfg)

    def market(self, frame: pd.DataFrame) -> LiveMarket:
        """Features of the closed candles, checked against the checkpoint's schema.

        :raises SchemaMismatchError: when the features, their hash or the window differ from the model's.
        """
        market = market_from_frame(frame, self.cfg, source="live candles")
        self.scaler.check_names(market.feature_names)
        got = schema_hash(market.feature_names, self.cfg.features)
        if self.expected_schema is not None and got != self.expected_schema:
            raise SchemaMismatchError(
                f"live features have schema {got!r}, the checkpoint was trained on {self.expected_schema!r}; run the"
                " checkpoint with its own config.yaml (data.timeframes and features settings)"
            )
        shape = (self.window, len(market.feature_names))
        if self.market_shape is not None and tuple(self.market_shape) != shape:
            raise SchemaMismatchError(
                f"the model expects market observations of shape {tuple(self.market_shape)}, the live data gives"
                f" {shape}; use the checkpoint's env.window and features"
            )
        return LiveMarket(market, self.scaler.transform(market.features, market.valid))

    def market_window(self, live: LiveMarket, back: int = 0) -> npt.NDArray[np.float32]:
        """float32 [window, n_features]: the newest ``window`` rows, all valid and gap-free.

        :param back: bars before the newest at which the window ends (a recurrent policy is re-warmed over them).
        :raises DataError: when the newest rows are still in an indicator warm-up or span a gap.
        """
        market, n = live.market, len(live.market) - back
        if n < self.window:
            raise DataError(f"only {n} closed candles, the observation window needs {self.window}")
        rows = slice(n - self.window, n)
        if not market.valid[rows].all() or (market.segment_id[rows] != market.segment_id[-1]).any():
            raise DataError(
                f"the newest {self.window} candles are not all usable (indicator warm-up after a gap in the exchange's"
                " candles); waiting for more bars"
            )
        return live.obs_features[rows].copy()

    def dbe(
        self, live: LiveMarket, state: DBEState, drawdown: float, last_trade_pnl: float | None
    ) -> DynamicBehaviorEngine:
        """The DBE updated at the newest bar, continuing the streaks, mode and decayed drawdown reference of
        ``state`` (updated in place), as the env's engine carries them through an episode."""
        m = live.market
        # per gap-free segment of the candles, as the env's engine: after a gap the indicators restart
        engine = build_dbe(self.cfg, m)
        engine.win_streak, engine.loss_streak, engine.mode = state.win_streak, state.loss_streak, DBEMode(state.mode)
        engine.drawdown_reference = state.drawdown_reference
        engine.update(len(m) - 1, drawdown, last_trade_pnl)
        state.win_streak, state.loss_streak, state.mode = engine.win_streak, engine.loss_streak, int(engine.mode)
        state.drawdown_reference = engine.drawdown_reference
        return engine

    def portfolio(self, view: PortfolioView, dbe: DynamicBehaviorEngine) -> npt.NDArray[np.float32]:
        """float32 [12] in the order of :data:`bot.env.PORTFOLIO_FEATURES`, built by the env's own definition."""
        return self._portfolio_obs.vector(
            equity=view.equity,
            initial_equity=view.initial_equity,
            unrealized_pnl=view.unrealized_pnl,
            cash=view.cash,
            exposure=view.exposure,
            bars_in_position=view.bars_in_position,
            drawdown=view.drawdown,
            dbe_mode=int(dbe.mode),
            stop_loss_pct=dbe.stop_loss_pct,
            take_profit_pct=dbe.take_profit_pct,
            size_fraction=dbe.size_fraction,
        )


def warm_up(
    policy: Policy,
    builder: ObservationBuilder,
    live: LiveMarket,
    portfolio: npt.NDArray[np.float32],
    decision_every: int,
) -> int:
    """Rebuild a recurrent policy's state before its first live decision: step it over the decisions of the last
    ``env.window`` bars (every ``decision_every`` bars, oldest first), discarding the actions.

    Each step sees that bar's market window and ``portfolio``, the account as it is now (the positions the policy
    would have held then are unknown). Bars still in an indicator warm-up are passed over; with ``decision_every``
    above ``env.window`` no past decision lies in the window and the state starts from zero.

    :param policy: the trader's policy, just reset.
    :param builder: the trader's observation builder.
    :param live: the features of the candles at hand.
    :param portfolio: float32 [k] the portfolio vector of the current decision.
    :param decision_every: ``env.decision_every``.
    :return: the steps taken.
    """
    steps = 0
    span = builder.window // decision_every * decision_every
    for back in range(span, 0, -decision_every):
        try:
            window = builder.market_window(live, back)
        except DataError:
            continue
        policy.act({"market": window, "portfolio": portfolio}, -1)
        steps += 1
    logger.info("Re-warmed the recurrent policy's state over %d past decisions", steps)
    return steps
