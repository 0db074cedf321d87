"""The live portfolio's account drawdown mode follows the account's equity peak since the run started (kept in the
state file across restarts), not the observation's references, which restart every episode length."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bot.dbe import AccountMode
from bot.live import StateStore
from bot.live.risk import AccountTracker
from tests.live.test_portfolio_trader import Weights, close, emu, make_trader, markets  # noqa: F401 - fixtures
from tests.support.bybit_emulator import BybitEmulator


def test_the_account_mode_follows_the_peak_since_the_run_started_and_survives_a_restart(
    emu: BybitEmulator,  # noqa: F811 - the fixture imported above
    markets: dict[str, pd.DataFrame],  # noqa: F811
    tmp_path: Path,
) -> None:
    path = tmp_path / "portfolio.sqlite"
    # an earlier run of this state file saw the account at 20,000; it holds 10,000 now (a 50 % drawdown), while
    # the observation's references start afresh at this run's first bar (drawdown 0 in the observation)
    store = StateStore(path, "BTC/USDT:USDT")
    store.put_account(tracker=AccountTracker(initial_equity=20_000.0, peak_equity=20_000.0).to_dict())
    store.close()
    policy = Weights([0.4, -0.4])
    trader = make_trader(emu, markets, path, policy)
    bars = []
    trader.run(1, on_bar=bars.append)
    dbe = trader.dbe
    assert dbe is not None
    assert policy.observations[0]["account"][2] == 0.0  # the observation's drawdown
    assert dbe.account.drawdown == pytest.approx(0.5) and dbe.account.mode == AccountMode.CRITICAL
    # every symbol trades a quarter of its engine's size
    assert bars[0].weights == pytest.approx((0.4 * dbe.size[0] * 0.25, -0.4 * dbe.size[1] * 0.25))
    close(trader)
    # a restart continues the mode from the state file before its first bar
    again = make_trader(emu, markets, path, Weights([0.4, -0.4]))
    assert again.dbe is not None and again.dbe.account.mode == AccountMode.CRITICAL
    assert again.dbe.account.drawdown == pytest.approx(0.5)
    close(again)
