"""``train(on_validation=...)``: a caller sees every validation of one ``train`` call with the checkpoint at that step
(what a Ray Tune trial reports), and what the hook raises ends training."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from bot.config import load_config
from bot.data import build_dataset
from bot.training.callbacks import ValidationReport
from bot.training.manifest import MANIFEST
from bot.training.trainer import train
from tests.support.training import tiny_synthetic


def test_the_hook_sees_every_validation_with_the_checkpoint_of_that_step(tmp_path: Path) -> None:
    cfg = load_config(None, tiny_synthetic(tmp_path, "training.total_timesteps=192", "training.eval_freq=64"))
    seen: list[tuple[ValidationReport, int, str]] = []

    def hook(report: ValidationReport) -> None:
        manifest = json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))
        seen.append((report, manifest["timesteps"], manifest["status"]))

    outcome = train(cfg, build_dataset(cfg), tmp_path, on_validation=hook)
    assert [(r.timesteps, r.final) for r, _, _ in seen] == [(64, False), (128, False), (192, False), (192, True)]
    # the latest checkpoint on disk is the validated model, with the end status at the final validation
    assert [(steps, status) for _, steps, status in seen] == [
        (64, "running"), (128, "running"), (192, "running"), (192, "completed")
    ]
    assert outcome.validation is not None and seen[-1][0].result == outcome.validation


def test_a_hook_that_exits_ends_training_with_the_workers_closed(tmp_path: Path) -> None:
    # Ray Tune stops a trial inside its report with SystemExit (ASHA, a PBT exploit)
    overrides = tiny_synthetic(tmp_path, "training.total_timesteps=512", "training.eval_freq=64",
                               "training.n_workers=2", "training.n_envs_per_worker=1")
    cfg = load_config(None, overrides)

    def hook(report: ValidationReport) -> None:
        raise SystemExit(0)

    with pytest.raises(SystemExit):
        train(cfg, build_dataset(cfg), tmp_path, on_validation=hook)
    assert multiprocessing.active_children() == []
    manifest = json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["timesteps"] == 64 and manifest["status"] == "running"
