"""Search-space files: syntax and schema checks before Ray starts, each error naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.tune.space import check_against_schema, load_space
from tests.support.training import REPO_ROOT

DEMO = REPO_ROOT / "config" / "demo.yaml"


def _space(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["ppo.yaml", "pbt.yaml"])
def test_shipped_spaces_pass_the_schema(name: str) -> None:
    space = load_space(REPO_ROOT / "config" / "tune" / name)
    check_against_schema(space, DEMO, [])
    assert "training.ppo.learning_rate" in space.keys


def test_every_distribution_kind_is_read(tmp_path: Path) -> None:
    space = load_space(_space(tmp_path, """
training.ppo.learning_rate: {loguniform: [1.0e-5, 1.0e-3]}
training.ppo.ent_coef: {uniform: [0.0, 0.02]}
env.decision_every: {quniform: [6, 24, 6]}
training.ppo.n_epochs: {randint: [2, 8]}
env.reward: {choice: [log_return, differential_sharpe]}
training.ppo.clip_range: {grid: [0.1, 0.2, 0.3]}
"""))
    check_against_schema(space, DEMO, [])
    assert [p.kind for p in space.params] == ["loguniform", "uniform", "quniform", "randint", "choice", "grid"]
    assert space.n_grid == 3
    assert space.params[3].edge_values() == [2, 7]  # randint's high is exclusive
    assert space.params[2].edge_values() == [6, 24]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("training.ppo.learnin_rate: {uniform: [0.1, 0.2]}", r"training\.ppo\.learnin_rate.*unknown key"),
        ("training.ppo.learning_rate: {uniform: [0.0, 0.1]}", r"training\.ppo\.learning_rate.*greater than 0"),
        ("training.ppo.learning_rate: {loguniform: [0.0, 0.1]}", r"learning_rate: loguniform low 0.0 must be > 0"),
        ("training.ppo.ent_coef: {uniform: [0.2, 0.1]}", r"ent_coef: uniform low 0.2 must be below high 0.1"),
        ("training.ppo.ent_coef: {normal: [0.0, 1.0]}", r"ent_coef: unknown distribution 'normal'"),
        ("training.ppo.ent_coef: {uniform: [0.0]}", r"ent_coef: uniform takes \[low, high\]"),
        ("training.ppo.n_epochs: {randint: [1.5, 4]}", r"n_epochs: randint bounds must be integers"),
        ("env.decision_every: {quniform: [6, 24, 0]}", r"decision_every: quniform step 0 must be > 0"),
        ("env.reward: {choice: [log_return, sortino]}", r"env\.reward.*sortino"),
        ("env.reward: {choice: []}", r"env\.reward: choice needs at least one value"),
        ("env.reward: log_return", r"env\.reward: expected one distribution"),
        ("data.path: {choice: [a.csv, b.csv]}", r"data\.path: keys under data, features, splits change the dataset"),
        ("learning_rate: {uniform: [0.1, 0.2]}", r"'learning_rate' is not a dotted config key"),
        ("- a\n- b", r"expected a mapping"),
        ("a: [unclosed", r"not valid YAML"),
    ],
)
def test_bad_spaces_name_the_key_and_the_problem(tmp_path: Path, text: str, match: str) -> None:
    path = _space(tmp_path, text)
    with pytest.raises(ConfigError, match=match):
        check_against_schema(load_space(path), DEMO, [])


def test_a_missing_space_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"search space .*nope\.yaml: cannot read it"):
        load_space(tmp_path / "nope.yaml")
