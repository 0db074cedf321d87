"""The compiled single-asset bar: growing trade records, refused exposures, copies, the debug log, cache deps."""

from __future__ import annotations

import copy
import logging
import pickle
from pathlib import Path

import numpy as np
import pytest

from bot.dbe import kernel as dbe_kernel
from bot.env import account_obs, step_kernel
from bot.portfolio import FUNDING_INTERVAL_MS, PortfolioManager, bar_kernel
from tests.portfolio.helpers import BAR_MS, free_config, step


def _reversals(pm: PortfolioManager, bars: int, start: int = 0) -> None:
    """Long, short, long, ... one reversal a bar (a close and an open each), prices drifting."""
    for i in range(start, start + bars):
        price = 100.0 + (i % 7) - 3.0
        step(pm, i, price, high=price + 1.0, low=price - 1.0, close=price + 0.5, target=1.0 if i % 2 else -1.0)


def test_more_trades_than_the_first_record_table_holds() -> None:
    """700 closed trades (the table starts with room for 256 and doubles): every one is kept, in order, their
    holding bars are summed without building them, and the accounting identity holds; reading the trades mid-way
    changes nothing."""
    pm = PortfolioManager(free_config(taker_fee=0.001, slippage_bps=2.0))
    read_midway = PortfolioManager(free_config(taker_fee=0.001, slippage_bps=2.0))
    _reversals(pm, 701)
    for i in range(701):
        _reversals(read_midway, 1, start=i)
        assert len(read_midway.trades) == read_midway.n_trades
    assert pm.n_trades == len(pm.trades) == 700
    assert pm.trades == read_midway.trades
    assert [t.exit_time_ms for t in pm.trades] == [i * BAR_MS for i in range(1, 701)]
    assert pm.bars_held == sum(t.bars_held for t in pm.trades) == read_midway.bars_held
    pnl = sum(t.pnl for t in pm.trades) + pm.open_trade_pnl - pm.funding_paid
    assert pnl == pytest.approx(pm.equity - pm.initial_cash, abs=1e-6)
    pm.reset()
    assert (pm.bars_held, pm.n_trades, pm.trades) == (0, 0, [])


def test_a_refused_exposure_leaves_the_account_unchanged() -> None:
    """An exposure above max_leverage is refused before anything happens, even on a bar that would pay funding and
    gap through the liquidation price; the same bar with a valid exposure then does both."""
    pm = PortfolioManager(free_config(leverage=5.0, funding_rate_8h=0.001))
    step(pm, 0, 100.0, target=1.0)
    before = pm.state.copy()
    funding_bar_ms = FUNDING_INTERVAL_MS
    with pytest.raises(ValueError, match=r"max_leverage=5\.0"):
        step(pm, 1, 50.0, target=2.0, time_ms=funding_bar_ms)
    np.testing.assert_array_equal(pm.state, before)
    step(pm, 1, 50.0, target=1.0, time_ms=funding_bar_ms)
    assert pm.funding_paid > 0.0 and pm.is_liquidated and pm.trades[-1].exit_reason == "liquidation"


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_copy_continues_the_account_on_its_own(how: str) -> None:
    """A deep copy or an unpickled copy taken mid-episode continues bit for bit as the original, without sharing
    its state."""
    pm = PortfolioManager(free_config(taker_fee=0.001, leverage=2.0, funding_rate_8h=0.0001))
    _reversals(pm, 301)
    twin = copy.deepcopy(pm) if how == "deepcopy" else pickle.loads(pickle.dumps(pm))
    _reversals(pm, 50, start=301)
    assert twin.n_trades == 300
    _reversals(twin, 50, start=301)
    np.testing.assert_array_equal(twin.state, pm.state)
    assert twin.trades == pm.trades and twin.trades is not pm.trades


def test_fills_and_funding_log_debug_lines(caplog: pytest.LogCaptureFixture) -> None:
    """Increases, reductions and funding payments log DEBUG lines with %-style arguments, in the order they
    happened; nothing is logged when the loggers are above INFO."""
    pm = PortfolioManager(free_config(funding_rate_8h=0.001))
    with caplog.at_level(logging.WARNING, logger="bot.portfolio"):
        step(pm, 0, 100.0, target=0.5)
    assert not caplog.records
    with caplog.at_level(logging.DEBUG, logger="bot.portfolio"):
        step(pm, 1, 100.0, target=1.0)
        step(pm, 2, 100.0, target=0.25, time_ms=FUNDING_INTERVAL_MS)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith("Position increased to 100 at 100")
    assert messages[1].startswith("Funding 10 paid on 100 at 100")
    assert messages[2].startswith("Position reduced to 24.975 at 100")
    assert all(r.args for r in caplog.records)


def test_the_kernels_drop_caches_older_than_what_they_compile_in() -> None:
    """numba checks a cache against its own file only: the bar names the fills and the lot rounding among its
    dependencies, the env's account read the observation, the fills, the DBE's and the references' slots, the env's
    step all it calls, so an edit of one never runs stale machine code in another's cache."""
    calls = {
        bar_kernel: "drop_stale_caches(process_bar, (fees, fill_kernel))",
        dbe_kernel: "drop_stale_caches(update, (inputs,))",
        account_obs: "drop_stale_caches(observe_account, (portfolio_obs, rewards, spaces, fill_kernel, dbe_kernel,"
        " decisions))",
        step_kernel: "drop_stale_caches(run_bars, (bar_kernel, fill_kernel, dbe_kernel, rewards, account_obs,"
        " decisions, stats))",
    }
    for module, call in calls.items():
        source = " ".join(Path(str(module.__file__)).read_text(encoding="utf-8").split())
        assert call in source, module.__name__
