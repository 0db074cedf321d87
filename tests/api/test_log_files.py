"""Reading the tails of the server log and of a run folder's log."""

from __future__ import annotations

from pathlib import Path

from bot.api.log_files import run_log_path, tail_lines


def test_tail_lines_reads_backwards_across_blocks(tmp_path: Path) -> None:
    path = tmp_path / "server.log"
    path.write_text("".join(f"line {i}\n" for i in range(5000)))
    assert tail_lines(path, 3, block_size=64) == ["line 4997", "line 4998", "line 4999"]
    assert len(tail_lines(path, 10_000)) == 5000
    assert tail_lines(tmp_path / "missing.log", 5) == []
    assert tail_lines(None, 5) == []


def test_run_log_path_follows_the_run_config(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    assert run_log_path(None, tmp_path) is None
    assert run_log_path(str(run), tmp_path) is None  # no log yet
    (run / "bot.log").write_text("x\n")
    assert run_log_path(str(run), tmp_path) == (run / "bot.log").resolve()
    (run / "config.yaml").write_text("logging:\n  file: custom.log\n")
    (run / "custom.log").write_text("y\n")
    assert run_log_path(str(run), tmp_path) == (run / "custom.log").resolve()
    (tmp_path / "outside.log").write_text("z\n")
    (run / "config.yaml").write_text("logging:\n  file: ../outside.log\n")
    assert run_log_path(str(run), tmp_path) is None  # never read outside the run folder


def test_run_folder_outside_the_checkpoint_folder_is_never_read(tmp_path: Path) -> None:
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "bot.log").write_text("private\n")
    assert run_log_path(str(outside), checkpoints) is None
    (checkpoints / "link").symlink_to(outside)  # a symlinked run folder counts where it leads
    assert run_log_path(str(checkpoints / "link"), checkpoints) is None
