"""Shared set-up of the Ray Tune tests: one small local Ray per module, a tiny synthetic training per trial, and
`bot tune` argument lists."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from tests.support.training import set_args, tiny_synthetic

#: Env steps of one validation interval (one Tune report) and of a whole trial, in the tests.
INTERVAL = 64
BUDGET = 2 * INTERVAL


@pytest.fixture(scope="module")
def local_ray() -> Iterator[str]:
    """Ray on this machine for one test module (2 CPUs, a small object store, no dashboard): its address, which
    `bot tune --address` subprocesses join instead of starting their own."""
    context = ray.init(num_cpus=2, object_store_memory=150 * 1024**2, include_dashboard=False,
                       logging_level="WARNING")
    yield str(context.address_info["gcs_address"])
    ray.shutdown()


def trial_overrides(tmp_path: Path, budget: int = BUDGET, *extra: str) -> list[str]:
    """A trial of ``budget`` steps validated (and reported) every ``INTERVAL`` steps, one process per trial."""
    return tiny_synthetic(
        tmp_path / "unused_checkpoints",  # trials write their run folders under the experiment, not here
        f"training.total_timesteps={budget}",
        f"training.eval_freq={INTERVAL}",
        *extra,
    )


def write_space(tmp_path: Path, text: str) -> Path:
    """A search-space file in ``tmp_path``."""
    path = tmp_path / "space.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def tune_argv(space: Path, storage: Path, name: str, overrides: list[str], *flags: str) -> list[str]:
    """``bot tune`` arguments for an experiment ``name`` under ``storage``."""
    return ["tune", "--space", str(space), "--storage", str(storage), "--name", name, *flags, *set_args(overrides)]
