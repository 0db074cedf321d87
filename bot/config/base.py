"""Shared pieces of the config models: timeframes, indicator names and the strict section base class."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

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


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

