"""Tests of bot.smartlog.sinks: line format, size rotation, JSON lines, console level, handler adapter."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

from bot.smartlog.sinks import HandlerSink, JsonLinesSink, LineFormatter, LogLine, RotatingWriter, StreamSink

CREATED = 1_767_225_600.25  # 2026-01-01 00:00:00.250 UTC


def _line(levelno: int = logging.INFO, message: str = "hello", exc_text: str | None = None) -> LogLine:
    return LogLine(CREATED, levelno, "2", 4321, "bot.env", message, exc_text)


def test_line_format_names_worker_and_pid() -> None:
    formatter = LineFormatter()
    assert formatter.format(_line()) == "2026-01-01 00:00:00.250Z INFO     [worker=2 pid=4321] bot.env: hello"
    assert formatter.format(_line(logging.ERROR, "bad", "Traceback\n  boom")).endswith(
        "bot.env: bad\nTraceback\n  boom"
    )


def test_rotating_writer_keeps_backup_count_files_under_max_bytes(tmp_path: Path) -> None:
    writer = RotatingWriter(tmp_path / "a.log", max_bytes=100, backup_count=2)
    for i in range(20):
        writer.write_lines([f"line {i:02d} " + "x" * 20])  # 29 bytes with the newline
    writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.log", "a.log.1", "a.log.2"]
    assert [(tmp_path / n).stat().st_size for n in ("a.log.2", "a.log.1", "a.log")] == [87, 87, 58]
    assert (tmp_path / "a.log").read_text().splitlines()[-1].startswith("line 19")
    assert (tmp_path / "a.log.2").read_text().startswith("line 12")


def test_rotating_writer_appends_to_an_existing_file_and_counts_its_size(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_text("x" * 90 + "\n")
    writer = RotatingWriter(path, max_bytes=100, backup_count=1)
    writer.write_lines(["next line"])
    writer.close()
    assert path.read_text() == "next line\n"
    assert (tmp_path / "a.log.1").stat().st_size == 91


def test_zero_backups_truncate_instead_of_rotating(tmp_path: Path) -> None:
    writer = RotatingWriter(tmp_path / "a.log", max_bytes=50, backup_count=0)
    writer.write_lines(["a" * 30, "b" * 30, "c" * 30])
    writer.close()
    assert [p.name for p in tmp_path.iterdir()] == ["a.log"]
    assert (tmp_path / "a.log").read_text() == "c" * 30 + "\n"


def test_json_lines_sink(tmp_path: Path) -> None:
    sink = JsonLinesSink(tmp_path / "log.jsonl", 10_000, 1)
    sink.write([_line(logging.WARNING, 'quote " ok')], ["unused"])
    sink.close()
    record = json.loads((tmp_path / "log.jsonl").read_text())
    assert record == {
        "time": CREATED,
        "level": "WARNING",
        "worker": "2",
        "pid": 4321,
        "logger": "bot.env",
        "message": 'quote " ok',
        "exc": None,
    }


def test_stream_sink_writes_only_its_level_and_up() -> None:
    stream = io.StringIO()
    sink = StreamSink(stream, logging.WARNING)
    sink.write([_line(logging.INFO, "quiet"), _line(logging.ERROR, "loud")], ["quiet text", "loud text"])
    sink.close()
    assert stream.getvalue() == "loud text\n"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_handler_sink_passes_records_with_worker_id_and_respects_the_handler_level() -> None:
    handler = _Collect()
    HandlerSink(handler).write([_line(logging.INFO), _line(logging.ERROR, "bad")], ["", ""])
    (record,) = handler.records
    assert (record.getMessage(), record.levelname, record.process) == ("bad", "ERROR", 4321)
    assert record.__dict__["worker_id"] == "2"
    assert record.created == CREATED
