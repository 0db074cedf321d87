"""The look-ahead check passes on real data and names a deliberately leaky feature or a leaky alignment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from bot.config import BotConfig, FeaturesConfig, load_config
from bot.data import check_lookahead, load_ohlcv
from bot.data import features as features_module
from bot.data.indicators import INDICATORS, Indicator
from bot.data.lookahead import choose_cut_points
from bot.data.resample import Bars
from bot.errors import LookAheadError
from tests.data.ohlcv_files import ohlcv_frame


def _centred_mean(bars: Bars, cfg: FeaturesConfig) -> list[npt.NDArray[np.float64]]:
    """A classic leak: a rolling mean centred on the bar, so it averages two bars from the future."""
    mean = pd.Series(bars.close).rolling(5, center=True).mean().to_numpy()
    return [mean / bars.close - 1.0]


def _cfg(*overrides: str) -> BotConfig:
    return load_config(None, ["data.source=file", "data.path=unused.csv", *overrides])


@pytest.fixture(scope="module")
def spring(btc_5m_path: Path) -> pd.DataFrame:
    """Real 5m BTC around the 2023-03-24 outage (two segments)."""
    return load_ohlcv(btc_5m_path).loc["2023-02-15":"2023-04-30"]


def test_real_data_passes_for_every_feature(spring: pd.DataFrame) -> None:
    report = check_lookahead(spring, _cfg(), n_cuts=12)
    assert report.ok, report.failed
    assert len(report.features) == 30 and len(report.cut_points) == 12
    assert all(f.n_compared > 0 and f.max_abs_diff == 0.0 for f in report.features)
    report.raise_if_failed()


def test_real_data_passes_with_ffill_and_daily_bars(btc_1h_path: Path) -> None:
    frame = load_ohlcv(btc_1h_path)
    cfg = _cfg("data.base_timeframe=1h", "data.timeframes=[1h, 4h, 1d]", "data.gap_policy=ffill")
    assert check_lookahead(frame, cfg, n_cuts=8).ok


def test_leaky_feature_is_caught_and_named(spring: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(INDICATORS, "ema_slope", Indicator(("ema_slope",), _centred_mean))
    report = check_lookahead(spring, _cfg("data.timeframes=[5m, 1h]"), n_cuts=6)
    assert not report.ok
    assert report.failed == ["5m.ema_slope", "1h.ema_slope"]
    leak = next(f for f in report.features if f.name == "5m.ema_slope")
    assert leak.n_mismatched >= 6 and leak.max_abs_diff > 0 and leak.first_mismatch is not None
    with pytest.raises(
        LookAheadError, match=r"2 feature\(s\) use data from after their bar's close: 5m\.ema_slope: row"
    ):
        report.raise_if_failed()


def test_forming_higher_bar_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Showing a higher bar from its OPEN (forward-filling a forming bar) is a leak the check must see."""

    def align_at_open(
        base_open_ms: npt.NDArray[np.int64],
        base_ms: int,
        htf_open_ms: npt.NDArray[np.int64],
        tf_ms: int,
        values: npt.NDArray[np.float64],
    ) -> npt.NDArray[np.float64]:
        idx = np.searchsorted(htf_open_ms, base_open_ms, side="right") - 1
        out = np.asarray(values, dtype=np.float64)[np.maximum(idx, 0)]
        out[idx < 0] = np.nan
        return out

    def resample_with_partial(bars: Bars, base_ms: int, tf_ms: int) -> Bars:
        bucket = bars.open_ms // tf_ms
        starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
        last = np.r_[starts[1:], len(bars)] - 1
        return Bars(
            bucket[starts] * tf_ms,
            bars.open[starts],
            np.maximum.reduceat(bars.high, starts),
            np.minimum.reduceat(bars.low, starts),
            bars.close[last],
            np.add.reduceat(bars.volume, starts),
            {},
        )

    monkeypatch.setattr(features_module, "align_to_base", align_at_open)
    monkeypatch.setattr(features_module, "resample_bars", resample_with_partial)
    report = check_lookahead(ohlcv_frame(2000), _cfg("data.timeframes=[5m, 1h]", "features.indicators=[rsi]"), 5)
    assert report.failed == ["1h.rsi"]


def test_cut_points_are_spread_and_distinct() -> None:
    cuts = choose_cut_points(1000, 10, first_row=100)
    assert cuts[0] == 100 and cuts[-1] == 998 and len(set(cuts.tolist())) == 10
    assert choose_cut_points(5, 50).tolist() == [0, 1, 2, 3]
    assert choose_cut_points(1, 3).size == 0
    with pytest.raises(ValueError, match="n_cuts=0 must be >= 1"):
        choose_cut_points(10, 0)
