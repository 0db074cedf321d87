"""`python -m bot check-lookahead`: per-feature table and exit codes 0 (clean), 1 (leak), 2 (bad input)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from bot.cli import main
from bot.config import FeaturesConfig
from bot.data.indicators import INDICATORS, Indicator
from bot.data.resample import Bars
from tests.conftest import REPO_ROOT

SMALL = ["--set", "data.start=2023-03-01", "--set", "data.end=2023-04-15", "--cut-points", "5"]


def _args(path: Path, *extra: str) -> list[str]:
    return [
        "check-lookahead",
        "--config",
        str(REPO_ROOT / "config" / "config.yaml"),
        "--set",
        f"data.path={path}",
        *SMALL,
        *extra,
    ]


def _future_close(bars: Bars, cfg: FeaturesConfig) -> list[npt.NDArray[np.float64]]:
    return [pd.Series(bars.close).shift(-1).to_numpy() / bars.close - 1.0]


def test_clean_data_exits_0_with_a_table(btc_5m_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_args(btc_5m_path)) == 0
    out = capsys.readouterr().out
    assert "4h.volume_zscore  ok" in out
    assert "5 cut points, 30 features: all features match" in out


def test_leak_exits_1_and_names_the_feature(
    btc_5m_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(INDICATORS, "rsi", Indicator(("rsi",), _future_close))
    assert main(_args(btc_5m_path, "--set", "data.timeframes=[5m, 1h]")) == 1
    out = capsys.readouterr().out
    assert "5m.rsi            LEAK" in out
    assert "LOOK-AHEAD in 5m.rsi, 1h.rsi" in out


def test_bad_input_exits_2(tmp_path: Path, btc_5m_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_args(btc_5m_path, "--cut-points", "0")) == 2
    assert "--cut-points=0 must be >= 1" in capsys.readouterr().err
    assert main(_args(tmp_path / "absent.csv")) == 2
    assert "absent.csv' not found" in capsys.readouterr().err


def test_module_entry_point(btc_5m_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", *_args(btc_5m_path, "--set", "data.timeframes=[5m, 1h]")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "20 features: all features match" in done.stdout
