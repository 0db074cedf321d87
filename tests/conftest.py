"""Shared fixtures: the real Binance candles in ../shared/data, and small configs."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data folder, or a skip that says why."""
    if not (SHARED_DATA / "binance_spot_2023").is_dir():
        pytest.skip(f"real market data not found at {SHARED_DATA} (clone with ../shared beside the repo)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def btc_5m_path(shared_data: Path) -> Path:
    return shared_data / "binance_spot_2023" / "BTC_USDT-5m.csv.gz"


@pytest.fixture(scope="session")
def btc_1h_path(shared_data: Path) -> Path:
    return shared_data / "binance_spot_2023" / "BTC_USDT-1h.csv.gz"
