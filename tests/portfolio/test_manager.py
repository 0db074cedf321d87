"""PortfolioManager behaviour bar by bar, with every expected number worked out by hand."""

from __future__ import annotations

import logging

import pytest

from bot.portfolio import FUNDING_INTERVAL_MS, PortfolioManager
from tests.portfolio.helpers import BAR_MS, free_config, step


def test_decision_fills_at_this_bars_open_not_the_previous_close() -> None:
    pm = PortfolioManager(free_config())
    step(pm, 0, 90.0, close=95.0)  # flat bar: the "previous close" is 95
    step(pm, 1, 100.0, high=110.0, low=95.0, close=105.0, target=1.0)
    assert pm.entry_price == 100.0
    assert pm.position_qty == pytest.approx(100.0)
    assert pm.equity == pytest.approx(10_500.0)
    assert pm.unrealized_pnl == pytest.approx(500.0)
    assert pm.exposure == pytest.approx(100.0 * 105.0 / 10_500.0)


def test_fee_and_slippage_by_hand() -> None:
    pm = PortfolioManager(free_config(taker_fee=0.001, slippage_bps=10.0, slippage_range_frac=0.1, lot_step=0.001))
    step(pm, 0, 100.0, high=102.0, low=98.0, close=100.0, target=1.0)
    # slippage 0.001 * 100 + 0.1 * (102 - 98) = 0.5 -> buy at 100.5; 10_000 / 100.5 = 99.5024.. -> 99.502 lots
    assert pm.entry_price == pytest.approx(100.5)
    assert pm.position_qty == pytest.approx(99.502)
    fee = 99.502 * 100.5 * 0.001
    assert pm.fees_paid == pytest.approx(fee)
    assert pm.slippage_paid == pytest.approx(99.502 * 0.5)
    assert pm.cash == pytest.approx(10_000.0 - fee)
    assert pm.equity == pytest.approx(10_000.0 - fee + 99.502 * (100.0 - 100.5))
    # sell everything next bar at open 100 with range 2: slippage 0.1 + 0.2 = 0.3 -> sell at 99.7
    step(pm, 1, 100.0, high=101.0, low=99.0, close=100.0, target=0.0)
    fee2 = 99.502 * 99.7 * 0.001
    assert pm.position_qty == 0.0
    assert pm.fees_paid == pytest.approx(fee + fee2)
    assert pm.slippage_paid == pytest.approx(99.502 * 0.8)
    assert pm.realized_pnl == pytest.approx(99.502 * (99.7 - 100.5))
    assert pm.trades[0].pnl == pytest.approx(99.502 * (99.7 - 100.5) - fee - fee2)
    assert pm.trades[0].fees == pytest.approx(fee + fee2)


def test_quantity_rounds_down_to_lot_step() -> None:
    pm = PortfolioManager(free_config(lot_step=0.1))
    step(pm, 0, 300.0, target=1.0)
    assert pm.position_qty == pytest.approx(33.3)  # 10_000 / 300 = 33.33 -> 33.3


def test_order_below_min_notional_is_skipped_but_a_full_close_is_not() -> None:
    pm = PortfolioManager(free_config(min_notional=5.0))
    step(pm, 0, 100.0, target=0.0004)  # 4 quote of notional
    assert pm.position_qty == 0.0
    assert pm.fees_paid == 0.0
    step(pm, 1, 100.0, target=1.0)
    step(pm, 2, 100.0, target=0.9996)  # reduce by 4 quote: skipped
    assert pm.position_qty == pytest.approx(100.0)
    pm2 = PortfolioManager(free_config(min_notional=5.0, lot_step=0.01))
    step(pm2, 0, 100.0, target=0.001)  # 10 quote: opens 0.1
    step(pm2, 1, 40.0, target=0.0)  # closing 4 quote of notional is still allowed
    assert pm2.position_qty == 0.0
    assert pm2.n_trades == 1


def test_unchanged_request_does_not_trade_on_equity_drift() -> None:
    pm = PortfolioManager(free_config(taker_fee=0.001))
    step(pm, 0, 100.0, target=1.0)
    fees = pm.fees_paid
    for i, price in enumerate([105.0, 110.0, 120.0], start=1):
        step(pm, i, price, target=1.0)
    assert pm.fees_paid == fees
    assert pm.position_qty == pytest.approx(10_000.0 / 100.0 / 1.001, rel=1e-3)


