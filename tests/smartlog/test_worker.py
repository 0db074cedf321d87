"""End-to-end tests of bot.smartlog.worker: real worker processes under fork, forkserver, spawn, Pool and SB3."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from bot.smartlog import SmartLogSettings, init_worker, setup_logging
from tests.smartlog import worker_targets
from tests.smartlog.logfile import Line, read_lines

N_WORKERS = 4
JOIN_TIMEOUT_S = 60
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ScenarioRun:
    lines: list[Line]
    stats: dict[str, Any]
    pids: dict[str, int]
    log_text: str


def _run_processes(context: Any, target: Any, n: int, handle: Any, *extra: Any) -> list[Any]:
    processes = [context.Process(target=target, args=(handle, w, n, *extra), daemon=True) for w in range(n)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=JOIN_TIMEOUT_S)
    return processes


@pytest.fixture(scope="module", params=["fork", "forkserver", "spawn"])
def scenario_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> ScenarioRun:
    folder = tmp_path_factory.mktemp(f"scenario-{request.param}")
    settings = SmartLogSettings(
        console=False,
        level="DEBUG",
        warning_dedup_window_s=60.0,
        info_rotation_interval_s=0.1,
        debug_sample_rate=0.1,
        redact_patterns=(r"sk-[A-Za-z0-9]{10,}",),
    )
    with setup_logging(settings, folder, N_WORKERS) as listener:
        processes = _run_processes(
            mp.get_context(request.param), worker_targets.scenario, N_WORKERS, listener.worker_handle()
        )
    assert [p.exitcode for p in processes] == [0] * N_WORKERS
    return ScenarioRun(
        read_lines(folder / "bot.log"),
        listener.stats(),
        {str(w): p.pid for w, p in enumerate(processes)},
        (folder / "bot.log").read_text(),
    )


def _workers_of(lines: list[Line], needle: str) -> Counter[str]:
    return Counter(line.worker for line in lines if needle in line.message)


def test_every_line_names_its_workers_real_pid(scenario_run: ScenarioRun) -> None:
    worker_lines = [line for line in scenario_run.lines if line.worker in scenario_run.pids]
    assert worker_lines
    assert all(line.pid == scenario_run.pids[line.worker] for line in worker_lines)


def test_errors_from_all_workers(scenario_run: ScenarioRun) -> None:
    errors = [line for line in scenario_run.lines if line.level == "ERROR" and "hit an error" in line.message]
    assert sorted(line.worker for line in errors) == ["0", "1", "2", "3"]


def test_warning_repeated_by_all_workers_is_written_once_with_a_summary(scenario_run: ScenarioRun) -> None:
    assert sum(line.message == "disk sda is slow" for line in scenario_run.lines) == 1
    summaries = [line for line in scenario_run.lines if "disk %s is slow" in line.message]
    assert [s.message for s in summaries] == [
        f"warning repeated {N_WORKERS * worker_targets.N_WARNING_REPEATS - 1} more times in 60 s by workers"
        " 0, 1, 2, 3: disk %s is slow"
    ]
    assert summaries[0].worker == "listener"
    assert scenario_run.stats["suppressed"]["dedup"] == N_WORKERS * worker_targets.N_WARNING_REPEATS - 1


def test_info_rotates_between_workers(scenario_run: ScenarioRun) -> None:
    shares = _workers_of([line for line in scenario_run.lines if line.level == "INFO"], "step ")
    assert set(shares) == {"0", "1", "2", "3"}, shares
    assert max(shares.values()) < sum(shares.values()), shares
    assert all(scenario_run.stats["by_worker"][w]["rotation"] > 0 for w in "0123")


def test_critical_keywords_always_pass_from_every_worker(scenario_run: ScenarioRun) -> None:
    assert _workers_of(scenario_run.lines, "Trade opened long") == dict.fromkeys("0123", 1)
    assert _workers_of(scenario_run.lines, "stop loss hit") == dict.fromkeys("0123", 1)


@cache
def _templates_sampled_in_fresh_process(rate: float) -> frozenset[int]:
    code = (
        "from bot.smartlog import DebugSampler\n"
        "from tests.smartlog.worker_targets import N_DEBUG_TEMPLATES, debug_template\n"
        f"s = DebugSampler({rate})\n"
        "print(' '.join(str(i) for i in range(N_DEBUG_TEMPLATES) if s.passes(debug_template(i))))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "4242", "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    return frozenset(int(i) for i in out.stdout.split())


def test_debug_sampling_is_the_same_in_every_worker_and_process(scenario_run: ScenarioRun) -> None:
    sampled: dict[str, set[int]] = {w: set() for w in "0123"}
    for line in scenario_run.lines:
        if line.level == "DEBUG" and line.message.startswith("debug template "):
            sampled[line.worker].add(int(line.message.split()[2]))
    reference = sampled["0"]
    assert 0.05 <= len(reference) / worker_targets.N_DEBUG_TEMPLATES <= 0.15
    assert all(templates == reference for templates in sampled.values())
    assert reference == _templates_sampled_in_fresh_process(0.1)
    expected_suppressed = worker_targets.N_DEBUG_TEMPLATES - len(reference)
    assert all(scenario_run.stats["by_worker"][w]["sampling"] == expected_suppressed for w in "0123")


def test_secrets_are_redacted_in_messages_and_args(scenario_run: ScenarioRun) -> None:
    assert all(secret not in scenario_run.log_text for secret in worker_targets.SECRET_VALUES)
    assert _workers_of(scenario_run.lines, "connect failed api_key=[REDACTED] secret: [REDACTED]")["2"] == 1
    assert _workers_of(scenario_run.lines, "exchange config {'password': '[REDACTED]', 'timeout': 5}")["3"] == 1
    assert _workers_of(scenario_run.lines, "auth header Bearer [REDACTED]")["1"] == 1


def test_counts_add_up_per_worker(scenario_run: ScenarioRun) -> None:
    written = Counter(line.worker for line in scenario_run.lines)
    for worker in "0123":
        assert scenario_run.stats["by_worker"][worker]["written"] == written[worker]
        assert scenario_run.stats["by_worker"][worker]["dropped"] == 0


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_records_of_a_crashing_worker_are_flushed(start_method: str, tmp_path: Path) -> None:
    settings = SmartLogSettings(console=False)
    with setup_logging(settings, tmp_path, 1) as listener:
        (process,) = _run_processes(
            mp.get_context(start_method), worker_targets.log_then_raise, 1, listener.worker_handle(), 500
        )
    assert process.exitcode == 1
    messages = [line.message for line in read_lines(tmp_path / "bot.log")]
    assert messages == [f"Trade closed #{i}" for i in range(500)]


def test_records_before_os_exit_are_flushed_by_shutdown_worker(tmp_path: Path) -> None:
    with setup_logging(SmartLogSettings(console=False), tmp_path, 1) as listener:
        (process,) = _run_processes(
            mp.get_context("fork"), worker_targets.log_then_os_exit, 1, listener.worker_handle(), 300
        )
    assert process.exitcode == 3
    assert len(read_lines(tmp_path / "bot.log")) == 300


def test_works_as_a_pool_initializer(tmp_path: Path) -> None:
    with (
        setup_logging(SmartLogSettings(console=False), tmp_path, 1) as listener,
        mp.get_context("spawn").Pool(1, initializer=init_worker, initargs=(listener.worker_handle(), 0, 1)) as pool,
    ):
        assert pool.map(worker_targets.pool_task, range(3)) == [0, 2, 4]
        pool.close()
        pool.join()
    lines = read_lines(tmp_path / "bot.log")
    assert sorted(line.message for line in lines) == ["pool task 0", "pool task 1", "pool task 2"]
    assert {line.worker for line in lines} == {"0"}


@pytest.mark.parametrize(
    "start_method",
    # forkserver is SB3's default on Linux: env factories travel through cloudpickle and every child imports torch
    ["fork", pytest.param("forkserver", marks=pytest.mark.slow)],
)
def test_through_sb3_subproc_vec_env(start_method: str, tmp_path: Path) -> None:
    import numpy as np
    from stable_baselines3.common.vec_env import SubprocVecEnv

    from tests.smartlog.sb3_env import env_factory

    settings = SmartLogSettings(console=False, warning_dedup_window_s=60.0, info_rotation_interval_s=0.05)
    with setup_logging(settings, tmp_path, N_WORKERS) as listener:
        handle = listener.worker_handle()
        vec_env = SubprocVecEnv(
            [env_factory(handle, w, N_WORKERS) for w in range(N_WORKERS)], start_method=start_method
        )
        vec_env.reset()
        for _ in range(10):
            vec_env.step(np.zeros(N_WORKERS, dtype=np.int64))
        vec_env.close()
    lines = read_lines(tmp_path / "bot.log")
    assert _workers_of(lines, "reset") == dict.fromkeys("0123", 1)
    assert _workers_of(lines, "Trade closed by env") == dict.fromkeys("0123", 2)
    assert sum(line.message == "env latency above 50 ms" for line in lines) == 1
    assert any("warning repeated 39 more times" in line.message for line in lines)
    stats = listener.stats()
    assert stats["suppressed"]["rotation"] > 0
    assert stats["suppressed"]["dropped"] == 0


def test_handle_survives_cloudpickle_under_spawn(tmp_path: Path) -> None:
    # SubprocVecEnv wraps each env factory in a CloudpickleWrapper, so the handle is pickled by cloudpickle inside the
    # process start; this does the same without importing torch in the children.
    with setup_logging(SmartLogSettings(console=False), tmp_path, 2) as listener:
        handle = listener.worker_handle()
        context = mp.get_context("spawn")
        processes = [
            context.Process(
                target=worker_targets.run_cloudpickled, args=(worker_targets.CloudpickleArg(_factory(handle, w)),)
            )
            for w in range(2)
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=JOIN_TIMEOUT_S)
    assert [p.exitcode for p in processes] == [0, 0]
    assert sorted(line.message for line in read_lines(tmp_path / "bot.log")) == [
        "cloudpickled factory of worker 0",
        "cloudpickled factory of worker 1",
    ]


def _factory(handle: Any, worker_id: int) -> Any:
    def build() -> None:
        init_worker(handle, worker_id, 2)
        worker_targets.logger.error("cloudpickled factory of worker %d", worker_id)

    return build


def test_init_worker_rejects_a_mismatched_worker_count(tmp_path: Path) -> None:
    with setup_logging(SmartLogSettings(console=False, file=None), tmp_path, 2) as listener:
        handle = listener.worker_handle()
        with pytest.raises(ValueError, match=r"init_worker\(n_workers=3\) differs from the listener's n_workers=2"):
            init_worker(handle, 0, 3)
        with pytest.raises(ValueError, match=r"worker_id=2 must be an int in \[0, 2\)"):
            init_worker(handle, 2, 2)
        with pytest.raises(ValueError, match="log level 'LOUD' is unknown"):
            init_worker(handle, 0, 2, level="LOUD")
        with pytest.raises(TypeError, match="expects the WorkerHandle from listener.worker_handle"):
            init_worker("not a handle", 0, 2)  # type: ignore[arg-type]


def test_handle_pickles_only_while_a_process_starts(tmp_path: Path) -> None:
    with (
        setup_logging(SmartLogSettings(console=False, file=None), tmp_path, 1) as listener,
        pytest.raises(RuntimeError, match="inheritance"),
    ):
        pickle.dumps(listener.worker_handle())


def test_init_worker_in_the_listeners_process_changes_nothing(tmp_path: Path) -> None:
    import logging

    with setup_logging(SmartLogSettings(console=False), tmp_path, 1) as listener:
        before = list(logging.getLogger().handlers)
        init_worker(listener.worker_handle(), 0, 1)
        assert logging.getLogger().handlers == before
        logging.getLogger("tests.main").info("from the main process")
    assert read_lines(tmp_path / "bot.log")[0].worker == "main"


class _RecordingQueue:
    """Stands in for the listener's queue inside this process."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.is_closed = False

    def put_nowait(self, obj: Any) -> None:
        self.items.append(obj)

    def put(self, obj: Any, block: bool = True, timeout: float | None = None) -> None:
        self.items.append(obj)

    def close(self) -> None:
        self.is_closed = True

    def join_thread(self) -> None:
        assert self.is_closed


def test_shutdown_worker_flushes_and_restores_the_process_logging() -> None:
    import logging
    import time

    from bot.smartlog import WorkerHandle, shutdown_worker

    recording = _RecordingQueue()
    handle = WorkerHandle(recording, 2, "DEBUG", 0.5, 1.0, time.time(), ("trade opened",), 64, 0.0, listener_pid=-1)  # type: ignore[arg-type]
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.Logger.debug, logging._srcfile)
    try:
        init_worker(handle, 1, 2)
        init_worker(handle, 1, 2)  # reconnecting replaces the handler, it does not add a second one
        assert len(root.handlers) == 1
        assert logging.Logger.debug is not saved[2] and logging._srcfile is None
        logging.getLogger("tests.inproc").error("in-process worker line")
        shutdown_worker()
        shutdown_worker()
        assert (root.handlers, logging.Logger.debug, logging._srcfile) == ([], saved[2], saved[3])
        assert recording.is_closed
        records = [record for batch in recording.items for record in batch[5]]
        assert [(batch[0], batch[1]) for batch in recording.items] == [(1, os.getpid())]
        assert [record[4] for record in records] == ["in-process worker line"]
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
