"""Tests of the downloader's Parquet store: naming, atomic writes, reading back, missing ranges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.data import download_store
from bot.data.download_store import (
    COLUMNS,
    BarRange,
    empty_frame,
    merge,
    missing_ranges,
    ohlcv_path,
    read_stored,
    write_atomic,
)
from bot.data.loading import load_ohlcv
from bot.errors import DataError

BAR = 300_000


def _rows(start_ms: int, n: int) -> list[list[float]]:
    return [[float(start_ms + i * BAR), 100.0 + i, 101.0 + i, 99.0 + i, 100.5 + i, 10.0 + i] for i in range(n)]


def test_path_uses_exchange_folder_and_underscored_symbol(tmp_path: Path) -> None:
    assert ohlcv_path(tmp_path, "bybit", "BTC/USDT", "5m") == tmp_path / "bybit" / "BTC_USDT-5m.parquet"
    assert ohlcv_path("data", "bybit", "btc/usdt:usdt", "1h") == Path("data/bybit/BTC_USDT_USDT-1h.parquet")


def test_written_file_round_trips_and_load_ohlcv_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "bybit" / "BTC_USDT-5m.parquet"
    frame = merge(empty_frame(), _rows(1_672_531_200_000, 50))
    write_atomic(frame, path)
    assert list(path.parent.iterdir()) == [path]  # no temp file left behind
    back = read_stored(path, BAR)
    pd.testing.assert_frame_equal(back, frame)
    assert back["timestamp"].dtype == np.int64
    loaded = load_ohlcv(path)
    assert loaded.index[0] == pd.Timestamp("2023-01-01", tz="UTC")
    np.testing.assert_array_equal(loaded["close"].to_numpy(), frame["close"].to_numpy())


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.parquet"
    write_atomic(merge(empty_frame(), _rows(0, 3)), path)

    def disk_full(table: object, where: Path) -> None:
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(download_store.pa_parquet, "write_table", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(merge(empty_frame(), _rows(0, 10)), path)
    assert list(tmp_path.iterdir()) == [path]
    assert len(read_stored(path, BAR)) == 3


def test_merge_sorts_dedupes_and_prefers_fetched_bars() -> None:
    stored = merge(empty_frame(), _rows(0, 5))
    fresh = _rows(3 * BAR, 4)
    fresh[0][4] = 999.0
    merged = merge(stored, fresh[::-1])
    assert merged["timestamp"].tolist() == [i * BAR for i in range(7)]
    assert merged.loc[3, "close"] == 999.0
    assert list(merged.columns) == list(COLUMNS)


def test_missing_file_reads_as_empty(tmp_path: Path) -> None:
    assert read_stored(tmp_path / "absent.parquet", BAR).empty


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"not parquet")
    with pytest.raises(DataError, match=r"bad.parquet: existing download cannot be read .*delete it and fetch again"):
        read_stored(path, BAR)


def test_foreign_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "foreign.parquet"
    pd.DataFrame({"timestamp": [0], "close": [1.0]}).to_parquet(path)
    with pytest.raises(DataError, match=r"lacks columns \['open', 'high', 'low', 'volume'\]"):
        read_stored(path, BAR)


def test_file_of_another_timeframe_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "other.parquet"
    write_atomic(merge(empty_frame(), [[60_000.0, 1, 1, 1, 1, 1]]), path)
    with pytest.raises(DataError, match=r"timestamp 60000 is not on the 300000 ms grid"):
        read_stored(path, BAR)


def test_missing_ranges_finds_leading_trailing_and_middle_holes() -> None:
    wanted = BarRange(0, 20 * BAR, BAR)
    have = np.array([i * BAR for i in (2, 3, 4, 8, 9, 15)], dtype=np.int64)
    got = [(r.start_ms // BAR, r.stop_ms // BAR) for r in missing_ranges(have, wanted)]
    assert got == [(0, 2), (5, 8), (10, 15), (16, 20)]
    assert sum(r.n_bars for r in missing_ranges(have, wanted)) == 20 - 6


def test_missing_ranges_empty_when_complete_and_ignores_bars_outside() -> None:
    wanted = BarRange(10 * BAR, 20 * BAR, BAR)
    have = np.arange(0, 30 * BAR, BAR, dtype=np.int64)
    assert missing_ranges(have, wanted) == []
    assert missing_ranges(np.empty(0, dtype=np.int64), wanted) == [wanted]