def test_partial_reduction_realises_pnl_without_closing_the_trade() -> None:
    pm = PortfolioManager(free_config())
    step(pm, 0, 100.0, target=1.0)
    step(pm, 1, 110.0, target=0.5)
    # equity at open 11_000 -> target 5_500 / 110 = 50 units: 50 sold at +10
    assert pm.position_qty == pytest.approx(50.0)
    assert pm.realized_pnl == pytest.approx(500.0)
    assert pm.n_trades == 0
    assert pm.entry_price == 100.0
    assert pm.open_trade_pnl == pytest.approx(1_000.0)


@pytest.mark.parametrize(
    ("target", "bar", "reason", "exit_price"),
    [
        (1.0, (100.0, 101.0, 97.0, 99.0), "stop_loss", 98.0),
        (1.0, (100.0, 105.0, 99.0, 103.0), "take_profit", 104.0),
        (1.0, (100.0, 105.0, 97.0, 103.0), "stop_loss", 98.0),  # both could hit: stop first
        (1.0, (95.0, 96.0, 94.0, 95.0), "stop_loss", 95.0),  # gapped through the stop: fill at the open
        (1.0, (106.0, 107.0, 105.0, 106.0), "take_profit", 106.0),
        (-1.0, (100.0, 103.0, 99.0, 101.0), "stop_loss", 102.0),
        (-1.0, (100.0, 101.0, 95.0, 97.0), "take_profit", 96.0),
        (-1.0, (100.0, 103.0, 95.0, 97.0), "stop_loss", 102.0),
        (-1.0, (105.0, 106.0, 104.0, 105.0), "stop_loss", 105.0),
    ],
)
def test_stop_loss_and_take_profit_inside_the_next_bar(
    target: float, bar: tuple[float, float, float, float], reason: str, exit_price: float
) -> None:
    pm = PortfolioManager(free_config())
    step(pm, 0, 100.0, target=target, sl=0.02, tp=0.04)
    assert pm.stop_loss_price == pytest.approx(100.0 * (1 - 0.02 * target))
    assert pm.take_profit_price == pytest.approx(100.0 * (1 + 0.04 * target))
    open_, high, low, close = bar
    step(pm, 1, open_, high, low, close, target=target, sl=0.02, tp=0.04)
    assert pm.position_qty == 0.0
    assert pm.last_exit_reason == reason
    trade = pm.trades[-1]
    assert trade.exit_reason == reason
    assert trade.exit_price == pytest.approx(exit_price)
    assert trade.pnl == pytest.approx(100.0 * target * (exit_price - 100.0))
    assert pm.last_trade_pnl == pytest.approx(trade.pnl)
    assert trade.bars_held == 2
    assert pm.equity == pytest.approx(10_000.0 + trade.pnl)


def test_stop_exit_pays_slippage_against_the_trader() -> None:
    pm = PortfolioManager(free_config(slippage_range_frac=0.1))
    step(pm, 0, 100.0, target=1.0, sl=0.02)
    step(pm, 1, 100.0, high=100.0, low=96.0, close=97.0, target=1.0, sl=0.02)
    assert pm.trades[0].exit_price == pytest.approx(98.0 - 0.4)


def test_stop_set_on_the_entry_bar_can_trigger_in_that_bar() -> None:
    pm = PortfolioManager(free_config())
    step(pm, 0, 100.0, high=100.5, low=97.0, close=99.0, target=1.0, sl=0.02)
    assert pm.last_exit_reason == "stop_loss"
    assert pm.trades[0].bars_held == 1


def test_increase_moves_the_stop_to_the_new_average_entry() -> None:
    pm = PortfolioManager(free_config())
    step(pm, 0, 100.0, target=0.5, sl=0.1)
    step(pm, 1, 120.0, target=1.0, sl=0.1)
    # equity 11_000 -> 91.67 units; 50 at 100 + 41.67 at 120 -> average 109.09
    assert pm.entry_price == pytest.approx((50 * 100 + (11_000 / 120 - 50) * 120) / (11_000 / 120))
    assert pm.stop_loss_price == pytest.approx(pm.entry_price * 0.9)


def test_non_positive_pct_disables_stop_and_take_profit() -> None:
    pm = PortfolioManager(free_config())
    step(pm, 0, 100.0, target=1.0, sl=0.0, tp=-1.0)
    step(pm, 1, 100.0, high=300.0, low=40.0, close=100.0, target=1.0)
    assert pm.position_qty == pytest.approx(100.0)
    assert pm.n_trades == 0


