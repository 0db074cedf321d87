"""Turn a job request into a validated trainer invocation: config confined to config/, overrides, paths and
resource limits checked before anything starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from bot.api.job_limits import JobRequestError, check_overrides, check_resources
from bot.api.job_paths import check_job_paths
from bot.api.schemas import JobCreate
from bot.api.settings import ApiSettings
from bot.config import TIMEFRAME_MS, BotConfig, load_config, worker_bound
from bot.errors import ConfigError

_CONFIG_SUFFIXES = (".yaml", ".yml")

__all__ = ["JobRequestError", "ResolvedJob", "list_configs", "resolve_config_path", "resolve_job"]


@dataclass(frozen=True, slots=True)
class ResolvedJob:
    """A request after validation: what the runner passes to the trainer."""

    config_name: str
    overrides: tuple[str, ...]
    algo: str
    workers: int
    timesteps: int
    seed: int
    symbol: str
    timeframe: str


def list_configs(config_dir: Path) -> list[str]:
    """Config names (paths relative to ``config_dir``) that jobs may use, sorted."""
    root = config_dir.resolve()
    names = [
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.suffix in _CONFIG_SUFFIXES and p.is_file() and p.resolve().is_relative_to(root)
    ]
    return sorted(names)


def resolve_config_path(config_dir: Path, name: str) -> Path:
    """The file a config name refers to, guaranteed to lie inside ``config_dir``.

    :param config_dir: the only folder configs may come from.
    :param name: ``demo``, ``demo.yaml`` or ``sub/x.yaml``.
    :return: the resolved file path.
    :raises JobRequestError: for absolute paths, ``..``, symlinks leading out, other suffixes or missing files.
    """
    hint = f"use a file name inside {config_dir}, one of {list_configs(config_dir)}"
    if "\x00" in name or "\\" in name or PurePosixPath(name).is_absolute() or PureWindowsPath(name).drive:
        raise JobRequestError("config", f"config {name!r} must be a relative name, not a path; {hint}")
    parts = PurePosixPath(name).parts
    if any(part == ".." for part in parts):
        raise JobRequestError("config", f"config {name!r} must not contain '..'; {hint}")
    if PurePosixPath(name).suffix not in _CONFIG_SUFFIXES:
        name = f"{name}.yaml"
    root = config_dir.resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root):
        raise JobRequestError("config", f"config {name!r} resolves outside {root} (a symlink?); {hint}")
    if not path.is_file():
        raise JobRequestError("config", f"config {name!r} does not exist; {hint}")
    return path


def _timeframe_overrides(cfg: BotConfig, timeframe: str) -> list[str]:
    # Keep the config's higher timeframes that the new base divides, so data.timeframes stays valid.
    base_ms = TIMEFRAME_MS[timeframe]
    higher = [t for t in cfg.data.timeframes if TIMEFRAME_MS[t] > base_ms and TIMEFRAME_MS[t] % base_ms == 0]
    return [f"data.base_timeframe={timeframe}", f"data.timeframes=[{', '.join([timeframe, *higher])}]"]


def _load(path: Path, overrides: list[str]) -> BotConfig:
    try:
        return load_config(path, overrides)
    except ConfigError as e:
        raise JobRequestError("overrides", str(e)) from e


def resolve_job(settings: ApiSettings, request: JobCreate) -> ResolvedJob:
    """Validate a job request against its config exactly as the trainer will load it.

    :param settings: the config folder, the path roots and the limits a job must respect.
    :param request: the request body.
    :return: the job's resolved parameters and the full override list for ``--set``.
    :raises JobRequestError: naming the body field and the problem.
    """
    path = resolve_config_path(settings.config_dir, request.config)
    overrides = list(request.overrides)
    # size and syntax first: the YAML loader must never see an alias bomb or a megabyte of text
    check_overrides(settings.limits, overrides)
    if request.symbol is not None:
        overrides.append(f"data.symbol={request.symbol}")
    cfg = _load(path, overrides)
    if request.timeframe is not None and request.timeframe != cfg.data.base_timeframe:
        overrides += _timeframe_overrides(cfg, request.timeframe)
        cfg = _load(path, overrides)
    check_job_paths(cfg, overrides, settings.path_roots)
    workers = request.workers or worker_bound(cfg.training)  # n_workers auto: the most workers it may start
    timesteps = request.timesteps or cfg.training.total_timesteps
    check_resources(settings.limits, workers, cfg.training.n_envs_per_worker, timesteps)
    return ResolvedJob(
        config_name=path.relative_to(settings.config_dir.resolve()).as_posix(),
        overrides=tuple(overrides),
        algo=request.algo or cfg.training.algo,
        workers=workers,
        timesteps=timesteps,
        seed=request.seed if request.seed is not None else cfg.seed,
        symbol=cfg.data.symbol,
        timeframe=cfg.data.base_timeframe,
    )
