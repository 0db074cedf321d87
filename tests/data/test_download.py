"""Tests of the ccxt candle downloader against the REAL ccxt client and the loopback Bybit V5 emulator."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import ccxt
import numpy as np
import pandas as pd
import pytest

from bot.cli import main
from bot.config import SyntheticConfig
from bot.data import download
from bot.data.download import download_ohlcv, parse_utc_ms, wanted_range
from bot.data.download_store import empty_frame, merge, ohlcv_path, read_stored, write_atomic
from bot.data.loading import load_ohlcv
from bot.data.synthetic import generate_synthetic
from bot.errors import ConfigError, DataError, TransientBrokerError
from bot.exchange import make_exchange
from tests.support import bybit_faults as faults
from tests.support.bybit_emulator import BybitEmulator

BAR = 300_000
N_BARS = 2_500  # 2,499 closed bars: three pages of at most 1,000
KLINE = "/v5/market/kline"

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    return generate_synthetic(SyntheticConfig(n_bars=N_BARS, seed=5, start="2023-01-01"), "5m")


@pytest.fixture
def emu(candles: pd.DataFrame) -> Iterator[BybitEmulator]:
    with BybitEmulator() as emulator:
        emulator.feed("BTCUSDT", candles)
        emulator.set_bar(N_BARS - 1)  # the last bar is still forming
        yield emulator


@pytest.fixture
def ex(emu: BybitEmulator) -> ccxt.Exchange:
    client = make_exchange("bybit", exchange_url=emu.url)
    client.timeout = 1_000  # below the emulator's 2 s timeout fault
    return client


@pytest.fixture
def sleeps() -> list[float]:
    return []


def _open_ms(candles: pd.DataFrame, i: int) -> int:
    return int(candles.index[i].value // 1_000_000)


def _served(candles: pd.DataFrame, start: int = 0, stop: int = N_BARS - 1) -> pd.DataFrame:
    """The bars the emulator serves, in the stored layout."""
    part = candles.iloc[start:stop]
    frame = part.reset_index(drop=True).loc[:, ["open", "high", "low", "close", "volume"]]
    frame.insert(0, "timestamp", pd.DatetimeIndex(part.index).as_unit("ms").asi8.astype(np.int64))
    return frame


def _kline_starts(emu: BybitEmulator) -> list[int]:
    return [int(r.query["start"]) for r in emu.requests if r.path == KLINE]


def test_multi_page_download_equals_the_served_candles(
    emu: BybitEmulator, ex: ccxt.Exchange, candles: pd.DataFrame, sleeps: list[float], tmp_path: Path
) -> None:
    path = tmp_path / "BTC_USDT-5m.parquet"
    summary = download_ohlcv(ex, "BTC/USDT", "5m", _open_ms(candles, 0), None, path, sleep=sleeps.append)
    pd.testing.assert_frame_equal(read_stored(path, BAR), _served(candles))  # the forming bar is not stored
    assert emu.count(KLINE) == 3
    assert [r.query for r in emu.requests if r.path == "/v5/market/instruments-info"] == [{"category": "spot"}]
    assert (summary.n_fetched, summary.n_requests, summary.n_bars, summary.gaps) == (N_BARS - 1, 3, N_BARS - 1, [])
    assert sleeps == []
    assert list(tmp_path.iterdir()) == [path]


def test_resume_fetches_only_the_missing_tail(
    emu: BybitEmulator, ex: ccxt.Exchange, candles: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "f.parquet"
    download_ohlcv(ex, "BTC/USDT", "5m", _open_ms(candles, 0), _open_ms(candles, 1_800), path)
    assert len(read_stored(path, BAR)) == 1_800
    emu.clear_requests()
    summary = download_ohlcv(ex, "BTC/USDT", "5m", _open_ms(candles, 0), None, path)
    assert _kline_starts(emu) == [_open_ms(candles, 1_800)]  # 699 bars: one request, starting where the file ends
    assert summary.n_fetched == N_BARS - 1 - 1_800
    pd.testing.assert_frame_equal(read_stored(path, BAR), _served(candles))


def test_up_to_date_file_makes_no_kline_request(
    emu: BybitEmulator, ex: ccxt.Exchange, candles: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "f.parquet"
    download_ohlcv(ex, "BTC/USDT", "5m", _open_ms(candles, 0), None, path)
    emu.clear_requests()
    summary = download_ohlcv(ex, "BTC/USDT", "5m", _open_ms(candles, 0), None, path)
    assert emu.count(KLINE) == 0
    assert summary.n_fetched == 0


def test_hole_in_the_middle_is_filled_with_one_request(
    emu: BybitEmulator, ex: ccxt.Exchange, candles: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "f.parquet"
    holed = _served(candles).drop(index=range(700, 950))
    write_atomic(holed.reset_index(drop=True), path)
    summary = download_ohlcv(ex, "BTC/USDT", "5m", _open_ms(candles, 0), None, path)
    kline = [r.query for r in emu.requests if r.path == KLINE]
    assert len(kline) == 1
    assert int(kline[0]["start"]) == _open_ms(candles, 700)
    assert int(kline[0]["end"]) == _open_ms(candles, 950) - 1
    assert summary.n_fetched == 250
    pd.testing.assert_frame_equal(read_stored(path, BAR), _served(candles))


def test_exchange_outage_is_reported_as_a_gap_and_only_rechecked_on_resume(tmp_path: Path) -> None:
    frame = generate_synthetic(SyntheticConfig(n_bars=1_500, seed=2, start="2023-03-01"), "5m")
    outage = frame.drop(index=frame.index[400:416])  # 16 bars the exchange never had
    with BybitEmulator() as emulator:
        emulator.feed("BTCUSDT", outage, base_ms=BAR)
        emulator.set_bar(len(outage) - 1)
        client = make_exchange("bybit", exchange_url=emulator.url)
        path = tmp_path / "f.parquet"
        first = download_ohlcv(client, "BTC/USDT", "5m", _open_ms(frame, 0), None, path)
        assert [(g.start_ms, g.n_bars) for g in first.gaps] == [(_open_ms(frame, 400), 16)]
        assert first.n_bars == 1_500 - 1 - 16
        emulator.clear_requests()
        again = download_ohlcv(client, "BTC/USDT", "5m", _open_ms(frame, 0), None, path)
        assert emulator.count(KLINE) == 1
        assert again.gaps == first.gaps


@pytest.mark.parametrize(
    "fault",
    [faults.http_error(503), faults.rate_limit(), faults.forbidden(), faults.timeout(2.0)],
    ids=["http-503", "retcode-10006", "http-403", "timeout"],
)
def test_transient_errors_are_retried_with_quadratic_backoff(
    emu: BybitEmulator,
    ex: ccxt.Exchange,
    candles: pd.DataFrame,
    sleeps: list[float],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    fault: faults.Fault,
) -> None:
    emu.inject(KLINE, fault, fault)
    path = tmp_path / "f.parquet"
    with caplog.at_level(logging.WARNING, logger="bot.exchange.retry"):
        summary = download_ohlcv(ex, "BTC/USDT", "5m", _open_ms(candles, 0), None, path, sleep=sleeps.append)
    assert sleeps == [1.0, 4.0]
    assert emu.count(KLINE) == 3 + 2
    assert summary.n_requests == 3
    assert "Retrying fetch_ohlcv BTC/USDT 5m" in caplog.text
    assert "(3 left)" in caplog.text and "(4 left)" in caplog.text
    pd.testing.assert_frame_equal(read_stored(path, BAR), _served(candles))


def test_errors_while_loading_markets_are_retried(
    emu: BybitEmulator, ex: ccxt.Exchange, candles: pd.DataFrame, sleeps: list[float], tmp_path: Path
) -> None:
    emu.inject("/v5/market/instruments-info", faults.http_error(502))
    emu.inject("/v5/market/time", faults.rate_limit())
    download_ohlcv(ex, "BTC/USDT", "5m", _open_ms(candles, 0), None, tmp_path / "f.parquet", sleep=sleeps.append)
    assert sleeps == [1.0, 1.0]


def test_persistent_error_gives_up_and_writes_nothing(
    emu: BybitEmulator,
    ex: ccxt.Exchange,
    candles: pd.DataFrame,
    sleeps: list[float],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    emu.inject(KLINE, *[faults.http_error(503)] * 5)
    with pytest.raises(TransientBrokerError, match=r"fetch_ohlcv BTC/USDT 5m .* failed 5 times .*run the same command"):
        download_ohlcv(ex, "BTC/USDT", "5m", _open_ms(candles, 0), None, tmp_path / "f.parquet", sleep=sleeps.append)
    assert sleeps == [1.0, 4.0, 9.0, 16.0]
    assert "Giving up fetch_ohlcv" in caplog.text
    assert list(tmp_path.iterdir()) == []


def test_persistent_error_mid_download_keeps_a_valid_partial_file_that_resumes(
    emu: BybitEmulator, ex: ccxt.Exchange, candles: pd.DataFrame, sleeps: list[float], tmp_path: Path
) -> None:
    path = tmp_path / "BTC_USDT-5m.parquet"

    def break_after_first_page(done: int, total: int) -> None:
        if done == 1_000:
            emu.inject(KLINE, *[faults.rate_limit()] * 5)

    with pytest.raises(TransientBrokerError, match="failed 5 times"):
        download_ohlcv(
            ex, "BTC/USDT", "5m", _open_ms(candles, 0), None, path, sleep=sleeps.append, progress=break_after_first_page
        )
    assert list(tmp_path.iterdir()) == [path]  # no temp file
    pd.testing.assert_frame_equal(read_stored(path, BAR), _served(candles, 0, 1_000))
    assert len(load_ohlcv(path)) == 1_000
    emu.clear_requests()
    download_ohlcv(ex, "BTC/USDT", "5m", _open_ms(candles, 0), None, path)
    assert _kline_starts(emu) == [_open_ms(candles, 1_000), _open_ms(candles, 2_000)]
    pd.testing.assert_frame_equal(read_stored(path, BAR), _served(candles))


def test_unknown_symbol_is_a_clear_error(ex: ccxt.Exchange, candles: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--symbol='DOGE/EUR' is not a market on bybit; use .* BTC/USDT"):
        download_ohlcv(ex, "DOGE/EUR", "5m", _open_ms(candles, 0), None, tmp_path / "f.parquet")
    with pytest.raises(ConfigError, match=r"bybit lists BTC/USDT"):
        download_ohlcv(ex, "BTC/EUR", "5m", _open_ms(candles, 0), None, tmp_path / "f.parquet")


def test_unsupported_timeframe_is_a_clear_error(ex: ccxt.Exchange, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--timeframe='3m' is not supported for bybit; use one of 1m, 5m, 15m"):
        download_ohlcv(ex, "BTC/USDT", "3m", 0, None, tmp_path / "f.parquet")


def test_no_candles_in_range_is_a_clear_error(ex: ccxt.Exchange, tmp_path: Path) -> None:
    since = parse_utc_ms("2022-06-01", "--since")
    with pytest.raises(DataError, match=r"bybit returned no BTC/USDT candles between 2022-06-01.*move --since"):
        download_ohlcv(ex, "BTC/USDT", "5m", since, parse_utc_ms("2022-06-02", "--until"), tmp_path / "f.parquet")
    assert list(tmp_path.iterdir()) == []


def test_wanted_range_drops_the_forming_bar_and_aligns_since() -> None:
    now = 10 * BAR + 1_000
    got = wanted_range(BAR + 5, None, now, BAR)
    assert (got.start_ms, got.stop_ms) == (2 * BAR, 10 * BAR)  # bar 10 is forming, bar 9 closed at 10 * BAR
    assert wanted_range(0, 10 * BAR, 10 * BAR, BAR).stop_ms == 10 * BAR  # closes exactly now: kept
    assert wanted_range(0, 4 * BAR + 1, now, BAR).stop_ms == 5 * BAR  # bar 4 opens before --until


def test_wanted_range_errors() -> None:
    with pytest.raises(ConfigError, match=r"--since \(1970-01-01T00:10:00\+00:00\) must be before --until"):
        wanted_range(2 * BAR, BAR, 10 * BAR, BAR)
    with pytest.raises(ConfigError, match="no closed bar opens between --since"):
        wanted_range(10 * BAR, None, 10 * BAR + 1_000, BAR)


def test_parse_utc_ms() -> None:
    assert parse_utc_ms("2023-01-01", "--since") == 1_672_531_200_000
    assert parse_utc_ms("2023-01-01T02:00:00+02:00", "--since") == 1_672_531_200_000
    with pytest.raises(ConfigError, match=r"--until='31/02/2023' is not an ISO date/time; use e.g. 2023-01-01"):
        parse_utc_ms("31/02/2023", "--until")


# ------------------------------------------------------------------------------------------------- CLI end to end


def _cli(emu: BybitEmulator, out_dir: Path, *extra: str) -> list[str]:
    return ["fetch-data", "--exchange-url", emu.url, "--out-dir", str(out_dir), "--symbol", "BTC/USDT", *extra]


def test_cli_writes_a_file_that_load_ohlcv_reads(
    emu: BybitEmulator, candles: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _cli(emu, tmp_path, "--since", "2023-01-01", "--until", "2023-01-08", "--testnet")
    assert main(args) == 0
    path = ohlcv_path(tmp_path, "bybit", "BTC/USDT", "5m")
    assert path == tmp_path / "bybit" / "BTC_USDT-5m.parquet"
    loaded = load_ohlcv(path)
    pd.testing.assert_frame_equal(loaded, candles.iloc[:2_016])  # 7 days of 5m bars
    out, err = capsys.readouterr()
    assert "BTC/USDT 5m: fetched 2016 bars in 3 requests" in out
    assert "from 2023-01-01T00:00:00+00:00 to 2023-01-07T23:55:00+00:00" in out
    assert "no gaps between 2023-01-01T00:00:00+00:00 and 2023-01-08T00:00:00+00:00" in out
    assert "2016/2016 bars (100%)" in err  # periodic progress line when not a terminal


def test_cli_linear_perpetual_symbol(emu: BybitEmulator, tmp_path: Path) -> None:
    args = [*_cli(emu, tmp_path, "--since", "2023-01-02", "--until", "2023-01-03")]
    args[args.index("BTC/USDT")] = "BTC/USDT:USDT"
    assert main(args) == 0
    loaded = load_ohlcv(tmp_path / "bybit" / "BTC_USDT_USDT-5m.parquet")
    assert len(loaded) == 288
    assert loaded.index[0] == pd.Timestamp("2023-01-02", tz="UTC")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--since", "2023-01-01", "--exchange", "bybitt"], "--exchange='bybitt' is not a ccxt exchange id"),
        (["--since", "2023-01-01", "--timeframe", "7m"], "--timeframe='7m' is not supported for bybit"),
        (
            ["--since", "2023-02-01", "--until", "2023-01-01"],
            "--since='2023-02-01' must be before --until='2023-01-01'",
        ),
        (["--since", "last tuesday"], "--since='last tuesday' is not an ISO date/time"),
        (["--since", "2023-01-01", "--until", "soon"], "--until='soon' is not an ISO date/time"),
    ],
    ids=["exchange", "timeframe", "since-after-until", "since", "until"],
)
def test_cli_bad_input_exits_2_with_a_clear_message(
    emu: BybitEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(_cli(emu, tmp_path, *extra)) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "bybit").exists()


def test_cli_unknown_symbol_exits_2(emu: BybitEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _cli(emu, tmp_path, "--since", "2023-01-01")
    args[args.index("BTC/USDT")] = "NOPE/USDT"
    assert main(args) == 2
    assert "ConfigError: --symbol='NOPE/USDT' is not a market on bybit" in capsys.readouterr().err


def test_foreign_existing_file_is_not_overwritten(
    emu: BybitEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = ohlcv_path(tmp_path, "bybit", "BTC/USDT", "5m")
    write_atomic(merge(empty_frame(), [[60_000.0, 1.0, 1.0, 1.0, 1.0, 1.0]]), path)
    before = path.read_bytes()
    assert main(_cli(emu, tmp_path, "--since", "2023-01-01")) == 2
    assert "not on the 300000 ms grid" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_cli_on_a_terminal_shows_a_progress_bar_and_set_controls_logging(
    emu: BybitEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    args = _cli(emu, tmp_path, "--since", "2023-01-01", "--until", "2023-01-02", "--set", "logging.console_level=INFO")
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "BTC/USDT 5m: 288 bars missing in 1 ranges" in err  # INFO reaches the console through the SmartLogger
    assert "bars (100%)" not in err  # the rich bar replaces the periodic lines
    assert "fetched 288 bars in 1 requests" in out
    assert len(load_ohlcv(tmp_path / "bybit" / "BTC_USDT-5m.parquet")) == 288


def test_fetch_data_script_runs_as_a_subprocess(emu: BybitEmulator, tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "fetch_data.py"
    args = _cli(emu, tmp_path, "--since", "2023-01-03", "--until", "2023-01-03T12:00")
    done = subprocess.run(
        [sys.executable, str(script), *args[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=script.parents[1],
        env={**os.environ, "PYTHONPATH": str(script.parents[1])},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "fetched 144 bars in 1 requests" in done.stdout
    loaded = load_ohlcv(tmp_path / "bybit" / "BTC_USDT-5m.parquet")
    assert (loaded.index[0], len(loaded)) == (pd.Timestamp("2023-01-03", tz="UTC"), 144)


def test_long_download_checkpoints_the_file_as_it_goes(
    emu: BybitEmulator, ex: ccxt.Exchange, candles: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(download, "CHECKPOINT_PAGES", 1)
    path = tmp_path / "f.parquet"
    seen: list[int] = []

    def record(done: int, total: int) -> None:
        seen.append(len(read_stored(path, BAR)))  # written after the previous page

    download_ohlcv(ex, "BTC/USDT", "5m", _open_ms(candles, 0), None, path, progress=record)
    assert seen == [0, 1_000, 2_000]
    assert len(read_stored(path, BAR)) == N_BARS - 1


def test_since_before_the_listing_starts_at_the_listing(ex: ccxt.Exchange, tmp_path: Path) -> None:
    listed = 1_585_526_400_000  # the emulator's launchTime of the BTCUSDT perpetual, 2020-03-30
    summary = download_ohlcv(
        ex, "BTC/USDT:USDT", "1d", parse_utc_ms("2019-01-01", "--since"), None, tmp_path / "f.parquet"
    )
    assert summary.wanted.start_ms == listed
    assert summary.gaps[0].start_ms == listed  # the emulator's candles begin in 2023
    assert summary.first_ms == parse_utc_ms("2023-01-01", "--since")
