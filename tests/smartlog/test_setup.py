"""Tests of bot.smartlog.setup: the main process's side, outputs built from settings, restoring the root logger."""

from __future__ import annotations

import io
import json
import logging
import multiprocessing as mp
from pathlib import Path

import pytest

from bot.smartlog import SmartLogSettings, command_logging, get_logger, setup_logging
from tests.smartlog.logfile import read_lines


def test_get_logger_is_logging_get_logger() -> None:
    assert get_logger("bot.env") is logging.getLogger("bot.env")


def test_root_logger_is_restored_on_exit(tmp_path: Path) -> None:
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    with setup_logging(SmartLogSettings(console=False, level="DEBUG"), tmp_path, 1):
        assert root.level == logging.DEBUG
        assert len(root.handlers) == 1
    assert (list(root.handlers), root.level) == before


def test_outputs_follow_the_settings(tmp_path: Path) -> None:
    console = io.StringIO()
    settings = SmartLogSettings(console_level="ERROR", file="run.log", jsonl_file="run.jsonl", level="INFO")
    with setup_logging(settings, tmp_path / "run", 1, console_stream=console):
        logger = logging.getLogger("tests.main")
        logger.debug("below the level")
        logger.info("an info line with token=abc")
        logger.error("an error line")
    lines = read_lines(tmp_path / "run" / "run.log")
    assert [(ln.level, ln.worker, ln.message) for ln in lines] == [
        ("INFO", "main", "an info line with token=[REDACTED]"),
        ("ERROR", "main", "an error line"),
    ]
    assert console.getvalue().count("\n") == 1 and "an error line" in console.getvalue()
    records = [json.loads(text) for text in (tmp_path / "run" / "run.jsonl").read_text().splitlines()]
    assert [r["message"] for r in records] == ["an info line with token=[REDACTED]", "an error line"]


def test_main_process_exception_traceback_is_written_and_redacted(tmp_path: Path) -> None:
    with setup_logging(SmartLogSettings(console=False), tmp_path, 1):
        try:
            raise ValueError("bad secret=s3cr3t")
        except ValueError:
            logging.getLogger("tests.main").exception("order failed")
    text = (tmp_path / "bot.log").read_text()
    assert "order failed\nTraceback" in text
    assert "ValueError: bad secret=[REDACTED]" in text and "s3cr3t" not in text


class _LoggingHandler(logging.Handler):
    """An output that itself logs (badly behaved): must not recurse into the listener."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger("tests.inner").error("logged from inside an output")


def test_records_logged_by_an_output_are_dropped_not_recursed(tmp_path: Path) -> None:
    with setup_logging(SmartLogSettings(console=False), tmp_path, 1, extra_handlers=[_LoggingHandler()]) as listener:
        logging.getLogger("tests.main").error("outer")
    assert [ln.message for ln in read_lines(tmp_path / "bot.log")] == ["outer"]
    assert listener.stats()["by_worker"]["main"]["dropped"] == 1


def _log_without_init(message: str) -> None:
    logging.getLogger("tests.child").error(message)


def test_forked_child_without_init_worker_logs_through_the_queue(tmp_path: Path) -> None:
    with setup_logging(SmartLogSettings(console=False), tmp_path, 1):
        child = mp.get_context("fork").Process(target=_log_without_init, args=("from a forked child",))
        child.start()
        child.join(timeout=60)
    (line,) = read_lines(tmp_path / "bot.log")
    assert (line.worker, line.pid, line.message) == ("child", child.pid, "from a forked child")


def test_n_workers_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_workers=0 must be >= 1"), setup_logging(SmartLogSettings(), tmp_path, 0):
        pass


def test_command_logging_writes_the_commands_own_file_and_redacts_its_patterns(tmp_path: Path) -> None:
    settings = SmartLogSettings(console=False, jsonl_file="events.jsonl")
    with command_logging(settings, tmp_path, "paper.log", redact_patterns=[r"k3y-\d+"]):
        logging.getLogger("bot.test").warning("order sent with key k3y-12345")
    text = (tmp_path / "paper.log").read_text()
    assert "key [REDACTED]" in text and "12345" not in text
    assert "12345" not in (tmp_path / "events.jsonl").read_text()
    with command_logging(settings, tmp_path / "console_only", file=None):
        logging.getLogger("bot.test").warning("nothing on disk")
    assert not (tmp_path / "console_only").exists() or not any((tmp_path / "console_only").iterdir())
    with pytest.raises(ValueError, match="redact_patterns"), command_logging(settings, tmp_path, None, ["("]):
        pass
