"""Tests of bot/config/: loading, overrides and errors that name the dotted key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import BotConfig, load_config
from bot.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["config.yaml", "demo.yaml"])
def test_shipped_configs_load(name: str) -> None:
    cfg = load_config(REPO / "config" / name)
    assert isinstance(cfg, BotConfig)


def test_config_yaml_documents_every_default_key() -> None:
    """config.yaml spells out every key of the schema, so it is the full reference."""
    import yaml

    shipped = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    defaults = BotConfig().model_dump(mode="json")

    def keys(d: dict, prefix: str = "") -> set[str]:
        out = set()
        for k, v in d.items():
            out.add(prefix + k)
            if isinstance(v, dict) and k not in {"stop_loss", "take_profit", "size"}:
                out |= keys(v, prefix + k + ".")
        return out

    assert keys(defaults) - keys(shipped) == set()


def test_overrides_are_parsed_as_yaml_scalars() -> None:
    cfg = load_config(
        None, ["training.n_workers=3", "env.exposure_levels=[-1, 0, 1]", "data.start=2023-02-01", "dbe.enabled=false"]
    )
    assert cfg.training.n_workers == 3
    assert cfg.env.exposure_levels == [-1.0, 0.0, 1.0]
    assert cfg.data.start == "2023-02-01"
    assert cfg.dbe.enabled is False


def test_unknown_key_names_the_dotted_key(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("training:\n  n_wrkers: 2\n")
    with pytest.raises(ConfigError, match=r"training\.n_wrkers: unknown key"):
        load_config(f)


def test_wrong_type_names_key_and_value() -> None:
    with pytest.raises(ConfigError, match=r"training\.total_timesteps='many'.*valid integer"):
        load_config(None, ["training.total_timesteps=many"])


def test_out_of_range_names_key_value_and_bound() -> None:
    with pytest.raises(ConfigError, match=r"training\.n_workers=0: .*greater than or equal to 1"):
        load_config(None, ["training.n_workers=0"])


def test_cross_field_rules() -> None:
    with pytest.raises(ConfigError, match="must start with data.base_timeframe"):
        load_config(None, ["data.timeframes=[1h, 4h]"])
    with pytest.raises(ConfigError, match="each divide the next"):
        load_config(None, ["data.timeframes=[5m, 4h, 1h]"])
    with pytest.raises(ConfigError, match="leave a test split"):
        load_config(None, ["splits.train_fraction=0.9", "splits.validation_fraction=0.1"])
    with pytest.raises(ConfigError, match="leverage=2.0 must be 1 for portfolio.market=spot"):
        load_config(None, ["portfolio.market=spot", "portfolio.leverage=2"])
    with pytest.raises(ConfigError, match="data.path is required"):
        load_config(None, ["data.source=file"])
    with pytest.raises(ConfigError, match=r"dbe\.size bounds \[0\.25, 1\.5\] must lie within \[0, 1\]"):
        load_config(None, ["dbe.size={low: 0.25, high: 1.5}"])
    with pytest.raises(ConfigError, match=r"dbe\.stop_loss\.high=0\.0 must be > 0"):
        load_config(None, ["dbe.stop_loss={low: 0, high: 0}"])


@pytest.mark.parametrize(
    ("text", "match"),
    [("- a\n- b\n", "must hold a mapping"), ("a: [1,\n", "not valid YAML")],
)
def test_bad_files(tmp_path: Path, text: str, match: str) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(f)


def test_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("bad", ["novalue", "=3", "a..b=1"])
def test_malformed_override(bad: str) -> None:
    with pytest.raises(ConfigError, match="dotted.key=value"):
        load_config(None, [bad])


def test_override_into_a_value_is_an_error() -> None:
    with pytest.raises(ConfigError, match="seed is a value"):
        load_config(None, ["seed=1", "seed.x=1"])
    with pytest.raises(ConfigError, match=r"seed=\{'x': 1\}: Input should be a valid integer"):
        load_config(None, ["seed.x=1"])


def test_resolved_yaml_round_trips(tmp_path: Path) -> None:
    cfg = load_config(REPO / "config" / "demo.yaml", ["seed=5"])
    f = tmp_path / "resolved.yaml"
    f.write_text(cfg.to_yaml())
    assert load_config(f) == cfg


def test_config_yaml_values_are_the_schema_defaults() -> None:
    """'Omitted keys take the defaults shown here': config.yaml and the schema say the same thing."""
    assert load_config(REPO / "config" / "config.yaml").model_dump(mode="json") == BotConfig().model_dump(mode="json")
