"""``training.n_workers: auto``: the candidates per core count, the probe's choice, and a real probe of workers."""

from __future__ import annotations

from typing import Any

import pytest

from bot.config import load_config
from bot.config.workers import worker_bound, worker_candidates
from bot.training import layout as layout_module
from bot.training.layout import MIN_GAIN, choose_layout
from tests.support.toy_env import ToyEnvFactory


@pytest.mark.parametrize(
    ("n_envs", "cores", "expected"),
    [(8, 2, []), (8, 3, [2]), (8, 16, [8, 4]), (6, 4, [3]), (12, 8, [6, 3]), (1, 64, []), (7, 16, [7])],
)
def test_worker_candidates_divide_the_envs_and_leave_the_learner_a_core(
    n_envs: int, cores: int, expected: list[int]
) -> None:
    assert worker_candidates(n_envs, cores) == expected


def test_worker_bound() -> None:
    assert worker_bound(load_config(None, ["training.n_workers=3"]).training, cores=2) == 3
    auto = load_config(None, ["training.n_workers=auto", "training.n_envs=8"]).training
    assert (worker_bound(auto, cores=2), worker_bound(auto, cores=16)) == (1, 8)


class _FakeVecEnv:
    """Stands in for ParallelVecEnv in the probe: records the layouts started."""

    started: list[tuple[int, int]] = []  # noqa: RUF012  (reset per test)

    def __init__(self, _factory: Any, n_workers: int, n_envs_per_worker: int, **_kwargs: Any) -> None:
        self.layout = (n_workers, n_envs_per_worker)
        self.started.append(self.layout)

    def close(self) -> None:
        pass


@pytest.fixture
def fake_probe(monkeypatch: pytest.MonkeyPatch) -> dict[int, float]:
    """Probe rates by worker count; the probe then starts no process."""
    rates: dict[int, float] = {}
    _FakeVecEnv.started = []
    monkeypatch.setattr(layout_module, "ParallelVecEnv", _FakeVecEnv)
    monkeypatch.setattr(layout_module, "probe_rate", lambda venv, _probe_s: rates[venv.layout[0]])
    return rates


def test_an_explicit_layout_is_kept_without_a_probe(fake_probe: dict[int, float]) -> None:
    cfg = load_config(None, ["training.n_workers=3", "training.n_envs_per_worker=5"])
    chosen = choose_layout(cfg, ToyEnvFactory(), cores=16)
    assert (chosen.n_workers, chosen.n_envs_per_worker, chosen.probe) == (3, 5, {})
    assert _FakeVecEnv.started == []
    assert chosen.apply(cfg) == cfg


def test_two_cores_run_every_env_in_process_without_a_probe(fake_probe: dict[int, float]) -> None:
    cfg = load_config(None, ["training.n_workers=auto", "training.n_envs=8"])
    chosen = choose_layout(cfg, ToyEnvFactory(), cores=2)
    assert (chosen.n_workers, chosen.n_envs_per_worker) == (1, 8)
    assert "2 cores" in chosen.reason and _FakeVecEnv.started == []
    applied = chosen.apply(cfg).training
    assert (applied.n_workers, applied.n_envs_per_worker) == (1, 8)


def test_the_fastest_probed_layout_wins(fake_probe: dict[int, float]) -> None:
    fake_probe.update({1: 1000.0, 8: 1050.0, 4: 1500.0})
    cfg = load_config(None, ["training.n_workers=auto", "training.n_envs=8"])
    chosen = choose_layout(cfg, ToyEnvFactory(), cores=16)
    assert _FakeVecEnv.started == [(1, 8), (8, 1), (4, 2)]
    assert (chosen.n_workers, chosen.n_envs_per_worker) == (4, 2)
    assert chosen.probe == {"1x8": 1000.0, "8x1": 1050.0, "4x2": 1500.0}
    assert "4 workers x 2 envs" in chosen.reason and "1x8: 1,000" in chosen.reason


def test_workers_must_beat_in_process_by_the_margin(fake_probe: dict[int, float]) -> None:
    fake_probe.update({1: 1000.0, 8: 1000.0 * MIN_GAIN - 1.0, 4: 900.0})
    cfg = load_config(None, ["training.n_workers=auto", "training.n_envs=8"])
    chosen = choose_layout(cfg, ToyEnvFactory(), cores=16)
    assert (chosen.n_workers, chosen.n_envs_per_worker) == (1, 8)
    assert chosen.reason.startswith("in-process")


def test_a_real_probe_steps_in_process_and_two_workers() -> None:
    cfg = load_config(None, ["training.n_workers=auto", "training.n_envs=4"])
    chosen = choose_layout(cfg, ToyEnvFactory(), cores=3, probe_s=0.05)
    assert set(chosen.probe) == {"1x4", "2x2"} and all(rate > 0 for rate in chosen.probe.values())
    assert (chosen.n_workers, chosen.n_envs_per_worker) in {(1, 4), (2, 2)}