def test_leveraged_long_is_liquidated_on_a_crash_bar() -> None:
    pm = PortfolioManager(free_config(leverage=5.0, maintenance_margin=0.005))
    step(pm, 0, 100.0, target=1.0)
    assert pm.position_qty == pytest.approx(500.0)
    liq = (500.0 * 100.0 - 10_000.0) / (500.0 * 0.995)
    assert pm.liquidation_price == pytest.approx(liq)
    step(pm, 1, 99.0, high=99.5, low=70.0, close=75.0, target=1.0)
    assert pm.is_liquidated
    assert pm.last_exit_reason == "liquidation"
    assert pm.position_qty == 0.0
    assert pm.trades[0].exit_price == pytest.approx(liq)
    assert pm.equity == pytest.approx(0.005 * 500.0 * liq)  # what is left is the maintenance margin
    assert pm.equity == pytest.approx(10_000.0 + pm.trades[0].pnl)


def test_liquidation_gap_floors_equity_at_zero_and_skips_the_order() -> None:
    pm = PortfolioManager(free_config(leverage=5.0))
    step(pm, 0, 100.0, target=1.0)
    step(pm, 1, 60.0, high=61.0, low=59.0, close=60.0, target=1.0)
    assert pm.is_liquidated
    assert pm.trades[0].exit_price == 60.0
    assert pm.equity == 0.0
    assert pm.is_bankrupt
    assert pm.position_qty == 0.0
    assert pm.realized_pnl - pm.fees_paid - pm.funding_paid == pytest.approx(-10_000.0)
    step(pm, 2, 60.0, target=1.0)
    assert pm.position_qty == 0.0  # no equity, no order


def test_stop_above_the_liquidation_price_fires_first() -> None:
    pm = PortfolioManager(free_config(leverage=5.0))
    step(pm, 0, 100.0, target=1.0, sl=0.05)
    step(pm, 1, 99.0, high=99.5, low=70.0, close=75.0, target=1.0, sl=0.05)
    assert pm.last_exit_reason == "stop_loss"
    assert not pm.is_liquidated
    assert pm.equity == pytest.approx(10_000.0 - 500.0 * 5.0)


def test_leveraged_short_is_liquidated_on_a_spike() -> None:
    pm = PortfolioManager(free_config(leverage=5.0))
    step(pm, 0, 100.0, target=-1.0)
    liq = pm.liquidation_price
    assert liq == pytest.approx((-500.0 * 100.0 - 10_000.0) / (-500.0 * 1.005))
    step(pm, 1, 101.0, high=130.0, low=100.0, close=125.0, target=-1.0)
    assert pm.last_exit_reason == "liquidation"
    assert pm.trades[0].exit_price == pytest.approx(liq)


def test_spot_cannot_be_liquidated() -> None:
    pm = PortfolioManager(free_config(market="spot"))
    step(pm, 0, 100.0, target=1.0)
    step(pm, 1, 100.0, high=100.0, low=1.0, close=2.0, target=1.0)
    assert not pm.is_liquidated
    assert pm.position_qty == pytest.approx(100.0)
    assert pm.equity == pytest.approx(200.0)


@pytest.mark.parametrize(("target", "sign"), [(1.0, 1.0), (-1.0, -1.0)])
def test_funding_longs_pay_shorts_receive(target: float, sign: float) -> None:
    pm = PortfolioManager(free_config(funding_rate_8h=0.001))
    start = 3 * FUNDING_INTERVAL_MS - 2 * BAR_MS
    step(pm, 0, 100.0, target=target, time_ms=start)
    step(pm, 1, 100.0, target=target, time_ms=start + BAR_MS)
    assert pm.funding_paid == 0.0
    step(pm, 2, 110.0, target=target, time_ms=start + 2 * BAR_MS)  # opens at 3 x 8h: funding time
    # notional at the open 100 units x 110
    assert pm.funding_paid == pytest.approx(sign * 100.0 * 110.0 * 0.001)
    assert pm.equity == pytest.approx(10_000.0 + target * 100.0 * 10.0 - pm.funding_paid)
    step(pm, 3, 110.0, target=target, time_ms=start + 3 * BAR_MS)
    assert pm.funding_paid == pytest.approx(sign * 11.0)  # once per 8h only


