"""`bot train` argument handling: flags become config overrides, run folders, resume errors, signal handling."""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path

import pytest

from bot.cli import build_parser
from bot.config import load_config
from bot.errors import CheckpointError, ConfigError
from bot.training.commands import flag_overrides, resolve_run, stop_on_signals
from bot.training.progress import StopFlag
from bot.training.trainer import learner_threads, resolve_device


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


def test_learner_threads_and_device() -> None:
    cfg = load_config(None, ["training.torch_threads=3"])
    assert learner_threads(cfg) == 3
    cfg = load_config(None, ["training.n_workers=64"])
    assert learner_threads(cfg) == 1
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda")
