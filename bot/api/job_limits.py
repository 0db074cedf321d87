"""Resource limits of a job (workers, environments, memory, timesteps) and of its override strings."""

from __future__ import annotations

import os
from dataclasses import dataclass

import psutil
import yaml

from bot.errors import ConfigError


class JobRequestError(ConfigError):
    """A job request names a config, override or size that cannot be used; ``field`` is the offending body field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class JobLimits:
    """What one job may ask of the machine (``api.*`` keys of the same names).

    :param max_workers: worker processes per job; 0 means the machine's CPU cores.
    :param max_envs: environments per job (workers x envs per worker).
    :param worker_memory_mb: memory assumed per trainer process (MiB); ``(workers + 1)`` of them must fit in the
        machine's memory. 0 turns the check off.
    :param max_timesteps: largest timestep budget (also for a resume).
    :param max_overrides: ``--set`` overrides per job.
    :param max_override_chars: longest override string.
    """

    max_workers: int = 0
    max_envs: int = 64
    worker_memory_mb: int = 512
    max_timesteps: int = 100_000_000
    max_overrides: int = 32
    max_override_chars: int = 500

    @property
    def workers_cap(self) -> int:
        """The effective worker limit (``max_workers`` or the cores this process may run on)."""
        return self.max_workers or cpu_cores()


def cpu_cores() -> int:
    """The CPU cores this process may use (its affinity mask, which containers and taskset narrow)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def _yaml_anchor_or_alias(value: str) -> str | None:
    # Scanning tokens is linear in the text; only loading expands aliases, so a bomb is caught before it costs
    # anything. A value that does not scan is left to the loader, which reports it as invalid YAML.
    try:
        for token in yaml.scan(value, Loader=yaml.SafeLoader):
            if isinstance(token, yaml.AnchorToken | yaml.AliasToken):
                return "an anchor (&)" if isinstance(token, yaml.AnchorToken) else "an alias (*)"
    except yaml.YAMLError:
        return None
    return None


def check_overrides(limits: JobLimits, overrides: list[str]) -> None:
    """Refuse too many or too long overrides, values with YAML anchors or aliases, and malformed ones.

    :raises JobRequestError: on the ``overrides`` field, naming the override and the limit.
    """
    if len(overrides) > limits.max_overrides:
        raise JobRequestError("overrides", f"{len(overrides)} overrides is more than api.max_overrides="
                              f"{limits.max_overrides}; put the settings in a config file under config/ instead")
    for i, item in enumerate(overrides):
        if len(item) > limits.max_override_chars:
            raise JobRequestError("overrides", f"override #{i} is {len(item)} characters, more than"
                                  f" api.max_override_chars={limits.max_override_chars}: {item[:40]!r}...")
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise JobRequestError("overrides", f"override {item!r} must look like dotted.key=value")
        if (what := _yaml_anchor_or_alias(raw)) is not None:
            raise JobRequestError("overrides", f"override {key.strip()}: the value contains {what}; YAML anchors"
                                  " and aliases are not allowed in API overrides, write the value out")


def _memory_mb() -> float:
    return psutil.virtual_memory().total / 2**20


def check_resources(limits: JobLimits, workers: int, envs_per_worker: int, timesteps: int) -> None:
    """Refuse a job whose processes, environments, memory or budget exceed the limits or the machine.

    :param workers: worker processes of the job.
    :param envs_per_worker: ``training.n_envs_per_worker`` of its config.
    :param timesteps: its total timestep budget.
    :raises JobRequestError: naming the field (``workers``, ``overrides`` or ``timesteps``), the value and the limit.
    """
    cap = limits.workers_cap
    if workers > cap:
        origin = f"api.max_workers={limits.max_workers}" if limits.max_workers else f"{cap} CPU cores"
        raise JobRequestError("workers", f"workers={workers} is more than this server allows ({origin}); ask for"
                              f" at most {cap}")
    n_envs = workers * envs_per_worker
    if n_envs > limits.max_envs:
        raise JobRequestError("overrides", f"workers={workers} x training.n_envs_per_worker={envs_per_worker} ="
                              f" {n_envs} environments, more than api.max_envs={limits.max_envs}; use fewer workers"
                              " or environments per worker")
    if limits.worker_memory_mb:
        need = (workers + 1) * limits.worker_memory_mb
        have = _memory_mb()
        if need > have:
            raise JobRequestError("workers", f"workers={workers} needs about {need} MiB ((workers + 1) x"
                                  f" api.worker_memory_mb={limits.worker_memory_mb}), more than this machine's"
                                  f" {have:.0f} MiB; use fewer workers")
    if timesteps > limits.max_timesteps:
        raise JobRequestError("timesteps", f"timesteps={timesteps} is more than api.max_timesteps="
                              f"{limits.max_timesteps}")
