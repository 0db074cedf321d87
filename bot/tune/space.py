"""Search-space files (``config/tune/*.yaml``): dotted config keys -> distributions, checked against the config schema.

A file maps each key to one distribution::

    training.ppo.learning_rate: {loguniform: [1.0e-5, 1.0e-3]}
    training.ppo.ent_coef: {uniform: [0.0, 0.02]}
    training.ppo.n_epochs: {randint: [2, 8]}          # high exclusive, as numpy and Ray
    env.decision_every: {quniform: [6, 24, 6]}        # low, high, step
    env.reward: {choice: [log_return, differential_sharpe]}
    training.ppo.clip_range: {grid: [0.1, 0.2]}       # every value, crossed with the samples

Everything is validated before Ray starts: the key must exist in the schema, the bounds must be ordered numbers and
every value the distribution can produce at its edges must pass the schema (so ``learning_rate`` cannot reach 0).
Keys that change the dataset (``data.*``, ``features.*``, ``splits.*``) are refused: the dataset is built once for
all trials.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from bot.config import BotConfig, load_config
from bot.errors import ConfigError

Kind = Literal["loguniform", "uniform", "quniform", "randint", "choice", "grid"]
KINDS: tuple[Kind, ...] = ("loguniform", "uniform", "quniform", "randint", "choice", "grid")
#: Config sections whose keys change the dataset, which every trial shares.
DATASET_SECTIONS = ("data", "features", "splits")
#: Keys the saved model is built on: a PBT exploit cannot change them inside a running population.
FIXED_IN_POPULATION = (
    "training.algo",
    "training.ppo.net_arch",
    "training.dqn.net_arch",
    "training.vecnormalize",
    "env.window",
    "env.action_type",
    "env.exposure_levels",
)


@dataclass(frozen=True, slots=True)
class Param:
    """One searched config key.

    :param key: dotted config key, e.g. ``training.ppo.learning_rate``.
    :param kind: the distribution.
    :param args: its arguments: ``[low, high]`` (``quniform``: ``[low, high, step]``) or the values.
    """

    key: str
    kind: Kind
    args: tuple[Any, ...]

    def edge_values(self) -> list[Any]:
        """Values at the edges of the distribution (all values for ``choice``/``grid``), for schema checks."""
        if self.kind in ("choice", "grid"):
            return list(self.args)
        if self.kind == "randint":
            return [int(self.args[0]), int(self.args[1]) - 1]
        if self.kind == "quniform":
            low, high, step = self.args
            return [low, low + math.floor((high - low) / step) * step]
        return [self.args[0], self.args[1]]


@dataclass(frozen=True, slots=True)
class SearchSpace:
    """A validated search space.

    :param params: the searched keys, in file order.
    :param path: the file it came from.
    """

    params: tuple[Param, ...]
    path: Path

    @property
    def keys(self) -> list[str]:
        """The searched config keys."""
        return [p.key for p in self.params]

    @property
    def n_grid(self) -> int:
        """Configurations the grid keys multiply each sample by."""
        return math.prod(len(p.args) for p in self.params if p.kind == "grid")


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: {value!r} is not a number")
    return float(value)


def _check_bounds(key: str, kind: Kind, args: list[Any], where: str) -> None:
    if kind in ("choice", "grid"):
        if not args:
            raise ConfigError(f"{where}: {key}: {kind} needs at least one value")
        return
    n_args = 3 if kind == "quniform" else 2
    if len(args) != n_args:
        shape = "[low, high, step]" if kind == "quniform" else "[low, high]"
        raise ConfigError(f"{where}: {key}: {kind} takes {shape}, got {args!r}")
    low, high = (_number(v, f"{where}: {key}") for v in args[:2])
    if kind == "randint" and not all(isinstance(v, int) for v in args):
        raise ConfigError(f"{where}: {key}: randint bounds must be integers, got {args!r}")
    if not low < high:
        raise ConfigError(f"{where}: {key}: {kind} low {args[0]!r} must be below high {args[1]!r}")
    if kind == "loguniform" and low <= 0:
        raise ConfigError(f"{where}: {key}: loguniform low {args[0]!r} must be > 0 (log of a non-positive number)")
    if kind == "quniform" and not 0 < _number(args[2], f"{where}: {key}") <= high - low:
        raise ConfigError(f"{where}: {key}: quniform step {args[2]!r} must be > 0 and at most high - low")


def _parse_param(key: Any, spec: Any, where: str) -> Param:
    if not isinstance(key, str) or ("." not in key and key != "seed"):
        raise ConfigError(f"{where}: {key!r} is not a dotted config key such as training.ppo.learning_rate")
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ConfigError(
            f"{where}: {key}: expected one distribution as a mapping, e.g. {{loguniform: [1.0e-5, 1.0e-3]}};"
            f" got {spec!r}"
        )
    ((kind, args),) = spec.items()
    if kind not in KINDS:
        raise ConfigError(f"{where}: {key}: unknown distribution {kind!r}; use one of {', '.join(KINDS)}")
    if not isinstance(args, list):
        raise ConfigError(f"{where}: {key}: {kind} takes a list, got {args!r}")
    _check_bounds(key, kind, args, where)
    return Param(key, kind, tuple(args))


def override(key: str, value: Any) -> str:
    """``key=value`` in the ``--set`` syntax (the value JSON-encoded, which the YAML parser reads back)."""
    return f"{key}={json.dumps(value)}"


def check_against_schema(space: SearchSpace, config_path: str | Path, overrides: list[str]) -> BotConfig:
    """Load the base config and every edge value of every key through the schema.

    :return: the base config (``config_path`` with ``overrides``).
    :raises ConfigError: naming the space file, the key and the value the schema refuses.
    """
    base = load_config(config_path, overrides)
    for param in space.params:
        if param.key.split(".")[0] in DATASET_SECTIONS:
            raise ConfigError(
                f"{space.path}: {param.key}: keys under {', '.join(DATASET_SECTIONS)} change the dataset, which is"
                " built once for all trials; fix them with --set and run one experiment per dataset"
            )
        for value in param.edge_values():
            try:
                load_config(config_path, [*overrides, override(param.key, value)])
            except ConfigError as e:
                raise ConfigError(f"{space.path}: {param.key} {param.kind} {list(param.args)}: {e}") from e
    return base


def load_space(path: str | Path) -> SearchSpace:
    """Read and check the syntax of a search-space file (schema checks: :func:`check_against_schema`).

    :raises ConfigError: for a missing or unreadable file, a bad distribution or bad bounds, naming the key.
    """
    file = Path(path)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"search space {file}: cannot read it: {e.strerror or e}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"search space {file}: not valid YAML: {e}") from e
    return parse_space(raw, file)


def parse_space(raw: Any, source: Path) -> SearchSpace:
    """Check the syntax of a search space already decoded (a file's YAML, an API body's JSON).

    :param source: where it came from, named in every error.
    :raises ConfigError: for a bad distribution or bad bounds, naming the key.
    """
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"search space {source}: expected a mapping of dotted config keys to distributions")
    params = tuple(_parse_param(key, spec, str(source)) for key, spec in raw.items())
    return SearchSpace(params, source)


#: Why walk-forward and PBT do not mix (the CLI and the API name their own flag or field).
WALK_FORWARD_PBT = (
    "{flag} trains a fresh model on each fold, one fold after another: between two folds no model goes on, so there is"
    " nothing for a PBT exploit to copy, and exploiting inside a fold would score a trial on its first fold alone;"
    " use {scheduler} asha (it stops a trial whose first folds are poor) or fifo, or PBT without {flag}"
)


def check_scheduler(space: SearchSpace, scheduler: str, search: str) -> None:
    """Refuse a space that the scheduler or the searcher cannot run, before Ray starts.

    :raises ConfigError: naming the space, the keys and the fix.
    """
    grid = any(p.kind == "grid" for p in space.params)
    if scheduler == "pbt":
        fixed = [p.key for p in space.params if p.key in FIXED_IN_POPULATION]
        if fixed:
            raise ConfigError(
                f"{space.path}: {', '.join(fixed)} cannot be perturbed by PBT (the saved model is built on"
                " it); fix it with --set, or search it with --scheduler asha"
            )
        if grid:
            raise ConfigError(f"{space.path}: PBT perturbs sampled values; use choice instead of grid")
    if search == "optuna" and grid:
        raise ConfigError(f"{space.path}: optuna samples every key; use choice instead of grid")
