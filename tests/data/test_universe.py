"""Several symbols on one clock: alignment, per-symbol splits and scalers, no look-ahead across symbols, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.cli import main
from bot.config import BotConfig, load_config
from bot.data.universe import SymbolScalers, aligned_prices, build_universe
from bot.errors import ConfigError, DataError, SchemaMismatchError
from tests.data.ohlcv_files import FIVE_MIN_MS, START_MS, ohlcv_frame, write_ohlcv

N_BARS = 1500
SMALL = ["data.timeframes=[5m, 1h]", "features.indicators=[log_return, rsi, atr]", "env.mode=universe"]


def _with_gap(frame: pd.DataFrame, start: int, length: int) -> pd.DataFrame:
    return frame.drop(frame.index[start : start + length])


@pytest.fixture
def two_files(tmp_path: Path) -> tuple[Path, Path]:
    """AAA and BBB, 5m, over slightly different periods, each with its own gaps."""
    a = _with_gap(ohlcv_frame(N_BARS, seed=1), 400, 7)
    b = _with_gap(_with_gap(ohlcv_frame(N_BARS, seed=2, start_ms=START_MS + 30 * FIVE_MIN_MS), 900, 20), 200, 3)
    return write_ohlcv(a, tmp_path / "AAA_USDT-5m.csv"), write_ohlcv(b, tmp_path / "BBB_USDT-5m.csv")


def _cfg(a: Path, b: Path, *overrides: str) -> BotConfig:
    symbols = f"[{{symbol: AAA/USDT, path: '{a}'}}, {{symbol: BBB/USDT, path: '{b}'}}]"
    return load_config(None, [f"data.symbols={symbols}", *SMALL, *overrides])


def test_symbols_align_on_one_clock_each_with_its_own_rows(two_files: tuple[Path, Path]) -> None:
    u = build_universe(_cfg(*two_files))
    assert u.symbols == ("AAA/USDT", "BBB/USDT")
    assert np.all(np.diff(u.clock_ms) > 0)
    # the common period starts at BBB's first bar and ends at AAA's last
    assert u.clock_ms[0] == START_MS + 30 * FIVE_MIN_MS
    assert u.clock_ms[-1] == START_MS + (N_BARS - 1) * FIVE_MIN_MS
    for i, dataset in enumerate(u.datasets):
        present = u.row[i] >= 0
        # every bar of the symbol is on the clock exactly once, at its own open time
        assert present.sum() == len(dataset.market)
        np.testing.assert_array_equal(dataset.market.open_time_ms[u.row[i, present]], u.clock_ms[present])
        assert dataset.market.symbol == u.symbols[i]
    # each symbol's gaps are its own: AAA misses 7 bars where BBB has them, BBB misses 23 where AAA has them
    assert (u.row[0] < 0).sum() == 7 and (u.row[1] < 0).sum() == 23
    assert len({d.schema_hash for d in u.datasets}) == 1


def test_symbol_splits_share_the_clock_time_boundaries(two_files: tuple[Path, Path]) -> None:
    u = build_universe(_cfg(*two_files, "splits.embargo_bars=5"))
    for name, clock_range in u.splits.items():
        t0 = u.clock_ms[clock_range.start]
        t1 = u.clock_ms[clock_range.stop] if clock_range.stop < len(u) else np.iinfo(np.int64).max
        for dataset in u.datasets:
            rows = dataset.splits[name]
            times = dataset.market.open_time_ms
            assert np.all((times[rows.start : rows.stop] >= t0) & (times[rows.start : rows.stop] < t1))
            # and no row of the symbol inside that time range is left out
            assert ((times >= t0) & (times < t1)).sum() == len(rows)


def test_each_symbol_scaler_is_fit_on_its_own_train_rows(two_files: tuple[Path, Path]) -> None:
    u = build_universe(_cfg(*two_files))
    for dataset in u.datasets:
        train = dataset.splits["train"]
        market = dataset.market
        rows = np.arange(train.start, train.stop)[market.valid[train.start : train.stop]]
        assert dataset.scaler is not None
        np.testing.assert_allclose(dataset.scaler.mean, market.features[rows].astype(np.float64).mean(axis=0))
    a, b = u.scalers
    assert a is not None and b is not None and not np.allclose(a.mean, b.mean)


def test_truncating_after_t_changes_nothing_at_or_before_t_for_any_symbol(two_files: tuple[Path, Path]) -> None:
    """No look-ahead across symbols: cut every file after clock bar t; rows, features and observations up to t stay."""
    full = build_universe(_cfg(*two_files))
    scalers = SymbolScalers.of(full)
    for t in (350, 700, 1100, len(full) - 40):
        end = pd.Timestamp(int(full.clock_ms[t]) + FIVE_MIN_MS, unit="ms", tz="UTC").isoformat()
        part = build_universe(_cfg(*two_files, f"data.end={end}"), scalers=scalers)
        assert part.clock_ms[-1] <= full.clock_ms[t]
        m = len(part)
        np.testing.assert_array_equal(part.clock_ms, full.clock_ms[:m])
        np.testing.assert_array_equal(part.row, full.row[:, :m])
        for p, f in zip(part.datasets, full.datasets, strict=True):
            k = len(p.market)
            np.testing.assert_array_equal(p.market.valid, f.market.valid[:k])
            np.testing.assert_array_equal(p.market.features, f.market.features[:k])
            np.testing.assert_array_equal(p.obs_features, f.obs_features[:k])


def test_aligned_prices_follow_the_rows(two_files: tuple[Path, Path]) -> None:
    u = build_universe(_cfg(*two_files))
    prices = aligned_prices(u)
    assert prices.close.shape == (2, len(u))
    for i, dataset in enumerate(u.datasets):
        present = u.row[i] >= 0
        np.testing.assert_array_equal(prices.close[i, present], dataset.market.close[u.row[i, present]])
        assert np.isnan(prices.open[i, ~present]).all() and not prices.tradable[i, ~present].any()
        np.testing.assert_array_equal(prices.tradable[i, present], dataset.market.valid[u.row[i, present]])
        # in a gap the mark is the last close before it
        gap = int(np.flatnonzero(~present)[0])
        assert prices.mark[i, gap] == prices.close[i, gap - 1]


def test_dir_and_pattern_name_the_files(two_files: tuple[Path, Path]) -> None:
    folder = two_files[0].parent
    pattern = "data.pattern='{base}_{quote}-{timeframe}.csv'"
    cfg = load_config(None, [f"data.dir={folder}", pattern, "data.symbols=[AAA/USDT, BBB/USDT]", *SMALL])
    assert [f.path for f in cfg.data.symbol_files()] == [str(p) for p in two_files]
    assert build_universe(cfg).symbols == ("AAA/USDT", "BBB/USDT")


def test_synthetic_basket_plants_a_signal_in_one_asset_only() -> None:
    cfg = load_config(
        None,
        [
            "data.synthetic.assets=3",
            "data.synthetic.n_bars=3000",
            "data.synthetic.correlation=0.8",
            "data.synthetic.signal_strengths=[0.6, 0, 0]",
            "features.indicators=[log_return, signal]",
            *SMALL[:1],
            "env.mode=universe",
        ],
    )
    u = build_universe(cfg)
    assert u.symbols == ("SYN1/USDT", "SYN2/USDT", "SYN3/USDT")
    returns = np.diff(np.log(aligned_prices(u).close), axis=1)
    corr = np.corrcoef(returns)
    assert corr[1, 2] > 0.5  # correlated through the common shock
    signal = u.feature_names.index("5m.signal")
    for i, dataset in enumerate(u.datasets):
        raw = dataset.market.features[:-1, signal].astype(np.float64)
        nxt = np.diff(np.log(dataset.market.close))
        predictive = np.corrcoef(raw, nxt)[0, 1] if raw.std() > 0 else 0.0
        assert (predictive > 0.5) if i == 0 else predictive == 0.0


def test_saved_scalers_reload_and_must_match_the_symbols(two_files: tuple[Path, Path], tmp_path: Path) -> None:
    u = build_universe(_cfg(*two_files))
    SymbolScalers.of(u).save(tmp_path / "scaler.json")
    loaded = SymbolScalers.load(tmp_path)
    assert loaded.symbols == u.symbols
    assert [s.to_dict() for s in loaded.scalers] == [s.to_dict() for s in SymbolScalers.of(u).scalers]
    again = build_universe(_cfg(*two_files), scalers=loaded)
    for a, b in zip(again.datasets, u.datasets, strict=True):
        np.testing.assert_array_equal(a.obs_features, b.obs_features)
    swapped = SymbolScalers(loaded.symbols[::-1], loaded.scalers[::-1])
    with pytest.raises(SchemaMismatchError, match="trained on BBB/USDT, AAA/USDT but the data lists AAA/USDT"):
        build_universe(_cfg(*two_files), scalers=swapped)
    with pytest.raises(DataError, match="not the per-symbol scalers"):
        SymbolScalers.load(tmp_path / "nowhere")


def test_a_missing_file_among_many_is_named(two_files: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"1 of 2 symbol file\(s\) not found: BBB/USDT: .*nope\.csv"):
        build_universe(_cfg(two_files[0], tmp_path / "nope.csv"))


def test_disjoint_periods_are_an_error_naming_both_symbols(tmp_path: Path) -> None:
    a = write_ohlcv(ohlcv_frame(300, seed=1), tmp_path / "a.csv")
    b = write_ohlcv(ohlcv_frame(300, seed=2, start_ms=START_MS + 400 * FIVE_MIN_MS), tmp_path / "b.csv")
    with pytest.raises(DataError, match="no common period: BBB/USDT starts at .* after AAA/USDT ends"):
        build_universe(_cfg(a, b))


def test_another_base_timeframe_is_an_error_naming_the_symbol(two_files: tuple[Path, Path], tmp_path: Path) -> None:
    hourly = write_ohlcv(ohlcv_frame(300, seed=3, bar_ms=12 * FIVE_MIN_MS), tmp_path / "BBB_USDT-1h.csv")
    with pytest.raises(DataError, match=r"BBB/USDT \(.*BBB_USDT-1h.csv\): its bars are 1h apart but"):
        build_universe(_cfg(two_files[0], hourly))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.symbols=[{symbol: A/USDT, path: a.csv}, {symbol: A/USDT, path: b.csv}]"], "lists A/USDT more than"),
        (["data.dir=d", "data.symbols=[A/USDT, A/USDT]"], "lists A/USDT more than once"),
        (["data.symbols=[A/USDT]"], "bare name: set data.dir"),
        (["data.dir=d"], "needs data.symbols"),
        (["data.path=a.csv", "data.symbols=[{symbol: A/USDT, path: a.csv}]"], "exclude each other"),
        (["data.dir=d", "data.symbols=[A/USDT]", "data.pattern='{coin}.csv'"], r"unknown placeholder\(s\) \['coin'\]"),
        (["data.source=synthetic", "data.symbols=[{symbol: A/USDT, path: a.csv}]"], "use data.synthetic.assets"),
        (["data.synthetic.assets=3", "data.synthetic.signal_strengths=[0.1]"], "has 1 entries for data.synthetic"),
        (["env.mode=single", "data.synthetic.assets=2"], "names 2 symbols but env.mode='single'"),
        (["env.mode=basket"], "env.mode"),
    ],
)
def test_bad_symbol_config_is_a_clear_error(overrides: list[str], message: str) -> None:
    mode = [] if any(o.startswith("env.mode") for o in overrides) else ["env.mode=universe"]
    with pytest.raises(ConfigError, match=message):
        load_config(None, [*mode, *overrides])


def test_shipped_universe_config_names_the_shared_btc_and_eth_files(shared_data: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    cfg = load_config(repo / "config" / "universe.yaml")
    files = cfg.data.symbol_files()
    assert [f.symbol for f in files] == ["BTC/USDT", "ETH/USDT"] and cfg.env.mode == "universe"
    expected = [(shared_data / "binance_spot_2023" / Path(f.path).name).resolve() for f in files]
    assert [(repo / f.path).resolve() for f in files] == expected


def test_check_lookahead_checks_every_symbol(capsys: pytest.CaptureFixture[str]) -> None:
    basket = ["env.mode=universe", "data.synthetic.assets=2", "data.synthetic.n_bars=2000", "data.timeframes=[5m, 1h]"]
    assert main(["check-lookahead", *(a for o in basket for a in ("--set", o)), "--cut-points", "3"]) == 0
    out = capsys.readouterr().out
    assert "look-ahead check on synthetic(seed=7, SYN1/USDT)" in out
    assert "look-ahead check on synthetic(seed=7, SYN2/USDT)" in out
    assert out.count("all features match") == 2
