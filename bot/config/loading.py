"""The root config model and ``load_config``: YAML (dates kept as text), ``--set`` overrides, clear errors.

Every section forbids unknown keys, so a typo is an error that names the dotted key instead of a silently ignored
setting. ``--set dotted.key=value`` overrides are parsed as YAML scalars and applied before validation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, model_validator

from bot.config.base import Section
from bot.config.market import DataConfig, FeaturesConfig, SplitsConfig
from bot.config.services import ApiConfig, EvaluationConfig, LiveConfig, LoggingConfig
from bot.config.trading import DBEConfig, EnvConfig, PortfolioConfig
from bot.config.training import TrainingConfig
from bot.errors import ConfigError


class BotConfig(Section):
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

    @model_validator(mode="after")
    def _check_cross_sections(self) -> BotConfig:
        if self.env.mode == "single" and self.data.n_symbols > 1:
            raise ValueError(
                f"the data names {self.data.n_symbols} symbols but env.mode='single' trades one; set env.mode to"
                " universe or portfolio, or give one symbol"
            )
        if self.portfolio.assets:
            if self.env.mode == "single":
                raise ValueError(
                    "portfolio.assets sets per-symbol costs for env.mode universe or portfolio; with one symbol set"
                    " portfolio.lot_step, min_notional, taker_fee and maker_fee themselves"
                )
            if self.data.source == "file":
                self.portfolio.check_symbols([f.symbol for f in self.data.symbol_files()])
        episode_bars = self.env.episode_length * self.env.decision_every
        if self.portfolio.min_holding_bars > episode_bars:
            raise ValueError(
                f"portfolio.min_holding_bars={self.portfolio.min_holding_bars} exceeds a training episode of"
                f" {episode_bars} bars (env.episode_length x env.decision_every); allowed range 0..{episode_bars}"
            )
        return self

    def to_yaml(self) -> str:
        """The resolved config as YAML (what checkpoints store as ``config.yaml``)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


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
