"""``portfolio.assets``: per-symbol lot step, minimum notional and fees, validated, in portfolio and universe mode
(training, validation and the fees-off evaluation)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.config import BotConfig, load_config
from bot.data.universe import build_universe
from bot.env import PortfolioEnv, UniverseEnv, symbol_config
from bot.errors import ConfigError
from bot.evaluation.backtest import evaluation_config
from bot.training.universe import validation_envs
from tests.env.test_portfolio_env import _cfg, _frames, _write

AAA = "portfolio.assets={AAA/USDT: {taker_fee: 0.002, lot_step: 0.01, min_notional: 50.0}}"
FREE = ("portfolio.slippage_bps=0", "portfolio.slippage_range_frac=0", "portfolio.funding_rate_8h=0")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _write(_frames(), tmp_path_factory.mktemp("asset_costs"))


def test_portfolio_mode_trades_each_symbol_at_its_own_costs(files: tuple[Path, Path]) -> None:
    cfg = _cfg(files, AAA, "env.action_type=continuous", *FREE)
    env = PortfolioEnv(cfg, build_universe(cfg), split="all")
    rules = env.portfolio.rules
    assert rules.taker_fee.tolist() == [0.002, 0.00055]
    assert rules.lot_step.tolist() == [0.01, 0.00001]
    assert rules.min_notional.tolist() == [50.0, 5.0]
    assert rules.maker_fee.tolist() == [0.0002, 0.0002]  # not set for AAA: the portfolio's
    env.reset(options={"start_index": env.decision_span[0]})
    env.step(np.array([0.4, 0.4], np.float32))
    pm = env.portfolio
    assert pm.fees[0] == pytest.approx(0.002 * pm.traded_notional[0])
    assert pm.fees[1] == pytest.approx(0.00055 * pm.traded_notional[1])
    steps = pm.qty[0] / 0.01
    assert steps == pytest.approx(round(steps))  # AAA's quantity on its own lot step


def test_universe_mode_trades_the_drawn_symbol_at_its_costs(files: tuple[Path, Path]) -> None:
    cfg = _cfg(files, AAA, "env.mode=universe", *FREE)
    env = UniverseEnv(cfg, build_universe(cfg), split="all", seed=0)
    for symbol, fee in (("AAA/USDT", 0.002), ("BBB/USDT", 0.00055)):
        env.reset(options={"symbol": symbol})
        assert env.current.cfg.portfolio.taker_fee == fee
        *_, info = env.step(2)  # long (levels -1, 0, 1)
        assert info["fees_paid"] == pytest.approx(fee * env.current.portfolio.traded_notional)
        assert info["fees_paid"] > 0.0
    assert symbol_config(cfg, "BBB/USDT") is cfg  # no entry: the config itself
    # validation scores each symbol at its own costs, as training trades it
    fees = [e.unwrapped.cfg.portfolio.taker_fee for e in validation_envs(cfg, build_universe(cfg), "all")]
    assert fees == [0.002, 0.00055]


def test_fees_off_evaluation_zeroes_the_per_symbol_fees_too(files: tuple[Path, Path]) -> None:
    cfg = _cfg(files, "portfolio.assets={AAA/USDT: {taker_fee: 0.002, maker_fee: 0.001}, BBB/USDT: {lot_step: 0.1}}")
    zero = evaluation_config(cfg, zero_costs=True).portfolio
    assert zero.for_symbol("AAA/USDT").taker_fee == 0.0 and zero.for_symbol("AAA/USDT").maker_fee == 0.0
    assert zero.for_symbol("BBB/USDT").lot_step == 0.1 and zero.for_symbol("BBB/USDT").taker_fee == 0.0
    assert cfg.portfolio.assets["AAA/USDT"].taker_fee == 0.002  # the original is untouched


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ("{AAA/USDT: {taker_fees: 0.001}}", r"portfolio\.assets\.AAA/USDT\.taker_fees: unknown key"),
        ("{AAA/USDT: {taker_fee: -0.001}}", r"portfolio\.assets\.AAA/USDT\.taker_fee=-0\.001: .*greater than or equal"),
        ("{BBB/USDT: {lot_step: 0}}", r"portfolio\.assets\.BBB/USDT\.lot_step=0: .*greater than 0"),
        ("{CCC/USDT: {taker_fee: 0.001}}", r"portfolio\.assets\.CCC/USDT: 'CCC/USDT' is not a symbol of the data;"),
    ],
)
def test_bad_entries_name_the_symbol_and_key(files: tuple[Path, Path], entry: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _cfg(files, f"portfolio.assets={entry}")


def test_symbols_known_only_once_the_data_is_built_are_checked_by_the_envs() -> None:
    basket = [
        "data.synthetic.assets=2",
        "data.synthetic.n_bars=600",
        "data.timeframes=[5m]",
        "features.indicators=[log_return]",
        "env.window=4",
        "env.episode_length=16",
        "portfolio.assets={SYN9/USDT: {taker_fee: 0.001}}",
    ]
    for mode, env_class in (("portfolio", PortfolioEnv), ("universe", UniverseEnv)):
        cfg: BotConfig = load_config(None, [*basket, f"env.mode={mode}"])
        with pytest.raises(ConfigError, match=r"portfolio\.assets\.SYN9/USDT: .* the symbols are SYN1/USDT, SYN2/USDT"):
            env_class(cfg, build_universe(cfg))


def test_one_symbol_sets_its_costs_in_the_portfolio_section_itself() -> None:
    with pytest.raises(
        ConfigError, match=r"portfolio\.assets sets per-symbol costs for env\.mode universe or portfolio"
    ):
        load_config(None, ["portfolio.assets={SYN/USDT: {taker_fee: 0.001}}"])
