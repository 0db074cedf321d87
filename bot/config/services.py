"""Config sections of the services around training: logging, evaluation, paper trading and the API."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bot.config.base import Section, Timeframe
from bot.smartlog import SmartLogSettings

#: The ``logging:`` section is the SmartLogger's own settings model: one declaration of its fields, bounds and defaults.
LoggingConfig = SmartLogSettings


class EvaluationConfig(Section):
    """Out-of-sample evaluation: baselines and the risk-free rate of the risk-adjusted metrics."""

    n_random_runs: int = Field(50, ge=1, description="random-policy baseline runs (mean and 95% CI)")
    ma_fast: int = Field(20, ge=1, description="fast moving average (bars) of the crossover baseline")
    ma_slow: int = Field(100, ge=2, description="slow moving average (bars) of the crossover baseline")
    risk_free_rate: float = Field(0.0, ge=0, lt=1, description="annual risk-free rate for Sharpe/Sortino")


class LiveConfig(Section):
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
    max_outage_s: float = Field(
        900.0, gt=0, description="keep trading through an exchange outage this long (seconds), then give up"
    )
    state_path: str = Field("paper_state.sqlite", description="SQLite state of the paper trader")


class ApiConfig(Section):
    """The control API and dashboard: bind address, job store and bearer-token variable."""

    host: str = Field("127.0.0.1", description="bind address; loopback by default")
    port: int = Field(8000, ge=1, le=65535)
    db_path: str = Field("checkpoints/api.sqlite", description="SQLite job store (WAL)")
    max_concurrent_jobs: int = Field(1, ge=1, le=16, description="jobs running at once; others wait in a queue")
    token_env: str = Field("BOT_API_TOKEN", description="environment variable holding the bearer token")
    trusted_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost", "::1"],
        description="Host header values the server answers (DNS-rebinding guard); '*' allows any",
    )
    data_roots: list[str] = Field(
        default_factory=lambda: ["data", "../shared/data"],
        description="folders (relative to the server's working dir) a job's data.path must lie in",
    )
    max_workers: int = Field(0, ge=0, le=256, description="most worker processes per job (0 = the machine's cores)")
    max_envs: int = Field(64, ge=1, le=4096, description="most environments per job (workers x envs per worker)")
    worker_memory_mb: int = Field(
        512, ge=0, description="memory assumed per trainer process (MiB); a job must fit the machine's memory (0 = off)"
    )
    max_timesteps: int = Field(100_000_000, ge=1, description="largest timestep budget of a job")
    max_overrides: int = Field(32, ge=0, le=1000, description="most --set overrides per job")
    max_override_chars: int = Field(500, ge=10, le=100_000, description="longest override string (characters)")
    max_body_bytes: int = Field(65_536, ge=1024, description="largest request body (bytes); larger gets 413")
    stall_timeout_s: float = Field(
        120.0, gt=0, description="a trainer silent this long (no event or heartbeat) is killed and its job failed"
    )
