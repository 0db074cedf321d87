"""The env's compiled account read: the same observation and info figures as the account's attributes, and copies."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from bot.config import load_config
from bot.data.types import Dataset
from bot.dbe import kernel as dbe_kernel
from bot.env import make_env
from bot.env.decisions import ObservationReferences
from bot.env.portfolio_obs import PortfolioObservation
from bot.env.step_kernel import EnvKernels
from bot.portfolio import PortfolioManager
from tests.env.conftest import ConfigFactory
from tests.portfolio.helpers import free_config, step
from tests.support.classic import CLASSIC_OVERRIDES


@pytest.mark.parametrize("market", ["perpetual", "spot"])
@pytest.mark.parametrize("peak_above", [0.0, 250.0])
def test_observe_account_is_the_vector_of_the_attributes(market: str, peak_above: float) -> None:
    """``observe_account`` (through the env's entry point) writes what ``PortfolioObservation.vector`` builds from the
    account's attributes, bit for bit, and returns the attributes the info dict reads, as Python numbers."""
    pm = PortfolioManager(free_config(market=market, taker_fee=0.001, leverage=1.0 if market == "spot" else 2.0))
    for i, price in enumerate([100.0, 103.0, 99.0, 101.0]):
        step(pm, i, price, target=0.8)
    cfg = load_config(None, list(CLASSIC_OVERRIDES))
    obs = PortfolioObservation(cfg)
    peak, reference = pm.equity + peak_above, 9_900.0
    refs = ObservationReferences(1024)
    refs.restore({"since": 0, "reference": reference, "peak": peak})
    dbe = np.zeros(dbe_kernel.N_SLOTS)
    dbe[[dbe_kernel.MODE, dbe_kernel.SL, dbe_kernel.TP, dbe_kernel.SIZE]] = 2.0, 0.02, 0.04, 0.5
    out = np.empty(12, np.float32)
    info = EnvKernels().observe_account(out, pm.state, dbe, refs.values, np.array(obs.scales))
    expected = obs.vector(
        equity=pm.equity,
        initial_equity=reference,
        unrealized_pnl=pm.unrealized_pnl,
        cash=pm.cash,
        exposure=pm.exposure,
        bars_in_position=pm.bars_in_position,
        drawdown=1.0 - pm.equity / peak if pm.equity < peak else 0.0,
        dbe_mode=2,
        stop_loss_pct=0.02,
        take_profit_pct=0.04,
        size_fraction=0.5,
    )
    assert out.tobytes() == expected.tobytes()
    names = ("equity", "exposure", "position_qty", "fees_paid", "slippage_paid", "funding_paid", "traded_notional",
             "n_trades", "drawdown")  # fmt: skip
    assert info == (*(getattr(pm, name) for name in names), 2)
    assert [type(v) for v in info] == [float] * 7 + [int, float, int]
    assert pm.bars_in_position == 4 and pm.position_qty > 0.0


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_copied_env_steps_on_with_its_own_kernels(how: str, make_cfg: ConfigFactory, small_dataset: Dataset) -> None:
    """The compiled entry points do not pickle: a deep copy or an unpickled env takes its process's own and steps on
    exactly as the original."""
    env = make_env(make_cfg(), dataset=small_dataset, seed=1)
    env.reset(seed=0)
    for a in (2, 0, 1, 2):
        env.step(a)
    twin = copy.deepcopy(env) if how == "deepcopy" else pickle.loads(pickle.dumps(env))
    assert twin.portfolio.state is not env.portfolio.state
    for a in (0, 2, 2, 1, 0):
        mine, theirs = env.step(a), twin.step(a)
        assert mine[1:] == theirs[1:]
        assert all(mine[0][k].tobytes() == theirs[0][k].tobytes() for k in mine[0])
    assert twin.portfolio.trades == env.portfolio.trades
