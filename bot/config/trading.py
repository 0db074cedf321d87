"""Config sections of the simulated trading: portfolio and costs, dynamic behavior engine, environment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field, model_validator

from bot.config.base import Section
from bot.errors import ConfigError


class AssetCostsConfig(Section):
    """One symbol's exchange rules and fees under ``portfolio.assets``; an omitted key keeps the portfolio's value."""

    lot_step: float | None = Field(None, gt=0, description="quantity step (base asset)")
    min_notional: float | None = Field(None, ge=0, description="smallest order notional (quote)")
    taker_fee: float | None = Field(None, ge=0, le=0.01, description="fraction of notional per market fill")
    maker_fee: float | None = Field(None, ge=-0.001, le=0.01, description="fraction of notional per limit fill")


class PortfolioConfig(Section):
    """Account, costs and exchange rules for the simulated portfolio (shared by env, backtest and dry-run)."""

    market: Literal["spot", "perpetual"] = Field("perpetual", description="spot: long only; perpetual: long/short")
    initial_cash: float = Field(10_000.0, gt=0, description="starting quote balance")
    taker_fee: float = Field(0.00055, ge=0, le=0.01, description="fraction of notional per market fill")
    maker_fee: float = Field(0.0002, ge=-0.001, le=0.01, description="fraction of notional per limit fill")
    slippage_bps: float = Field(1.0, ge=0, le=500, description="fixed slippage in basis points, against the trader")
    slippage_range_frac: float = Field(
        0.02, ge=0, le=1, description="extra slippage as a fraction of the fill bar's high-low range"
    )
    leverage: float = Field(1.0, ge=1, description="leverage used for target exposure 1.0 (perpetual only)")
    max_leverage: float = Field(5.0, ge=1, le=125, description="hard cap on leverage")
    maintenance_margin: float = Field(0.005, ge=0, lt=1, description="maintenance margin rate for liquidation")
    # 0.01 % per 8 h is the rate Bybit and Binance charge on USDT perpetuals when the premium is zero: the interest
    # rate of 0.03 % a day over 3 funding intervals (Bybit Help Center, "Introduction to Funding Rate",
    # https://www.bybit.com/en/help-center/article/Introduction-to-Funding-Rate). Real rates swing with the premium.
    funding_rate_8h: float = Field(
        0.0001, ge=-0.01, le=0.01, description="funding rate charged to longs (paid to shorts) every 8h, fraction"
    )
    lot_step: float = Field(0.00001, gt=0, description="quantity step (base asset)")
    min_notional: float = Field(5.0, ge=0, description="smallest order notional (quote)")
    max_holding_bars: int = Field(0, ge=0, description="close a position after this many bars (0 = no limit)")
    min_holding_bars: int = Field(
        0, ge=0, description="bars before the policy may close or reverse a position (stops still act; 0 = off)"
    )
    order_type: Literal["market", "limit"] = Field(
        "limit", description="market: taker fill at the next open; limit: post-only maker order at the close +- offset"
    )
    limit_offset: float = Field(
        0.0005, ge=0, le=0.05, description="limit price distance from the decision bar's close (fraction of price)"
    )
    limit_unfilled: Literal["expire", "repost"] = Field(
        "expire",
        description="an unfilled limit order expires after one bar, or is re-posted every bar until the next decision",
    )
    assets: dict[str, AssetCostsConfig] = Field(
        default_factory=dict,
        description="per-symbol lot_step, min_notional, taker_fee, maker_fee (env.mode universe or portfolio),"
        " e.g. {'BTC/USDT': {lot_step: 0.001}}; a symbol or key not listed keeps the values above",
    )

    @model_validator(mode="after")
    def _check(self) -> PortfolioConfig:
        if self.leverage > self.max_leverage:
            raise ValueError(f"portfolio.leverage={self.leverage} exceeds portfolio.max_leverage={self.max_leverage}")
        if self.market == "spot" and self.leverage != 1:
            raise ValueError(f"portfolio.leverage={self.leverage} must be 1 for portfolio.market=spot")
        return self

    def asset_overrides(self) -> dict[str, dict[str, float]]:
        """``portfolio.assets`` as plain ``{symbol: {key: value}}``, the keys each symbol sets."""
        return {symbol: costs.model_dump(exclude_none=True) for symbol, costs in self.assets.items()}

    def check_symbols(self, symbols: Sequence[str]) -> None:
        """Refuse a ``portfolio.assets`` entry that names none of ``symbols``.

        :raises ConfigError: naming the entry's key and the symbols there are.
        """
        unknown = [s for s in self.assets if s not in symbols]
        if unknown:
            raise ConfigError(
                f"portfolio.assets.{unknown[0]}: {unknown[0]!r} is not a symbol of the data; the symbols are"
                f" {', '.join(symbols)} (spell the entry as data.symbols does, e.g. 'BTC/USDT')"
            )

    def for_symbol(self, symbol: str) -> PortfolioConfig:
        """This section with ``symbol``'s ``portfolio.assets`` entry applied (itself when it has none)."""
        rules = self.asset_overrides().get(symbol)
        return self.model_copy(update=rules) if rules else self


