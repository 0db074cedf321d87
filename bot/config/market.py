"""Config sections of the market data: source, gap policy, features and splits."""

from __future__ import annotations

import itertools
import re
import string
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from bot.config.base import TIMEFRAME_MS, Indicator, Section, Timeframe


class SyntheticConfig(Section):
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
    assets: int = Field(
        1, ge=1, le=64, description="assets of the synthetic basket (more than 1 needs env.mode universe or portfolio)"
    )
    correlation: float = Field(
        0.5, ge=0, le=1, description="correlation of the assets' bar returns (one common factor); 1 asset: unused"
    )
    signal_strengths: list[float] | None = Field(
        None,
        description="per-asset planted signal strength (one per asset, each 0..1); null: signal_strength for every"
        " asset",
    )

    @model_validator(mode="after")
    def _check_basket(self) -> SyntheticConfig:
        strengths = self.signal_strengths
        if strengths is not None and len(strengths) != self.assets:
            raise ValueError(
                f"data.synthetic.signal_strengths has {len(strengths)} entries for data.synthetic.assets={self.assets};"
                " give one strength per asset (e.g. [0.5, 0, 0] plants a signal in the first of 3)"
            )
        if strengths is not None and any(not 0 <= k <= 1 for k in strengths):
            raise ValueError(f"data.synthetic.signal_strengths must each lie in [0, 1], got {strengths}")
        return self

    def strengths(self) -> list[float]:
        """The planted signal strength of each asset."""
        if self.signal_strengths is not None:
            return list(self.signal_strengths)
        return [self.signal_strength] * self.assets


class PlausibilityConfig(Section):
    """Checks of candles that pass validation but are unlikely to be right (spikes, swapped volume columns)."""

    action: Literal["warn", "error", "off"] = Field(
        "warn", description="what a finding does: 'warn' (console WARNING naming the rows), 'error' (refuse the file)"
    )
    max_sigmas: float = Field(
        200.0,
        gt=0,
        description="a bar whose close-to-close return or high-low range exceeds this many robust sigmas (median"
        " absolute return around it) is a spike; real crashes reach about 80",
    )
    window: int = Field(288, ge=10, le=100_000, description="bars of the centred window of the robust sigma")
    vwap_tolerance: float = Field(
        0.01,
        ge=0,
        le=1,
        description="quote volume / volume (the bar's average price) may lie this fraction outside low..high",
    )


def _symbol_of(path: Any) -> str:
    """``BTC_USDT-5m.csv.gz`` (as ``fetch-data`` names files) -> ``BTC/USDT``; any other name -> its stem."""
    name = Path(str(path or "")).name
    match = re.match(r"([A-Z0-9]{2,12})_([A-Z0-9]{2,12})(?=[-_.]|$)", name)
    return f"{match[1]}/{match[2]}" if match else name.split(".")[0] or "UNKNOWN"


class SymbolFile(Section):
    """One symbol of a universe and its candle file."""

    symbol: str = Field(min_length=1, description="symbol label, ccxt style (BTC/USDT)")
    path: str = Field(min_length=1, description="its OHLCV file; relative to the working dir")


#: placeholders ``data.pattern`` may use
PATTERN_KEYS = ("base", "quote", "symbol", "timeframe")


def symbol_parts(symbol: str) -> dict[str, str]:
    """``BTC/USDT:USDT`` -> ``{base: BTC, quote: USDT, symbol: BTC_USDT}`` (what ``data.pattern`` fills in)."""
    pair = symbol.split(":", 1)[0]
    base, _, quote = pair.partition("/")
    return {"base": base, "quote": quote, "symbol": pair.replace("/", "_")}


