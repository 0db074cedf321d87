"""BasketPortfolio behaviour bar by bar, with the expected numbers worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from bot.portfolio import PortfolioManager
from bot.portfolio.basket import AssetRules, BasketPortfolio
from tests.portfolio.helpers import BAR_MS, free_config

SYMBOLS = ["BTC/USDT", "ETH/USDT"]


def _bar(pm: BasketPortfolio, i: int, o: list[float], weights: list[float], **kw: object) -> None:
    h = kw.pop("high", o)
    lo = kw.pop("low", o)
    c = kw.pop("close", o)
    pm.process_bar(i * BAR_MS, np.array(o), np.array(h), np.array(lo), np.array(c), weights, **kw)  # type: ignore[arg-type]


def test_weights_fill_at_the_open_and_share_one_wallet() -> None:
    pm = BasketPortfolio(free_config(taker_fee=0.001), SYMBOLS)
    _bar(pm, 0, [100.0, 10.0], [0.5, -0.25], close=[110.0, 9.0])
    assert pm.qty.tolist() == pytest.approx([50.0, -250.0])
    fees = 0.001 * (5_000.0 + 2_500.0)
    assert pm.wallet == pytest.approx(10_000.0 - fees)
    # +500 on the long, +250 on the short
    assert pm.equity == pytest.approx(10_000.0 - fees + 500.0 + 250.0)
    assert pm.attribution.tolist() == pytest.approx([500.0 - 5.0, 250.0 - 2.5])
    assert pm.exposure.tolist() == pytest.approx([50 * 110.0 / pm.equity, -250 * 9.0 / pm.equity])


def test_per_asset_rules_round_lots_and_charge_fees_per_asset() -> None:
    cfg = free_config(taker_fee=0.001)
    rules = AssetRules.from_config(cfg, SYMBOLS, {"BTC/USDT": {"lot_step": 1.0}, "ETH/USDT": {"taker_fee": 0.0}})
    pm = BasketPortfolio(cfg, SYMBOLS, rules)
    _bar(pm, 0, [300.0, 10.0], [0.5, 0.5])
    assert pm.qty.tolist() == pytest.approx([16.0, 500.0])  # 5000 / 300 = 16.7 -> 16 lots of 1
    assert pm.fees.tolist() == pytest.approx([16 * 300.0 * 0.001, 0.0])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DOGE/USDT": {"lot_step": 1.0}}, "'DOGE/USDT': not one of"),
        ({"BTC/USDT": {"tick": 1.0}}, "unknown key 'tick'"),
        ({"ETH/USDT": {"lot_step": 0.0}}, "'ETH/USDT': lot_step=0.0 must be > 0"),
    ],
)
def test_bad_asset_rules_name_the_symbol_and_key(overrides: dict[str, dict[str, float]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AssetRules.from_config(free_config(), SYMBOLS, overrides)


def test_a_symbol_listed_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="'ETH/USDT' is listed twice"):
        BasketPortfolio(free_config(), ["ETH/USDT", "BTC/USDT", "ETH/USDT"])


def test_a_nan_weight_is_an_error_naming_the_asset_and_value() -> None:
    pm = BasketPortfolio(free_config(), SYMBOLS)
    with pytest.raises(ValueError, match=r"target weight nan for ETH/USDT is NaN"):
        _bar(pm, 0, [100.0, 10.0], [0.5, float("nan")])


def test_liquidation_is_account_wide() -> None:
    # 2.5x long BTC and 2.5x long ETH at leverage 5: ETH alone falling 40 % inside the bar sinks the account
    pm = BasketPortfolio(free_config(leverage=5.0, maintenance_margin=0.01), SYMBOLS)
    _bar(pm, 0, [100.0, 10.0], [0.5, 0.5])
    assert pm.qty.tolist() == pytest.approx([250.0, 2_500.0])
    _bar(pm, 1, [100.0, 10.0], [0.5, 0.5], high=[100.0, 10.0], low=[100.0, 6.0], close=[100.0, 7.0])
    assert pm.is_liquidated
    assert pm.qty.tolist() == [0.0, 0.0]
    assert [t[-1].exit_reason for t in pm.trades] == ["liquidation", "liquidation"]
    # closed where equity meets 1 % of the notional: 10_000 + 2_500 (p - 10) = 0.01 (25_000 + 2_500 p)
    p = (25_000.0 - 10_000.0 + 250.0) / (2_500.0 - 25.0)
    assert pm.trades[1][-1].exit_price == pytest.approx(p)
    assert pm.equity == pytest.approx(0.01 * (25_000.0 + 2_500.0 * p))
    assert pm.attribution.sum() == pytest.approx(pm.equity - pm.initial_cash)


def test_an_asset_without_a_bar_keeps_its_position_and_last_mark() -> None:
    pm = BasketPortfolio(free_config(), SYMBOLS)
    _bar(pm, 0, [100.0, 10.0], [0.5, 0.5], close=[100.0, 12.0])
    nan = float("nan")
    # ETH has no bar: its low would be far below the stop, but it is neither traded nor stopped
    _bar(pm, 1, [110.0, nan], [0.0, 0.0], high=[110.0, nan], low=[110.0, nan], close=[110.0, nan])
    assert pm.qty.tolist() == pytest.approx([0.0, 500.0])
    assert pm.mark[1] == 12.0
    assert pm.equity == pytest.approx(10_000.0 + 500.0 + 1_000.0)
    _bar(pm, 2, [110.0, 11.0], [0.0, 0.0])
    assert pm.qty.tolist() == [0.0, 0.0]  # the order waited for the asset's next bar


def test_untradable_asset_is_not_traded_but_still_stopped() -> None:
    pm = BasketPortfolio(free_config(), SYMBOLS)
    _bar(pm, 0, [100.0, 10.0], [0.5, 0.5], stop_loss_pct=0.05)
    blocked = np.array([True, False])
    _bar(pm, 1, [100.0, 10.0], [0.0, 0.0], tradable=blocked)
    assert pm.qty.tolist() == pytest.approx([0.0, 500.0])
    _bar(pm, 2, [100.0, 10.0], [0.0, 0.0], low=[100.0, 9.0], tradable=blocked)
    assert pm.qty.tolist() == [0.0, 0.0]
    assert pm.trades[1][-1].exit_reason == "stop_loss"
    assert pm.trades[1][-1].exit_price == pytest.approx(9.5)


def test_equity_drift_never_trades_but_a_rebalance_does() -> None:
    pm = BasketPortfolio(free_config(), SYMBOLS)
    _bar(pm, 0, [100.0, 10.0], [0.5, 0.5])
    _bar(pm, 1, [200.0, 10.0], [0.5, 0.5])
    assert pm.qty.tolist() == pytest.approx([50.0, 500.0])
    _bar(pm, 2, [200.0, 10.0], [0.5, 0.5], rebalance=True)
    # equity 15_000: 7_500 in each
    assert pm.qty.tolist() == pytest.approx([37.5, 750.0])


def test_a_repost_bar_drops_an_order_whose_target_no_longer_needs_a_trade() -> None:
    # found by hypothesis against the single-asset manager: a limit buy posted at a decision rests unfilled; on the next
    # (re-post) bar the caller's target is flat, so the order is dropped, and a later non-decision bar does not post it
    cfg = free_config(market="spot", order_type="limit", limit_offset=0.03125, limit_unfilled="repost",
                      max_holding_bars=1, lot_step=1e-8, min_notional=0.0, maintenance_margin=0.0)
    basket, single = BasketPortfolio(cfg, ["A/USDT"]), PortfolioManager(cfg)
    bars = [  # open, high, low, close; the posted prices (3.125 % below each close) are not reached until the last
        (10.23188236, 11.71547367, 10.01883605, 11.02022688),
        (11.02022688, 12.83230444, 10.92683737, 12.34163881),
        (12.34163881, 15.45238673, 11.4379473, 14.67976199),
    ]
    steps = zip(bars, [0.5, 0.0, 0.5], [True, False, False], strict=True)
    for t, ((o, h, lo, c), target, decision) in enumerate(steps):
        single.process_bar(t * BAR_MS, o, h, lo, c, target, 0.0, 0.0, 1.0, decision)
        basket.process_bar(t * BAR_MS, np.array([o]), np.array([h]), np.array([lo]), np.array([c]), [target], None,
                           new_decision=decision)
        assert basket.qty[0] == single.position_qty == 0.0
    assert basket.trades[0] == [] and single.trades == [] and not basket.pending[0]
