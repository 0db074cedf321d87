"""`bot train` argument handling: flags become config overrides, run folders, resume errors, signal handling."""

from __future__ import annotations

import argparse
import errno
import os
import re
import shutil
import signal
from pathlib import Path

import pytest
import torch

from bot.cli import build_parser, main
from bot.config import load_config
from bot.errors import CheckpointError, ConfigError
from bot.training.commands import flag_overrides, resolve_run, stop_on_signals
from bot.training.progress import StopFlag
from bot.training.resources import choose_device, learner_threads, resolve_device
from tests.support.training import REPO_ROOT, set_args, tiny_synthetic


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["train", *argv])


def test_flags_become_overrides_after_set_so_they_win(tmp_path: Path) -> None:
    args = _args(
        "--set",
        "training.n_workers=3",
        "--workers",
        "2",
        "--algo",
        "ddqn",
        "--envs-per-worker",
        "5",
        "--timesteps",
        "777",
        "--seed",
        "9",
        "--device",
        "cpu",
        "--checkpoint-dir",
        str(tmp_path / "123"),
    )
    overrides = flag_overrides(args)
    assert overrides[0] == "training.n_workers=3"
    cfg = load_config("config/demo.yaml", overrides)
    assert (cfg.training.n_workers, cfg.training.algo, cfg.training.n_envs_per_worker) == (2, "ddqn", 5)
    assert (cfg.training.total_timesteps, cfg.seed, cfg.training.device) == (777, 9, "cpu")
    assert cfg.training.checkpoint_dir == str(tmp_path / "123")


def test_new_run_folder_is_named_after_algo_and_symbol(tmp_path: Path) -> None:
    plan = resolve_run(_args("--checkpoint-dir", str(tmp_path)))
    run_dir = plan.run_dir
    assert not plan.resume and run_dir.parent == tmp_path and run_dir.name.startswith("ppo_SYNUSDT_")
    assert run_dir.is_dir() and plan.cfg.data.symbol == "SYN/USDT"


def test_trainers_started_in_the_same_second_never_share_a_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = resolve_run(_args("--checkpoint-dir", str(tmp_path))).run_dir
    # the other trainer has not created its folder yet when this one looks, and creates it just after
    monkeypatch.setattr(Path, "exists", lambda self: False)
    monkeypatch.setattr("bot.training.commands.datetime", _FrozenClock(first.name.removeprefix("ppo_SYNUSDT_")))
    second = resolve_run(_args("--checkpoint-dir", str(tmp_path))).run_dir
    assert second != first and second.name == f"{first.name}-2" and second.is_dir()


class _FrozenClock:
    """Stands in for ``datetime`` in bot.training.commands: ``now()`` gives the stamp of an earlier run."""

    def __init__(self, stamp: str) -> None:
        self.stamp = stamp

    def now(self, tz: object) -> _FrozenClock:
        return self

    def strftime(self, fmt: str) -> str:
        return self.stamp


def test_named_run_that_exists_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "manifest.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"already holds a run; pass --resume .*mine to continue it"):
        resolve_run(_args("--checkpoint-dir", str(tmp_path), "--set", "run_name=mine"))


def test_resume_errors_name_the_folder(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"no run folder \(with a manifest.json or config.yaml\) under"):
        resolve_run(_args("--checkpoint-dir", str(tmp_path), "--resume"))
    with pytest.raises(CheckpointError, match=r"nowhere is not a run folder \(no manifest.json or config.yaml\)"):
        resolve_run(_args("--resume", str(tmp_path / "nowhere")))


def test_resume_with_another_algorithm_is_refused_before_loading(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(load_config(None, ["training.algo=ppo"]).to_yaml())
    (run / "manifest.json").write_text('{"algorithm": "ppo"}')
    assert resolve_run(_args("--resume", str(run))).resume is True
    with pytest.raises(ConfigError, match=r"training.algo='ddqn' cannot resume .*run, a run built with .*'ppo'"):
        resolve_run(_args("--resume", str(run), "--algo", "ddqn"))


def test_signals_set_the_stop_flag_and_handlers_are_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    stop = StopFlag()
    with stop_on_signals(stop):
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.is_set and stop.reason == "SIGTERM"
        os.kill(os.getpid(), signal.SIGTERM)  # repeated: keeps the first reason
        assert stop.reason == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before


def test_second_sigint_interrupts_at_once() -> None:
    stop = StopFlag()
    with stop_on_signals(stop):
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.reason == "SIGINT"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)