class Bounds(Section):
    """A closed interval ``[low, high]`` that a DBE output is clamped to."""

    low: float
    high: float

    @model_validator(mode="after")
    def _check(self) -> Bounds:
        if self.low > self.high:
            raise ValueError(f"low={self.low} must be <= high={self.high}")
        return self


class DBEConfig(Section):
    """Dynamic behavior engine: adapts stop-loss, take-profit and size to regime and drawdown."""

    enabled: bool = Field(False, description="adapt stops and size to the regime (off: the fixed base values)")
    atr_window: int = Field(500, ge=10, description="bars of ATR history for the volatility percentile")
    trend_window: int = Field(100, ge=5, description="bars over which trend strength is measured")
    defensive_drawdown: float = Field(0.10, gt=0, lt=1, description="drawdown (fraction) that forces defensive mode")
    high_vol_percentile: float = Field(0.8, gt=0, lt=1, description="volatility percentile that counts as high")
    low_vol_percentile: float = Field(0.3, gt=0, lt=1, description="volatility percentile that counts as low")
    loss_streak_defensive: int = Field(3, ge=1, description="consecutive losing trades that force defensive mode")
    win_streak_aggressive: int = Field(3, ge=1, description="consecutive winning trades that allow aggressive mode")
    base_stop_loss: float = Field(0.10, gt=0, lt=1, description="neutral stop-loss distance (fraction of price)")
    base_take_profit: float = Field(
        0.0, ge=0, description="neutral take-profit distance (fraction of price); 0 = no take profit"
    )
    base_size: float = Field(1.0, gt=0, le=1, description="neutral position-size fraction")
    stop_loss: Bounds = Field(default_factory=lambda: Bounds(low=0.02, high=0.2))
    take_profit: Bounds = Field(default_factory=lambda: Bounds(low=0.01, high=0.10))
    size: Bounds = Field(default_factory=lambda: Bounds(low=0.25, high=1.0))
    drawdown_halflife_bars: int = Field(
        288, ge=0, description="half-life (bars) of the drawdown the DBE sees: its peak decays toward equity (0 = off)"
    )
    critical_drawdown: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="account drawdown (fraction) of the critical account mode (env.mode portfolio); null: twice"
        " dbe.defensive_drawdown",
    )

    @model_validator(mode="after")
    def _check(self) -> DBEConfig:
        # The env divides by these upper bounds (portfolio observation) and the portfolio rejects a size outside
        # [0, 1] on the first trade: catch both here instead of deep inside a training run.
        for key in ("stop_loss", "take_profit"):
            high = getattr(self, key).high
            if high <= 0:
                raise ValueError(f"dbe.{key}.high={high} must be > 0 (a fraction of price, e.g. 0.05)")
        if self.size.low < 0 or self.size.high > 1:
            raise ValueError(
                f"dbe.size bounds [{self.size.low}, {self.size.high}] must lie within [0, 1] (a fraction of the"
                " target exposure); use e.g. {low: 0.25, high: 1.0}"
            )
        if self.low_vol_percentile >= self.high_vol_percentile:
            raise ValueError(
                f"dbe.low_vol_percentile={self.low_vol_percentile} must be < dbe.high_vol_percentile="
                f"{self.high_vol_percentile}; lower the first or raise the second"
            )
        if self.critical_drawdown is not None and self.critical_drawdown <= self.defensive_drawdown:
            raise ValueError(
                f"dbe.critical_drawdown={self.critical_drawdown} must be > dbe.defensive_drawdown="
                f"{self.defensive_drawdown} (the account turns defensive first, critical deeper)"
            )
        return self

    @property
    def critical_level(self) -> float:
        """The account drawdown of the critical account mode: ``critical_drawdown``, else twice the defensive one (a
        level of 1 or more is never reached)."""
        if self.critical_drawdown is not None:
            return float(self.critical_drawdown)
        return 2.0 * float(self.defensive_drawdown)


