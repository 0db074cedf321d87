"""Pydantic models of the YAML config and ``load_config``: validate once at the edge, pass typed models inward.

Every section forbids unknown keys, so a typo is an error that names the dotted key instead of a silently ignored
setting. ``--set dotted.key=value`` overrides are parsed as YAML scalars and applied before validation.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.errors import ConfigError

Timeframe = Literal["1m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d"]
Indicator = Literal["log_return", "rsi", "macd", "atr", "bbands_pctb", "adx", "ema_slope", "volume_zscore", "signal"]

#: Milliseconds per bar for every supported timeframe.
TIMEFRAME_MS: dict[str, int] = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


# ---------------------------------------------------------------------------------------------------------------
# data / features / splits
# ---------------------------------------------------------------------------------------------------------------


class SyntheticConfig(_Section):
    """Offline synthetic market: the embedded default data and the ground truth for learning tests."""

    n_bars: int = Field(20_000, ge=500, le=5_000_000, description="number of base bars to generate")
    seed: int = Field(7, ge=0, description="generator seed; same seed gives the same market")
    start: str = Field("2024-01-01", description="ISO date of the first bar open (UTC)")
    start_price: float = Field(30_000.0, gt=0, description="first open price")
    annual_vol: float = Field(0.6, gt=0, le=5, description="baseline annualised volatility (fraction)")
    regime_persistence: float = Field(
        0.995, ge=0, lt=1, description="probability of staying in the current trend/volatility regime each bar"
    )
    signal_strength: float = Field(
        0.0,
        ge=0,
        le=1,
        description="planted predictable signal: share of the next bar's return announced by the 'signal' column"
        " one bar ahead (0 = none)",
    )
    base_volume: float = Field(100.0, gt=0, description="mean volume per bar")


class DataConfig(_Section):
    """Where the candles come from and how gaps are handled."""

    source: Literal["synthetic", "file"] = Field("synthetic", description="'synthetic' (embedded) or 'file'")
    path: str | None = Field(
        None, description="OHLCV file (CSV/.csv.gz/Parquet/Feather) for source=file; relative to the working dir"
    )
    symbol: str = Field("BTC/USDT", description="symbol label, ccxt style")
    base_timeframe: Timeframe = Field("5m", description="timeframe of the file / generated bars (the env clock)")
    timeframes: list[Timeframe] = Field(
        default_factory=lambda: list[Timeframe](["5m", "1h", "4h"]),
        description="timeframes whose features form the observation; the first must equal base_timeframe",
    )
    start: str | None = Field(None, description="ISO date: drop bars opening before it")
    end: str | None = Field(None, description="ISO date: drop bars opening at or after it")
    gap_policy: Literal["segment", "fail", "ffill"] = Field(
        "segment",
        description="missing bars: 'segment' splits the series so no episode or feature window spans a gap;"
        " 'fail' raises; 'ffill' inserts flat zero-volume bars (only for tiny gaps)",
    )
    max_ffill_bars: int = Field(3, ge=0, le=100, description="largest gap (bars) that gap_policy=ffill may fill")
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        if self.source == "file" and not self.path:
            raise ValueError("data.path is required when data.source is 'file'")
        if not self.timeframes or self.timeframes[0] != self.base_timeframe:
            raise ValueError(
                f"data.timeframes must start with data.base_timeframe={self.base_timeframe!r}, got {self.timeframes}"
            )
        tf_ms = [TIMEFRAME_MS[t] for t in self.timeframes]
        if any(b <= a or b % a for a, b in itertools.pairwise(tf_ms)):
            raise ValueError(
                f"data.timeframes must increase and each divide the next (e.g. 5m, 1h, 4h), got {self.timeframes}"
            )
        return self


class FeaturesConfig(_Section):
    """Per-timeframe features computed with TA-Lib, then normalised with statistics fit on the training split."""

    indicators: list[Indicator] = Field(
        default_factory=lambda: list[Indicator](
            [
                "log_return",
                "rsi",
                "macd",
                "atr",
                "bbands_pctb",
                "adx",
                "ema_slope",
                "volume_zscore",
            ]
        ),
        description="indicators per timeframe ('signal' exists only on synthetic data with a planted signal)",
    )
    rsi_period: int = Field(14, ge=2, le=500)
    macd_fast: int = Field(12, ge=2, le=500)
    macd_slow: int = Field(26, ge=3, le=500)
    macd_signal: int = Field(9, ge=2, le=500)
    atr_period: int = Field(14, ge=2, le=500)
    bbands_period: int = Field(20, ge=2, le=500)
    bbands_std: float = Field(2.0, gt=0, le=10)
    adx_period: int = Field(14, ge=2, le=500)
    ema_period: int = Field(20, ge=2, le=500)
    volume_window: int = Field(50, ge=2, le=5000)
    normalize: Literal["zscore", "none"] = Field("zscore", description="per-feature normalisation fit on train only")
    clip: float = Field(10.0, gt=0, description="clip normalised features to [-clip, clip]")

    @model_validator(mode="after")
    def _check(self) -> FeaturesConfig:
        if self.macd_fast >= self.macd_slow:
            raise ValueError(f"features.macd_fast={self.macd_fast} must be < features.macd_slow={self.macd_slow}")
        if not self.indicators:
            raise ValueError("features.indicators must name at least one indicator")
        return self


class WalkForwardConfig(_Section):
    """Walk-forward folds over the data: consecutive blocks, each a training window, an embargo and a test window."""

    n_folds: int = Field(3, ge=1, le=50, description="number of walk-forward folds")
    embargo_bars: int = Field(288, ge=0, description="bars dropped between a fold's train and test windows")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="each fold's test window as a fraction of the fold")


class SplitsConfig(_Section):
    """Chronological train / validation / test split, by fraction or by date."""

    method: Literal["fraction", "date"] = "fraction"
    train_fraction: float = Field(0.7, gt=0, lt=1)
    validation_fraction: float = Field(0.15, ge=0, lt=1)
    train_end: str | None = Field(None, description="ISO date, method=date: first bar of validation")
    validation_end: str | None = Field(None, description="ISO date, method=date: first bar of test")
    embargo_bars: int = Field(0, ge=0, description="bars dropped between consecutive splits")
    walk_forward: WalkForwardConfig = Field(default_factory=WalkForwardConfig)

    @model_validator(mode="after")
    def _check(self) -> SplitsConfig:
        if self.method == "fraction" and self.train_fraction + self.validation_fraction >= 1:
            raise ValueError(
                "splits.train_fraction + splits.validation_fraction must be < 1 to leave a test split,"
                f" got {self.train_fraction} + {self.validation_fraction}"
            )
        if self.method == "date" and not (self.train_end and self.validation_end):
            raise ValueError("splits.method=date needs splits.train_end and splits.validation_end")
        return self


# ---------------------------------------------------------------------------------------------------------------
# portfolio / dbe / env
# ---------------------------------------------------------------------------------------------------------------


class PortfolioConfig(_Section):
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
    funding_rate_8h: float = Field(0.0, ge=-0.01, le=0.01, description="funding rate charged to longs every 8h")
    lot_step: float = Field(0.00001, gt=0, description="quantity step (base asset)")
    min_notional: float = Field(5.0, ge=0, description="smallest order notional (quote)")
    max_holding_bars: int = Field(0, ge=0, description="close a position after this many bars (0 = no limit)")

    @model_validator(mode="after")
    def _check(self) -> PortfolioConfig:
        if self.leverage > self.max_leverage:
            raise ValueError(f"portfolio.leverage={self.leverage} exceeds portfolio.max_leverage={self.max_leverage}")
        if self.market == "spot" and self.leverage != 1:
            raise ValueError(f"portfolio.leverage={self.leverage} must be 1 for portfolio.market=spot")
        return self


class Bounds(_Section):
    """A closed interval ``[low, high]`` that a DBE output is clamped to."""

    low: float
    high: float

    @model_validator(mode="after")
    def _check(self) -> Bounds:
        if self.low > self.high:
            raise ValueError(f"low={self.low} must be <= high={self.high}")
        return self


class DBEConfig(_Section):
    """Dynamic behavior engine: adapts stop-loss, take-profit and size to regime and drawdown."""

    enabled: bool = True
    atr_window: int = Field(500, ge=10, description="bars of ATR history for the volatility percentile")
    trend_window: int = Field(100, ge=5, description="bars over which trend strength is measured")
    defensive_drawdown: float = Field(0.10, gt=0, lt=1, description="drawdown (fraction) that forces defensive mode")
    high_vol_percentile: float = Field(0.8, gt=0, lt=1, description="volatility percentile that counts as high")
    low_vol_percentile: float = Field(0.3, gt=0, lt=1, description="volatility percentile that counts as low")
    loss_streak_defensive: int = Field(3, ge=1, description="consecutive losing trades that force defensive mode")
    win_streak_aggressive: int = Field(3, ge=1, description="consecutive winning trades that allow aggressive mode")
    base_stop_loss: float = Field(0.02, gt=0, lt=1, description="neutral stop-loss distance (fraction of price)")
    base_take_profit: float = Field(0.04, gt=0, description="neutral take-profit distance (fraction of price)")
    base_size: float = Field(1.0, gt=0, le=1, description="neutral position-size fraction")
    stop_loss: Bounds = Field(default_factory=lambda: Bounds(low=0.005, high=0.05))
    take_profit: Bounds = Field(default_factory=lambda: Bounds(low=0.01, high=0.10))
    size: Bounds = Field(default_factory=lambda: Bounds(low=0.25, high=1.0))

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
        return self


class EnvConfig(_Section):
    """Trading environment: observation window, actions, episodes and reward."""

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

    @model_validator(mode="after")
    def _check(self) -> EnvConfig:
        if self.exposure_levels is not None:
            if len(self.exposure_levels) < 2:
                raise ValueError(f"env.exposure_levels needs at least 2 levels, got {self.exposure_levels}")
            if any(not -1 <= x <= 1 for x in self.exposure_levels):
                raise ValueError(f"env.exposure_levels must lie in [-1, 1], got {self.exposure_levels}")
        return self


# ---------------------------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------------------------


class PPOConfig(_Section):
    """stable-baselines3 PPO hyperparameters (same names as ``PPO``'s arguments); ``net_arch`` = hidden layer sizes."""

    learning_rate: float = Field(3e-4, gt=0, lt=1)
    n_steps: int = Field(256, ge=8, description="rollout steps per env per update (buffer = n_steps * n_envs)")
    batch_size: int = Field(256, ge=8)
    n_epochs: int = Field(4, ge=1, le=100)
    gamma: float = Field(0.99, gt=0, le=1)
    gae_lambda: float = Field(0.95, gt=0, le=1)
    clip_range: float = Field(0.2, gt=0, lt=1)
    ent_coef: float = Field(0.01, ge=0)
    vf_coef: float = Field(0.5, ge=0)
    max_grad_norm: float = Field(0.5, gt=0)
    net_arch: list[int] = Field(default_factory=lambda: [128, 128])


class DQNConfig(_Section):
    """Double-DQN hyperparameters (same names as stable-baselines3 ``DQN``'s arguments)."""

    learning_rate: float = Field(1e-4, gt=0, lt=1)
    buffer_size: int = Field(100_000, ge=100)
    learning_starts: int = Field(1_000, ge=0)
    batch_size: int = Field(128, ge=8)
    gamma: float = Field(0.99, gt=0, le=1)
    train_freq: int = Field(4, ge=1)
    gradient_steps: int = Field(1, ge=-1)
    target_update_interval: int = Field(1_000, ge=1)
    exploration_fraction: float = Field(0.2, gt=0, le=1)
    exploration_final_eps: float = Field(0.05, ge=0, le=1)
    net_arch: list[int] = Field(default_factory=lambda: [128, 128])
    save_replay_buffer: bool = Field(False, description="store the replay buffer with checkpoints for --resume")


class TrainingConfig(_Section):
    """Algorithm, parallel workers, budget, checkpoints and validation of a training run."""

    algo: Literal["ppo", "ddqn", "maskable_ppo"] = "ppo"
    n_workers: int = Field(2, ge=1, le=64, description="worker processes (1 = in-process)")
    n_envs_per_worker: int = Field(4, ge=1, le=256, description="environments stepped as a batch in each worker")
    total_timesteps: int = Field(50_000, ge=1)
    start_method: Literal["fork", "forkserver", "spawn"] | None = Field(
        None, description="multiprocessing start method (default: forkserver on Linux, spawn elsewhere)"
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    torch_threads: int = Field(0, ge=0, description="torch threads for the learner (0 = cores minus workers, >= 1)")
    worker_timeout_s: float = Field(
        600.0,
        ge=0,
        description="a worker silent this long (alive but no reply) counts as hung: the run saves a checkpoint and"
        " fails (0 = wait as long as it lives)",
    )
    log_trades: bool = Field(
        False,
        description="log every simulated trade opened/closed by the training envs (thousands a minute);"
        " evaluation and paper trading always log them",
    )
    vecnormalize: bool = Field(False, description="wrap envs in VecNormalize (stats saved with checkpoints)")
    checkpoint_dir: str = Field("checkpoints", description="parent folder of run folders")
    checkpoint_freq: int = Field(10_000, ge=0, description="timesteps between numbered checkpoints (0 = end only)")
    keep_checkpoints: int = Field(3, ge=1, description="numbered checkpoints kept")
    eval_freq: int = Field(10_000, ge=0, description="timesteps between validation runs (0 = never)")
    early_stop_patience: int = Field(0, ge=0, description="stop after N validations without improvement (0 = off)")
    ppo: PPOConfig = Field(default_factory=PPOConfig)
    dqn: DQNConfig = Field(default_factory=DQNConfig)


# ---------------------------------------------------------------------------------------------------------------
# logging / evaluation / live / api
# ---------------------------------------------------------------------------------------------------------------


class LoggingConfig(_Section):
    """SmartLogger policy, applied once at the listener in the main process."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    console: bool = True
    console_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    file: str | None = Field("bot.log", description="rotating log file, relative to the run folder (null = none)")
    max_bytes: int = Field(10_000_000, ge=1_000, description="rotate the log file at this size")
    backup_count: int = Field(5, ge=0, le=1000)
    jsonl_file: str | None = Field(None, description="optional JSON-lines log file, relative to the run folder")
    warning_dedup_window_s: float = Field(5.0, ge=0, description="window in which repeated warnings are counted")
    info_rotation_interval_s: float = Field(
        1.0, gt=0, description="seconds before INFO rotation moves to the next worker"
    )
    debug_sample_rate: float = Field(0.1, ge=0, le=1, description="share of DEBUG templates that pass")
    queue_size: int = Field(10_000, ge=10, description="bounded worker->listener queue; full = drop and count")
    critical_keywords: list[str] = Field(
        default_factory=lambda: [
            "trade opened",
            "trade closed",
            "stop loss",
            "take profit",
            "liquidation",
            "drawdown limit",
            "dbe mode change",
        ],
        description="INFO messages containing any of these (case-insensitive) always pass",
    )
    redact_keys: list[str] = Field(
        default_factory=lambda: ["api_key", "apikey", "secret", "password", "token"],
        description="key names whose values are redacted (key=value, key: value, JSON)",
    )
    redact_patterns: list[str] = Field(default_factory=list, description="extra regexes whose matches are redacted")


class EvaluationConfig(_Section):
    """Out-of-sample evaluation: baselines and the risk-free rate of the risk-adjusted metrics."""

    n_random_runs: int = Field(50, ge=1, description="random-policy baseline runs (mean and 95% CI)")
    ma_fast: int = Field(20, ge=1, description="fast moving average (bars) of the crossover baseline")
    ma_slow: int = Field(100, ge=2, description="slow moving average (bars) of the crossover baseline")
    risk_free_rate: float = Field(0.0, ge=0, lt=1, description="annual risk-free rate for Sharpe/Sortino")


class LiveConfig(_Section):
    """Paper trading on the exchange testnet: market, kill switches, retries and the state file."""

    exchange: Literal["bybit"] = "bybit"
    symbol: str = Field("BTC/USDT:USDT", description="ccxt symbol; ':USDT' = linear perpetual")
    timeframe: Timeframe = "5m"
    testnet: bool = True
    exchange_url: str | None = Field(None, description="override every ccxt URL (loopback emulator in tests)")
    max_daily_loss: float = Field(0.05, gt=0, lt=1, description="kill switch: stop when the day's loss exceeds it")
    max_position_notional: float = Field(10_000.0, gt=0, description="kill switch: largest position notional (quote)")
    stale_after_s: float = Field(120.0, gt=0, description="data older than this past the bar close is stale")
    max_retries: int = Field(5, ge=0, le=20)
    retry_backoff_s: float = Field(0.5, ge=0, description="first retry delay, grows quadratically")
    state_path: str = Field("paper_state.sqlite", description="SQLite state of the paper trader")


class ApiConfig(_Section):
    """The control API and dashboard: bind address, job store and bearer-token variable."""

    host: str = Field("127.0.0.1", description="bind address; loopback by default")
    port: int = Field(8000, ge=1, le=65535)
    db_path: str = Field("checkpoints/api.sqlite", description="SQLite job store (WAL)")
    max_concurrent_jobs: int = Field(1, ge=1, le=16, description="jobs running at once; others wait in a queue")
    token_env: str = Field("BOT_API_TOKEN", description="environment variable holding the bearer token")


class BotConfig(_Section):
    """The whole configuration of a run. Every section forbids unknown keys."""

    seed: int = Field(42, ge=0, description="master seed: envs, torch and numpy derive from it")
    run_name: str | None = Field(None, description="run folder name (default: <algo>_<symbol>_<time>)")
    data: DataConfig = Field(default_factory=DataConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    splits: SplitsConfig = Field(default_factory=SplitsConfig)
    portfolio: PortfolioConfig = Field(default_factory=PortfolioConfig)
    dbe: DBEConfig = Field(default_factory=DBEConfig)
    env: EnvConfig = Field(default_factory=EnvConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    live: LiveConfig = Field(default_factory=LiveConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)

    def to_yaml(self) -> str:
        """The resolved config as YAML (what checkpoints store as ``config.yaml``)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


# ---------------------------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------------------------


def _format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"invalid config {source}:"]
    for item in err.errors():
        key = ".".join(str(p) for p in item["loc"]) or "<root>"
        value = item.get("input")
        if item["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key (check the spelling against config/config.yaml)")
        elif item["type"] == "missing":
            lines.append(f"  {key}: required key is missing")
        else:
            msg = item["msg"].removeprefix("Value error, ")
            lines.append(f"  {key}={value!r}: {msg}")
    return "\n".join(lines)


class _YamlLoader(yaml.SafeLoader):
    """SafeLoader that keeps dates as text: ``start: 2023-01-01`` stays the string the schema expects."""


_YamlLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _yaml_load(text: str) -> Any:
    return yaml.load(text, Loader=_YamlLoader)


def parse_override(override: str) -> tuple[list[str], Any]:
    """Split ``"a.b.c=value"`` into the key path and the YAML-parsed value.

    :raises ConfigError: when the string has no ``=`` or an empty key.
    """
    key, sep, raw = override.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {override!r} must look like dotted.key=value, e.g. training.n_workers=2")
    try:
        value = _yaml_load(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise ConfigError(f"override {override!r}: value {raw!r} is not valid YAML: {e}") from e
    return key.split("."), value


def apply_overrides(raw: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``dotted.key=value`` overrides to a raw config mapping (in place) and return it."""
    for override in overrides:
        path, value = parse_override(override)
        node = raw
        for i, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                dotted = ".".join(path[: i + 1])
                raise ConfigError(f"override {override!r}: {dotted} is a value ({child!r}), not a section")
            node = child
        node[path[-1]] = value
    return raw


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> BotConfig:
    """Load and validate a YAML config, applying ``dotted.key=value`` overrides first.

    :param path: YAML file; ``None`` starts from the built-in defaults.
    :param overrides: ``--set`` strings such as ``"training.n_workers=2"``.
    :return: the validated config.
    :raises ConfigError: naming the file, the dotted key, the bad value and what was expected.
    """
    raw: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        source = str(path)
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"config file {source} does not exist; pass --config config/demo.yaml or a file of yours")
        try:
            loaded = _yaml_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise ConfigError(f"config file {source} is not valid YAML: {e}") from e
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {source} must hold a mapping of sections, got {type(loaded).__name__}")
        raw = loaded
    apply_overrides(raw, overrides)
    try:
        return BotConfig.model_validate(raw)
    except ValidationError as e:
        suffix = f" (with overrides {list(overrides)})" if overrides else ""
        raise ConfigError(_format_validation_error(e, source + suffix)) from e
