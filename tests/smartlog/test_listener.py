"""Tests of bot.smartlog.listener: full queues, failing outputs, file rotation and shutdown, with real workers."""

from __future__ import annotations

import logging
import multiprocessing as mp
import threading
import time
from pathlib import Path

import pytest

from bot.smartlog import SmartLogSettings, flatten_stats, setup_logging
from tests.smartlog import worker_targets
from tests.smartlog.logfile import read_lines

JOIN_TIMEOUT_S = 60


class GateHandler(logging.Handler):
    """Blocks the listener thread on the first worker record until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.blocked = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "worker_id", None) != "main":
            self.blocked.set()
            self.gate.wait(timeout=JOIN_TIMEOUT_S)


class RaisingHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def handle(self, record: logging.LogRecord) -> bool:
        self.calls += 1
        raise RuntimeError("this output is broken")


def test_full_queue_drops_and_counts_without_blocking_workers(tmp_path: Path) -> None:
    n_workers, n_records = 2, 3000
    gate = GateHandler()
    settings = SmartLogSettings(console=False, queue_size=10)
    context = mp.get_context("fork")
    with setup_logging(settings, tmp_path, n_workers, extra_handlers=[gate]) as listener:
        dones = [context.Event() for _ in range(n_workers)]
        release = context.Event()
        workers = [
            context.Process(
                target=worker_targets.flood,
                args=(listener.worker_handle(), w, n_workers, n_records, dones[w], release),
                daemon=True,
            )
            for w in range(n_workers)
        ]
        for worker in workers:
            worker.start()
        # every worker finishes logging while the listener is stuck: proof that a full queue never blocks a worker
        assert all(done.wait(timeout=JOIN_TIMEOUT_S) for done in dones)
        assert gate.blocked.wait(timeout=JOIN_TIMEOUT_S)
        gate.gate.set()
        release.set()
        for worker in workers:
            worker.join(timeout=JOIN_TIMEOUT_S)
    stats = listener.stats()
    written = len(read_lines(tmp_path / "bot.log"))
    assert stats["suppressed"]["dropped"] > 0
    assert written + stats["suppressed"]["dropped"] == n_workers * n_records
    for w in ("0", "1"):
        counts = stats["by_worker"][w]
        assert counts["written"] + counts["dropped"] == n_records


def test_a_raising_handler_is_reported_once_and_does_not_stop_the_listener(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    broken = RaisingHandler()
    with setup_logging(SmartLogSettings(console=False), tmp_path, 2, extra_handlers=[broken]) as listener:
        logging.getLogger("tests.main").error("first error from main")
        context = mp.get_context("fork")
        workers = [
            context.Process(target=worker_targets.log_errors, args=(listener.worker_handle(), w, 2, 50), daemon=True)
            for w in range(2)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=JOIN_TIMEOUT_S)
        logging.getLogger("tests.main").error("last error from main")
    lines = read_lines(tmp_path / "bot.log")
    assert len(lines) == 102
    assert {"first error from main", "last error from main"} <= {line.message for line in lines}
    assert broken.calls > 1
    assert listener.stats()["handler_errors"] == broken.calls
    assert capfd.readouterr().err.count("output HandlerSink raised") == 1


def test_log_file_rotates_at_max_bytes_keeping_backup_count_files(tmp_path: Path) -> None:
    settings = SmartLogSettings(console=False, max_bytes=5_000, backup_count=2)
    with setup_logging(settings, tmp_path, 2) as listener:
        context = mp.get_context("fork")
        workers = [
            context.Process(target=worker_targets.log_errors, args=(listener.worker_handle(), w, 2, 150), daemon=True)
            for w in range(2)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=JOIN_TIMEOUT_S)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["bot.log", "bot.log.1", "bot.log.2"]
    assert all((tmp_path / name).stat().st_size <= 5_000 for name in names)
    assert (tmp_path / "bot.log.1").stat().st_size > 4_000
    assert listener.stats()["written"] == 300
    # per worker, bot.log.2 holds older lines than bot.log.1, which holds older lines than bot.log
    kept = [line for name in ("bot.log.2", "bot.log.1", "bot.log") for line in read_lines(tmp_path / name)]
    last_indices = []
    for label in {line.worker for line in kept}:
        indices = [int(line.message.split()[2]) for line in kept if line.worker == label]
        assert indices == sorted(indices)
        last_indices.append(indices[-1])
    assert 149 in last_indices


def test_stats_are_plain_and_flatten_to_tensorboard_keys(tmp_path: Path) -> None:
    settings = SmartLogSettings(console=False, warning_dedup_window_s=60)
    with setup_logging(settings, tmp_path, 1) as listener:
        for _ in range(3):
            logging.getLogger("tests.main").warning("same warning %d", 1)
    stats = listener.stats()
    assert stats["by_worker"]["main"] == {"written": 1, "dedup": 2, "rotation": 0, "sampling": 0, "dropped": 0}
    assert stats["dedup_summaries"] == 1
    flat = flatten_stats(stats)
    assert flat["smartlog/suppressed/dedup"] == 2.0
    assert flat["smartlog/by_worker/main/written"] == 1.0
    assert all(isinstance(v, float) for v in flat.values())


def test_dedup_summary_is_written_when_the_window_closes(tmp_path: Path) -> None:
    settings = SmartLogSettings(console=False, warning_dedup_window_s=0.2)
    with setup_logging(settings, tmp_path, 1) as listener:
        logger = logging.getLogger("tests.main")
        logger.warning("flaky feed %s", "a")
        logger.warning("flaky feed %s", "b")
        deadline = time.monotonic() + 10
        while listener.stats()["dedup_summaries"] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)  # the listener's tick closes the window
        assert listener.stats()["dedup_summaries"] == 1
        logger.warning("flaky feed %s", "c")
    messages = [line.message for line in read_lines(tmp_path / "bot.log")]
    assert messages == [
        "flaky feed a",
        "warning repeated 1 more times in 0.2 s by workers main: flaky feed %s",
        "flaky feed c",
    ]


def test_stop_is_idempotent(tmp_path: Path) -> None:
    with setup_logging(SmartLogSettings(console=False), tmp_path, 1) as listener:
        logging.getLogger("tests.main").error("one line")
    listener.stop()
    assert len(read_lines(tmp_path / "bot.log")) == 1


def test_a_malformed_queue_item_is_reported_redacted_and_skipped(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with setup_logging(SmartLogSettings(console=False), tmp_path, 1) as listener:
        assert listener.submit((0, 1, 0, 0, 0, [("api_key=abc123 is not a record",)]))
        logging.getLogger("tests.main").error("the listener carries on")
    err = capfd.readouterr().err
    assert "skipped a malformed queue item" in err and "api_key=[REDACTED]" in err
    assert "abc123" not in err
    assert [line.message for line in read_lines(tmp_path / "bot.log")] == ["the listener carries on"]