class DataConfig(Section):
    """Where the candles come from and how gaps are handled."""

    source: Literal["synthetic", "file"] = Field(
        "synthetic",
        description="'synthetic' (embedded) or 'file'; omitted or null: 'file' when data.path is set, else 'synthetic'",
    )
    path: str | None = Field(
        None, description="OHLCV file (CSV/.csv.gz/Parquet/Feather) for source=file; relative to the working dir"
    )
    symbol: str = Field(
        "SYN/USDT",
        description="symbol label, ccxt style; omitted or null: SYN/USDT for synthetic data, else from the file name"
        " (BTC_USDT-5m.csv.gz -> BTC/USDT)",
    )
    symbols: list[SymbolFile | str] = Field(
        default_factory=list,
        description="several symbols (env.mode universe or portfolio): {symbol, path} entries, or symbol names whose"
        " files data.dir + data.pattern name; instead of data.path",
    )
    dir: str | None = Field(None, description="folder of the symbols' files named by data.pattern")
    pattern: str = Field(
        "{base}_{quote}-{timeframe}.csv.gz",
        description="file name of a symbol in data.dir; placeholders {base}, {quote}, {symbol} (BTC_USDT), {timeframe}",
    )
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
    gap_warning_hours: float = Field(
        24.0, ge=0, description="gaps this long or longer are reported on the console as a WARNING (0 = never)"
    )
    plausibility: PlausibilityConfig = Field(default_factory=PlausibilityConfig)
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)

    @model_validator(mode="before")
    @classmethod
    def _implied(cls, data: Any) -> Any:
        """An omitted source follows data.path, an omitted symbol the source: the data is never mislabelled."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.get("source") is None:
            data["source"] = "file" if data.get("path") or data.get("symbols") else "synthetic"
        if data.get("symbol") is None:
            names = [s.get("symbol") if isinstance(s, dict) else s for s in data.get("symbols") or []]
            if data.get("path") or not names:
                data["symbol"] = _symbol_of(data.get("path")) if data["source"] == "file" else "SYN/USDT"
            else:
                data["symbol"] = "+".join(str(n) for n in names)
        return data

    @field_validator("path")
    @classmethod
    def _path_needs_file_source(cls, path: str | None, info: ValidationInfo) -> str | None:
        # an ignored path would train on the synthetic market while the user believes it is their file
        if path and info.data.get("source") == "synthetic":
            raise ValueError(
                "data.source='synthetic' ignores data.path; set data.source=file (and data.symbol) to use the file,"
                " or remove data.path"
            )
        return path

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        self._check_symbols()
        if self.source == "file" and not (self.path or self.symbols):
            raise ValueError("data.path is required when data.source is 'file' (or data.symbols for several symbols)")
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

    def _check_symbols(self) -> None:
        if self.symbols and self.path:
            raise ValueError("data.path and data.symbols exclude each other; list every file under data.symbols")
        if self.symbols and self.source == "synthetic":
            raise ValueError(
                "data.source='synthetic' ignores data.symbols; use data.synthetic.assets for a synthetic basket, or"
                " data.source=file"
            )
        if self.dir is not None and not self.symbols:
            raise ValueError(f"data.dir={self.dir!r} needs data.symbols (the names data.pattern turns into files)")
        names = [s.symbol if isinstance(s, SymbolFile) else s for s in self.symbols]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"data.symbols lists {', '.join(twice)} more than once; list each symbol once")
        bare = [s for s in self.symbols if isinstance(s, str)]
        if bare and self.dir is None:
            raise ValueError(
                f"data.symbols entry {bare[0]!r} is a bare name: set data.dir (its file is data.dir/data.pattern) or"
                " give {symbol, path}"
            )
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(self.pattern) if f is not None}
        except ValueError as e:
            raise ValueError(f"data.pattern={self.pattern!r} is not a valid pattern: {e}") from e
        unknown = sorted(fields - set(PATTERN_KEYS))
        if unknown:
            allowed = ", ".join(f"{{{k}}}" for k in PATTERN_KEYS)
            raise ValueError(f"data.pattern={self.pattern!r} uses unknown placeholder(s) {unknown}; use {allowed}")

    def symbol_files(self) -> list[SymbolFile]:
        """Each symbol and its file: ``data.symbols`` resolved against ``data.dir`` + ``data.pattern``, or the one
        ``data.path`` (an empty list for synthetic data)."""
        if self.path:
            return [SymbolFile(symbol=self.symbol, path=self.path)]
        out = []
        for entry in self.symbols:
            if isinstance(entry, SymbolFile):
                out.append(entry)
                continue
            name = self.pattern.format(timeframe=self.base_timeframe, **symbol_parts(entry))
            out.append(SymbolFile(symbol=entry, path=str(Path(self.dir or ".") / name)))
        return out

    @property
    def n_symbols(self) -> int:
        """Symbols the data names: listed files, synthetic assets, or 1."""
        if self.source == "synthetic":
            return self.synthetic.assets
        return max(len(self.symbols), 1)


class FeaturesConfig(Section):
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


class WalkForwardConfig(Section):
    """Walk-forward folds over the data: consecutive blocks, each a training window, an embargo and a test window."""

    n_folds: int = Field(3, ge=1, le=50, description="number of walk-forward folds")
    embargo_bars: int = Field(288, ge=0, description="bars dropped between a fold's train and test windows")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="each fold's test window as a fraction of the fold")


class SplitsConfig(Section):
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