def test_learner_threads_and_device(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config(None, ["training.torch_threads=3"])
    assert learner_threads(cfg) == 3
    cfg = load_config(None, ["training.n_workers=64"])
    assert learner_threads(cfg) == 1
    # default threads: 1 for a small policy in any layout; a wide one gets the cores left by the workers
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    for workers in (1, 4):
        assert learner_threads(load_config(None, [f"training.n_workers={workers}"])) == 1
    wide = ["training.ppo.net_arch=[1024, 1024, 1024]"]
    assert learner_threads(load_config(None, [*wide, "training.n_workers=4"])) == 11  # a core stays free
    assert learner_threads(load_config(None, [*wide, "training.n_workers=1"])) == 15
    assert learner_threads(load_config(None, [*wide, "training.n_workers=auto"])) == 7  # at most 8 workers
    assert learner_threads(load_config(None, [*wide, "training.algo=ddqn", "training.n_workers=4"])) == 1
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda")


def _train(tmp_path: Path, *extra: str) -> int:
    argv = ["train", "--no-progress", "--checkpoint-dir", str(tmp_path), "--set", "run_name=tiny"]
    overrides = tiny_synthetic(tmp_path, "training.checkpoint_freq=64", "training.vecnormalize=true", *extra)
    return main([*argv, *set_args(overrides)])


def test_a_config_without_data_section_is_the_documented_synthetic_market(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    data = load_config(empty).data
    assert (data.source, data.symbol, data.path) == ("synthetic", "SYN/USDT", None)
    assert load_config(REPO_ROOT / "config" / "config.yaml").data == data  # config.yaml documents the defaults
    by_file = load_config(empty, ["data.path=../shared/data/binance_spot_2023/BTC_USDT-5m.csv.gz"]).data
    assert (by_file.source, by_file.symbol) == ("file", "BTC/USDT")  # an omitted source follows the path


@pytest.mark.parametrize("command", ["train", "check-lookahead"])
def test_a_path_the_source_ignores_is_an_error(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the default --config (config/demo.yaml) says source: synthetic
    assert main([command, "--set", "data.path=mine.csv", "--set", f"training.checkpoint_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "data.path='mine.csv': data.source='synthetic' ignores data.path; set data.source=file" in err
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--device", "cuda", "--checkpoint-dir", str(tmp_path)]) == 2
    assert "training.device='cuda' but no CUDA device is available" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_resume_override_of_the_network_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(load_config(None, ["training.ppo.net_arch=[64, 64]"]).to_yaml())
    with pytest.raises(ConfigError, match=r"training.ppo.net_arch=\[8\] cannot resume .*built with .*\[64, 64\]"):
        resolve_run(_args("--resume", str(run), "--set", "training.ppo.net_arch=[8]"))


def test_bad_data_leaves_no_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _train(tmp_path, "data.source=file", f"data.path={tmp_path / 'nope.csv'}") == 2
    assert "error: DataError: OHLCV file" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # not a folder holding only bot.log


def test_full_disk_is_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(**where: str) -> str:  # called as mkdtemp(prefix=..., dir=...)
        raise OSError(errno.ENOSPC, "No space left on device", str(Path(where["dir"]) / where["prefix"]))

    monkeypatch.setattr("bot.training.checkpoints.tempfile.mkdtemp", full)
    assert _train(tmp_path) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: CheckpointError: cannot write ") and "tiny/.step." in err
    assert "No space left on device; free disk space or set training.checkpoint_dir" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("name", ["model.zip", "vecnormalize.pkl"])
def test_damaged_checkpoints_are_refused_on_resume_with_the_file_named(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _train(tmp_path) == 0
    run = tmp_path / "tiny"
    for step in run.glob("step_*"):
        shutil.rmtree(step)
    (run / name).write_bytes((run / name).read_bytes()[:100])  # truncated
    assert main(["train", "--no-progress", "--resume", str(run), "--timesteps", "192"]) == 2
    err = capsys.readouterr().err
    assert f"cannot resume {run}: no checkpoint in it is complete" in err
    assert f"{name} does not match its manifest" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("code", "fix"),
    [
        (errno.EROFS, "the file system is read-only: set training.checkpoint_dir to a writable folder"),
        (errno.EACCES, "no permission: fix the folder's permissions or set training.checkpoint_dir elsewhere"),
    ],
)
def test_an_unwritable_checkpoint_dir_is_one_line(
    code: int, fix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code), str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)  # as root, chmod cannot make a folder unwritable
    assert main(["train", "--checkpoint-dir", str(tmp_path / "ro")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: CheckpointError: cannot write {tmp_path / 'ro'}") and fix in err


def test_workers_flag_takes_a_count_or_auto(capsys: pytest.CaptureFixture[str]) -> None:
    assert _args("--workers", "auto").workers == "auto"
    assert flag_overrides(_args("--workers", "auto")) == ['training.n_workers="auto"']
    assert load_config(None, flag_overrides(_args("--workers", "auto"))).training.n_workers == "auto"
    with pytest.raises(SystemExit):
        _args("--workers", "two")
    assert "--workers must be a whole number >= 1 or auto, got 'two'" in capsys.readouterr().err
    with pytest.raises(ConfigError, match=r"training\.n_workers=0: must be auto or a whole number"):
        load_config(None, flag_overrides(_args("--workers", "0")))  # the range is the config's to check


def test_auto_layout_is_saved_and_reported_in_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)  # no core for a worker beside the learner: in-process
    assert _train(tmp_path, "training.n_workers=auto", "training.n_envs=2") == 0
    out = capsys.readouterr().out
    assert "layout:      1 x 2 envs (2 cores leave no core beside the learner" in out
    assert re.search(r"speed: +[\d,]+ env-steps/s, learner \d+% of the time, device cpu \(", out)
    saved = load_config(tmp_path / "tiny" / "config.yaml").training
    assert (saved.n_workers, saved.n_envs_per_worker) == (1, 2)  # the run's config names the layout it ran with


def test_auto_device_takes_cuda_only_for_wide_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    wide = "training.ppo.net_arch=[1024, 1024, 1024]"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert choose_device(load_config(None, [wide])) == ("cpu", "auto: no CUDA device")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    device, reason = choose_device(load_config(None, [wide]))
    assert device == "cuda" and "1024 units" in reason
    device, reason = choose_device(load_config(None, []))
    assert device == "cpu" and "128 units at most is faster on the CPU" in reason
    device, reason = choose_device(load_config(None, ["training.extractor.kind=lstm"]))
    assert device == "cuda" and "lstm extractor" in reason
    assert choose_device(load_config(None, ["training.device=cpu", wide])) == ("cpu", "training.device=cpu")