def test_funding_is_charged_once_per_period_crossed_by_a_gap() -> None:
    pm = PortfolioManager(free_config(funding_rate_8h=0.001))
    step(pm, 0, 100.0, target=1.0, time_ms=FUNDING_INTERVAL_MS - BAR_MS)
    step(pm, 1, 100.0, target=1.0, time_ms=3 * FUNDING_INTERVAL_MS + BAR_MS)
    assert pm.funding_paid == pytest.approx(3 * 100.0 * 100.0 * 0.001)


def test_spot_pays_no_funding() -> None:
    pm = PortfolioManager(free_config(market="spot", funding_rate_8h=0.001))
    step(pm, 0, 100.0, target=1.0, time_ms=FUNDING_INTERVAL_MS - BAR_MS)
    step(pm, 1, 100.0, target=1.0, time_ms=FUNDING_INTERVAL_MS)
    assert pm.funding_paid == 0.0


def test_max_holding_closes_at_the_close_then_reenters_next_bar() -> None:
    pm = PortfolioManager(free_config(max_holding_bars=3))
    step(pm, 0, 100.0, target=1.0)
    step(pm, 1, 101.0, target=1.0)
    assert pm.bars_in_position == 2
    step(pm, 2, 102.0, close=103.0, target=1.0)
    assert pm.position_qty == 0.0
    assert pm.last_exit_reason == "max_holding"
    assert pm.trades[0].exit_price == 103.0
    assert pm.trades[0].bars_held == 3
    assert pm.bars_in_position == 0
    step(pm, 3, 104.0, target=1.0)
    assert pm.position_qty > 0.0
    assert pm.bars_in_position == 1


def test_reversal_closes_then_opens_at_the_same_fill() -> None:
    pm = PortfolioManager(free_config(taker_fee=0.001))
    step(pm, 0, 100.0, target=1.0)
    qty = pm.position_qty
    step(pm, 1, 110.0, target=-1.0)
    assert pm.n_trades == 1
    assert pm.trades[0].side == "long"
    assert pm.trades[0].exit_reason == "signal"
    assert pm.trades[0].exit_price == 110.0
    assert pm.position_qty < 0.0
    assert pm.entry_price == 110.0
    equity_at_open = 10_000.0 - qty * 100.0 * 0.001 + qty * 10.0
    assert pm.position_qty == pytest.approx(-equity_at_open / 110.0, rel=1e-9)
    assert pm.fees_paid == pytest.approx((qty * 100.0 + qty * 110.0 + abs(pm.position_qty) * 110.0) * 0.001)


def test_spot_clamps_short_targets_to_flat() -> None:
    pm = PortfolioManager(free_config(market="spot"))
    step(pm, 0, 100.0, target=-1.0)
    assert pm.position_qty == 0.0
    step(pm, 1, 100.0, target=1.0)
    step(pm, 2, 100.0, target=-1.0)
    assert pm.position_qty == 0.0
    assert pm.n_trades == 1


def test_spot_buy_keeps_cash_non_negative_after_fees() -> None:
    pm = PortfolioManager(free_config(market="spot", taker_fee=0.001, slippage_bps=5.0, lot_step=1e-5))
    step(pm, 0, 100.0, high=101.0, low=99.0, target=1.0)
    assert pm.cash >= 0.0
    assert pm.cash < 1.0


def test_exposure_beyond_max_leverage_is_an_error() -> None:
    pm = PortfolioManager(free_config(leverage=3.0, max_leverage=3.0))
    with pytest.raises(ValueError, match=r"max_leverage=3\.0"):
        step(pm, 0, 100.0, target=1.5)
    with pytest.raises(ValueError, match="size_fraction >= 0"):
        step(pm, 0, 100.0, target=1.0, size=-0.5)
    with pytest.raises(ValueError, match="target_exposure=nan"):
        step(pm, 0, 100.0, target=float("nan"))


def test_size_fraction_scales_the_position() -> None:
    pm = PortfolioManager(free_config(leverage=2.0))
    step(pm, 0, 100.0, target=1.0, size=0.25)
    assert pm.position_qty == pytest.approx(50.0)


def test_drawdown_tracks_the_peak_at_closes() -> None:
    pm = PortfolioManager(free_config())
    step(pm, 0, 100.0, close=120.0, target=1.0)
    assert pm.peak_equity == pytest.approx(12_000.0)
    step(pm, 1, 120.0, close=90.0, target=1.0)
    assert pm.drawdown == pytest.approx(1.0 - 9_000.0 / 12_000.0)


