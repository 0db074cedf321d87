"""The compiled basket kernel: its dot products, lazily built trade logs, refused weights, fresh env observations."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from bot.data.universe import build_universe
from bot.env.portfolio_env import PortfolioEnv
from bot.portfolio.basket import BasketPortfolio
from bot.portfolio.basket_kernel import dot
from tests.env.test_portfolio_env import _cfg, _frames, _write
from tests.portfolio.helpers import free_config
from tests.portfolio.test_basket_trajectory import run_scenario


@pytest.mark.parametrize("n", [1, 2, 4, 5, 15, 16, 40])
def test_dot_is_a_chain_of_fused_multiply_adds(n: int) -> None:
    """``x @ y`` as ``fma(x[i], y[i], acc)`` from 0.0 in index order, each step rounded once (exact reference by
    rational arithmetic): the order of this machine's OpenBLAS ``ddot`` below 16 elements, the same on every CPU."""
    rng = np.random.default_rng(n)
    for _ in range(200):
        x = rng.normal(size=n) * 10.0 ** rng.integers(-4, 6, size=n)
        y = rng.normal(size=n) * 10.0 ** rng.integers(-4, 6, size=n)
        acc = 0.0
        for a, b in zip(x.tolist(), y.tolist(), strict=True):
            acc = float(Fraction(a) * Fraction(b) + Fraction(acc))
        assert dot(x, y) == acc


def test_trades_read_every_bar_equal_trades_read_once() -> None:
    """The trade log is built from the kernel's records when read: reading it after every bar (as the DBE does) or
    once at the end gives the same trades, liquidation deficits included."""
    once = run_scenario("perp_liquidation")
    reads: list[int] = []
    original = BasketPortfolio.process_bar

    def process_and_read(self: BasketPortfolio, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        reads.append(sum(len(log) for log in self.trades))

    BasketPortfolio.process_bar = process_and_read  # type: ignore[method-assign]
    try:
        every = run_scenario("perp_liquidation")
    finally:
        BasketPortfolio.process_bar = original  # type: ignore[method-assign]
    assert reads and reads[-1] == len(once["perp_liquidation/trades"]) > 0
    for key, value in once.items():
        assert np.array_equal(value, every[key]), key


@pytest.mark.parametrize("scenario", ["perp_liquidation", "perp_stops"])
def test_last_exit_pnls_are_the_closed_trades_of_the_bar(scenario: str) -> None:
    """``last_exit_pnls`` (what the DBE reads every bar) names the assets of ``last_exits`` with the ``pnl`` of the
    trades they closed in that bar, liquidation deficits included, without building the trades."""
    checked: list[int] = []
    original = BasketPortfolio.process_bar

    def process_and_compare(self: BasketPortfolio, *args: object, **kwargs: object) -> None:
        before = [len(log) for log in self.trades]
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        pnls = self.last_exit_pnls
        new = [t.pnl for log, n in zip(self.trades, before, strict=True) for t in log[n:]]
        assert [i for i, _ in pnls] == [i for i, _ in self.last_exits]
        assert sorted(p for _, p in pnls) == sorted(new)
        checked.append(len(pnls))

    BasketPortfolio.process_bar = process_and_compare  # type: ignore[method-assign]
    try:
        run_scenario(scenario)
    finally:
        BasketPortfolio.process_bar = original  # type: ignore[method-assign]
    assert sum(checked) > 0 and 0 in checked


def test_refused_weights_leave_the_account_untouched() -> None:
    pm = BasketPortfolio(free_config(leverage=2.0, max_leverage=3.0), ["A/USDT", "B/USDT"])
    prices = np.array([100.0, 10.0])
    pm.process_bar(0, prices, prices, prices, prices, [0.5, -0.5])
    state = {k: np.array(getattr(pm, k)) for k in ("qty", "entry", "mark", "fees", "exposure", "last_exposure")}
    scalars = (pm.wallet, pm.equity, pm.n_trades, pm.trades)
    with pytest.raises(ValueError, match=r"gross exposure 4 above portfolio.max_leverage=3.0"):
        pm.process_bar(300_000, prices * 2.0, prices * 2.0, prices * 2.0, prices * 2.0, [1.0, 1.0])
    for key, value in state.items():
        assert np.array_equal(getattr(pm, key), value), key
    assert (pm.wallet, pm.equity, pm.n_trades, pm.trades) == scalars
    with pytest.raises(ValueError, match="must hold one weight per asset"):
        pm.process_bar(300_000, prices, prices, prices, prices, [0.5])
    partial = np.array([np.nan, 10.0])
    with pytest.raises(ValueError, match=r"of A/USDT has close 100.0 but open/high/low \[nan, 100.0, 100.0\]"):
        pm.process_bar(300_000, partial, prices, prices, prices, [0.5, -0.5])
    for key, value in state.items():
        assert np.array_equal(getattr(pm, key), value), key
    assert (pm.wallet, pm.equity, pm.n_trades, pm.trades) == scalars


def test_env_observations_are_new_arrays_every_step(tmp_path: Path) -> None:
    """SB3's vec envs keep the terminal observation: a step never writes into an array it returned before."""
    cfg = _cfg(_write(_frames(), tmp_path), "env.action_type=continuous")
    env = PortfolioEnv(cfg, build_universe(cfg), split="all", seed=0)
    obs, _ = env.reset(seed=0)
    kept = {k: (v, v.copy()) for k, v in obs.items()}
    for _ in range(5):
        new, *_ = env.step(env.action_space.sample())
        for key, (array, copy) in kept.items():
            assert new[key] is not array
            assert np.array_equal(array, copy), key
        kept = {k: (v, v.copy()) for k, v in new.items()}