class EnvConfig(Section):
    """Trading environment: observation window, actions, episodes and reward."""

    mode: Literal["single", "universe", "portfolio"] = Field(
        "single",
        description="single: one symbol; universe: each episode trades one symbol drawn from data.symbols;"
        " portfolio: one env holds every symbol",
    )
    window: int = Field(32, ge=1, le=1024, description="bars of features in the 'market' observation")
    episode_length: int = Field(1024, ge=16, description="steps per training episode (truncation)")
    action_type: Literal["discrete", "continuous"] = "discrete"
    exposure_levels: list[float] | None = Field(
        None, description="discrete target exposures; default [-1, 0, 1] for perpetual, [0, 1] for spot"
    )
    reward: Literal["log_return", "differential_sharpe", "drawdown_penalized"] = "log_return"
    reward_scale: float = Field(100.0, gt=0, description="multiplier on the reward (keeps PPO's values O(1))")
    drawdown_penalty: float = Field(0.5, ge=0, description="weight of the drawdown increase, drawdown_penalized only")
    sharpe_eta: float = Field(0.01, gt=0, lt=1, description="EMA rate of the differential Sharpe ratio")
    max_drawdown: float = Field(0.5, gt=0, le=1, description="terminate when drawdown exceeds this fraction")
    random_start: bool = Field(True, description="random episode starts inside the split (train)")
    decision_every: int = Field(
        12, ge=1, le=1440, description="the agent decides every N base bars; the target is held in between"
    )
    rebalance_threshold: float = Field(
        0.0, ge=0, le=2, description="no-trade band: keep the held target unless the new one differs by more"
    )
    turnover_penalty: float = Field(
        0.0, ge=0, le=1, description="extra reward penalty per unit of notional traded / equity (on top of costs)"
    )
    action_mode: Literal["target", "delta"] = Field(
        "target", description="target: the action is the exposure level; delta: hold / step up / step down / flat"
    )

    @model_validator(mode="after")
    def _check(self) -> EnvConfig:
        if self.action_mode == "delta" and self.action_type != "discrete":
            raise ValueError(
                "env.action_mode='delta' needs env.action_type='discrete' (hold / step up / step down / flat are"
                f" discrete moves), got env.action_type={self.action_type!r}; use action_mode 'target' for continuous"
            )
        if self.action_mode == "delta" and self.exposure_levels is not None and 0 not in self.exposure_levels:
            raise ValueError(
                f"env.action_mode='delta' needs a flat level 0 in env.exposure_levels, got {self.exposure_levels}"
            )
        if self.exposure_levels is not None:
            if len(self.exposure_levels) < 2:
                raise ValueError(f"env.exposure_levels needs at least 2 levels, got {self.exposure_levels}")
            if any(not -1 <= x <= 1 for x in self.exposure_levels):
                raise ValueError(f"env.exposure_levels must lie in [-1, 1], got {self.exposure_levels}")
        return self