def test_wins_losses_and_last_trade_pnl() -> None:
    pm = PortfolioManager(free_config())
    step(pm, 0, 100.0, target=1.0)
    step(pm, 1, 110.0, target=0.0)
    assert pm.last_trade_pnl == pytest.approx(1_000.0)
    step(pm, 2, 110.0, target=0.0)
    assert pm.last_trade_pnl is None
    assert pm.last_exit_reason == ""
    step(pm, 3, 110.0, target=1.0)
    step(pm, 4, 100.0, target=0.0)
    assert (pm.wins, pm.losses, pm.n_trades) == (1, 1, 2)


def test_reset_restores_the_initial_account() -> None:
    pm = PortfolioManager(free_config(taker_fee=0.001))
    step(pm, 0, 100.0, target=1.0)
    step(pm, 1, 90.0, target=0.0)
    pm.reset()
    assert pm.equity == 10_000.0
    assert pm.trades == []
    assert (pm.fees_paid, pm.realized_pnl, pm.position_qty, pm.n_trades, pm.drawdown) == (0.0, 0.0, 0.0, 0, 0.0)


def test_trade_events_are_logged_with_their_keywords(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.portfolio")
    pm = PortfolioManager(free_config(leverage=5.0))
    step(pm, 0, 100.0, target=1.0, sl=0.02, tp=0.04)
    step(pm, 1, 100.0, high=101.0, low=97.0, close=99.0, target=1.0, sl=0.02, tp=0.04)
    step(pm, 2, 100.0, target=1.0, sl=0.02, tp=0.04)
    step(pm, 3, 100.0, high=105.0, low=99.0, close=99.0, target=1.0, sl=0.02, tp=0.04)
    step(pm, 4, 100.0, target=1.0)
    step(pm, 5, 100.0, high=100.0, low=50.0, close=60.0, target=1.0)
    templates = [r.msg for r in caplog.records if r.levelno == logging.INFO]
    for phrase in ("Trade opened", "Trade closed", "Stop loss hit", "Take profit hit", "Liquidation"):
        assert any(str(t).startswith(phrase) for t in templates), phrase
    assert all(r.args for r in caplog.records)  # %-style arguments, never pre-formatted text


def test_state_is_plain_python_numbers() -> None:
    pm = PortfolioManager(free_config(taker_fee=0.001, funding_rate_8h=0.0001))
    step(pm, 0, 100.0, target=1.0, sl=0.02, tp=0.04)
    step(pm, 1, 101.0, target=1.0, sl=0.02, tp=0.04)
    for name in (
        "equity",
        "cash",
        "position_qty",
        "entry_price",
        "unrealized_pnl",
        "realized_pnl",
        "fees_paid",
        "slippage_paid",
        "funding_paid",
        "exposure",
        "drawdown",
        "peak_equity",
        "stop_loss_price",
    ):
        assert type(getattr(pm, name)) is float, name
    for name in ("n_trades", "bars_in_position", "wins", "losses"):
        assert type(getattr(pm, name)) is int, name


def test_cash_is_the_margin_balance_on_perpetuals_and_the_quote_balance_on_spot() -> None:
    perp = PortfolioManager(free_config(taker_fee=0.001))
    spot = PortfolioManager(free_config(market="spot", taker_fee=0.001))
    for pm in (perp, spot):
        step(pm, 0, 100.0, close=110.0, target=0.5)
    fee = 50.0 * 100.0 * 0.001
    assert perp.cash == pytest.approx(10_000.0 - fee)
    assert spot.cash == pytest.approx(10_000.0 - fee - 50.0 * 100.0)
    assert perp.equity == pytest.approx(spot.equity)
    assert spot.equity == pytest.approx(spot.cash + 50.0 * 110.0)


def test_trade_records_are_frozen() -> None:
    pm = PortfolioManager(free_config())
    step(pm, 0, 100.0, target=1.0)
    step(pm, 3, 101.0, target=0.0)
    trade = pm.trades[0]
    assert (trade.entry_time_ms, trade.exit_time_ms, trade.side, trade.bars_held) == (0, 3 * BAR_MS, "long", 1)
    with pytest.raises(AttributeError):
        trade.pnl = 0.0  # type: ignore[misc]
