"""The account-level drawdown mode of a basket: thresholds from the dbe config, monotone in drawdown, decay."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import DBEConfig, load_config
from bot.dbe import ACCOUNT_SIZE_MULT, AccountDrawdownMode, AccountMode, account_mode
from bot.errors import ConfigError


@settings(max_examples=200, deadline=None)
@given(
    a=st.floats(0.0, 1.0),
    b=st.floats(0.0, 1.0),
    defensive=st.floats(0.01, 0.9),
    gap=st.floats(0.01, 0.09),
)
def test_mode_is_monotone_in_drawdown_and_scale_never_grows(a: float, b: float, defensive: float, gap: float) -> None:
    critical = defensive + gap
    low, high = sorted((a, b))
    m_low, m_high = account_mode(low, defensive, critical), account_mode(high, defensive, critical)
    assert m_low <= m_high
    assert ACCOUNT_SIZE_MULT[m_low] >= ACCOUNT_SIZE_MULT[m_high]
    assert 0.0 < ACCOUNT_SIZE_MULT[m_high] <= 1.0


def test_thresholds_come_from_the_dbe_config() -> None:
    mode = AccountDrawdownMode(DBEConfig(defensive_drawdown=0.1, critical_drawdown=0.3, drawdown_halflife_bars=0))
    seen = []
    for dd in (0.0, 0.09, 0.1, 0.2, 0.3, 0.5, 0.05):
        mode.update(dd, 0)
        seen.append((mode.mode, mode.scale))
    normal, defensive, critical = (
        (AccountMode.NORMAL, 1.0),
        (AccountMode.DEFENSIVE, 0.5),
        (AccountMode.CRITICAL, 0.25),
    )
    assert seen == [normal, normal, defensive, defensive, critical, critical, normal]
    # critical_drawdown omitted: twice the defensive drawdown
    assert DBEConfig(defensive_drawdown=0.15).critical_level == pytest.approx(0.3)
    mode.reset()
    assert (mode.mode, mode.scale, mode.drawdown) == (AccountMode.NORMAL, 1.0, 0.0)


def test_a_drawdown_never_recovered_decays_back_to_normal(caplog: pytest.LogCaptureFixture) -> None:
    mode = AccountDrawdownMode(DBEConfig(defensive_drawdown=0.1, critical_drawdown=0.2, drawdown_halflife_bars=10))
    caplog.set_level(logging.INFO, logger="bot.dbe.account")
    mode.update(0.25, 7)
    assert mode.mode == AccountMode.CRITICAL and mode.mode_changed
    assert "Account drawdown mode NORMAL -> CRITICAL at clock bar 7" in caplog.text
    modes = []
    for bar in range(8, 200):
        mode.update(0.25, bar)  # the account stays 25 % below its peak
        modes.append(mode.mode)
    assert modes == sorted(modes, reverse=True)  # critical, then defensive, then normal: never back up
    assert modes[-1] == AccountMode.NORMAL and AccountMode.DEFENSIVE in modes


def test_a_critical_drawdown_not_above_the_defensive_one_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"dbe.critical_drawdown=0.1 must be > dbe.defensive_drawdown=0.2"):
        load_config(None, ["dbe.defensive_drawdown=0.2", "dbe.critical_drawdown=0.1"])
    with pytest.raises(ConfigError, match=r"dbe.critical_drawdown=1.5"):
        load_config(None, ["dbe.critical_drawdown=1.5"])
