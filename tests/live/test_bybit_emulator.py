"""The loopback Bybit V5 emulator answers the real ccxt client as Bybit does (tests/support/bybit_emulator.py)."""

from __future__ import annotations

import ccxt
import pandas as pd
import pytest

from tests.support import bybit_faults as faults
from tests.support.bybit_emulator import BybitEmulator

PERP = "BTC/USDT:USDT"


@pytest.fixture
def client(emulator: BybitEmulator) -> ccxt.bybit:
    ex = ccxt.bybit(emulator.ccxt_config(timeout_ms=1_000))
    ex.set_sandbox_mode(True)
    ex.load_markets()
    return ex


def test_markets_carry_bybit_filters(client: ccxt.bybit) -> None:
    perp, spot = client.market(PERP), client.market("BTC/USDT")
    assert perp["swap"] and perp["linear"] and perp["precision"]["amount"] == 0.001
    assert perp["limits"]["amount"]["min"] == 0.001 and perp["limits"]["cost"]["min"] == 5.0
    assert spot["spot"] and spot["limits"]["cost"]["min"] == 1.0


def test_time_and_klines_follow_the_bar_clock(
    emulator: BybitEmulator, client: ccxt.bybit, candles: pd.DataFrame
) -> None:
    assert client.fetch_time() == emulator.bar_open_ms(300) + emulator.clock_offset_ms
    rows = client.fetch_ohlcv(PERP, "5m", limit=3)
    assert [r[0] for r in rows] == [emulator.bar_open_ms(i) for i in (298, 299, 300)]
    assert rows[1][4] == pytest.approx(candles["close"].iloc[299])
    forming = rows[2]
    assert forming[1] == forming[2] == forming[3] == forming[4] == pytest.approx(candles["open"].iloc[300])
    emulator.advance(2)
    assert client.fetch_ohlcv(PERP, "5m", limit=1)[0][0] == emulator.bar_open_ms(302)


def test_kline_start_returns_oldest_bars_and_end_bounds(emulator: BybitEmulator, client: ccxt.bybit) -> None:
    first = client.fetch_ohlcv(PERP, "5m", since=emulator.bar_open_ms(10), limit=4)
    assert [r[0] for r in first] == [emulator.bar_open_ms(i) for i in range(10, 14)]
    until = client.fetch_ohlcv(PERP, "5m", limit=2, params={"until": emulator.bar_open_ms(50)})
    assert [r[0] for r in until] == [emulator.bar_open_ms(49), emulator.bar_open_ms(50)]
    assert emulator.count("/v5/market/kline") == 2


def test_hourly_klines_aggregate_closed_base_bars(
    emulator: BybitEmulator, client: ccxt.bybit, candles: pd.DataFrame
) -> None:
    closed_hour = client.fetch_ohlcv(PERP, "1h", limit=2)[0]
    block = candles.loc[pd.Timestamp(closed_hour[0], unit="ms", tz="UTC") :].iloc[:12]
    assert closed_hour[1] == pytest.approx(block["open"].iloc[0])
    assert closed_hour[2] == pytest.approx(block["high"].max())
    assert closed_hour[3] == pytest.approx(block["low"].min())
    assert closed_hour[4] == pytest.approx(block["close"].iloc[-1])


def test_market_order_fills_at_the_forming_bar_open_with_sl_tp(
    emulator: BybitEmulator, client: ccxt.bybit, candles: pd.DataFrame
) -> None:
    order = client.create_order(PERP, "market", "buy", 0.01, params={"clientOrderId": "run-1", "stopLoss": 1.0})
    fetched = client.fetch_order(order["id"], PERP, params={"acknowledged": True})
    assert fetched["status"] == "closed" and fetched["filled"] == 0.01
    assert fetched["average"] == pytest.approx(candles["open"].iloc[300])
    (position,) = [p for p in client.fetch_positions([PERP]) if p["contracts"]]
    assert position["side"] == "long" and position["stopLossPrice"] == 1.0


def test_duplicate_order_link_id_is_refused(emulator: BybitEmulator, client: ccxt.bybit) -> None:
    client.create_order(PERP, "market", "buy", 0.01, params={"clientOrderId": "dup"})
    with pytest.raises(ccxt.InvalidOrder, match="110072"):
        client.create_order(PERP, "market", "buy", 0.01, params={"clientOrderId": "dup"})
    assert emulator.orders_with_link_id("dup") == 1


def test_reduce_only_without_position_is_rejected(client: ccxt.bybit) -> None:
    with pytest.raises(ccxt.InvalidOrder, match="110017"):
        client.create_order(PERP, "market", "sell", 0.01, params={"reduceOnly": True})


def test_insufficient_margin_and_min_notional(client: ccxt.bybit) -> None:
    with pytest.raises(ccxt.InsufficientFunds, match="110007"):
        client.create_order(PERP, "market", "buy", 5.0)
    with pytest.raises(ccxt.InvalidOrder, match="110094"):
        client.create_order(PERP, "limit", "buy", 0.001, 1000.0)


def test_stop_loss_triggers_when_a_bar_trades_through_it(
    emulator: BybitEmulator, client: ccxt.bybit, candles: pd.DataFrame
) -> None:
    entry = float(candles["open"].iloc[300])
    client.create_order(PERP, "market", "buy", 0.01, params={"stopLoss": round(entry * 0.9999, 1)})
    for _ in range(50):
        emulator.advance()
        if not any(p["contracts"] for p in client.fetch_positions([PERP])):
            break
    closed = client.fetch_closed_orders(PERP)
    assert any(o["info"]["stopOrderType"] == "StopLoss" for o in closed)


def test_set_leverage_unchanged_is_110043(client: ccxt.bybit) -> None:
    with pytest.raises(ccxt.BadRequest, match="110043"):
        client.set_leverage(10, PERP)
    client.set_leverage(3, PERP)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (faults.http_error(502), ccxt.ExchangeNotAvailable),
        (faults.forbidden(), ccxt.RateLimitExceeded),
        (faults.rate_limit(), ccxt.RateLimitExceeded),
        (faults.timeout(2.0), ccxt.RequestTimeout),
        (faults.insufficient_funds(), ccxt.InsufficientFunds),
        (faults.rejected(), ccxt.InvalidOrder),
    ],
)
def test_faults_surface_as_ccxt_errors(
    emulator: BybitEmulator, client: ccxt.bybit, fault: faults.Fault, error: type[Exception]
) -> None:
    emulator.inject("/v5/order/create", fault)
    with pytest.raises(error):
        client.create_order(PERP, "market", "buy", 0.01)
    assert emulator.pending_faults("/v5/order/create") == 0
    client.create_order(PERP, "market", "buy", 0.01)  # the next request is healthy


def test_timeout_after_processing_creates_the_order(emulator: BybitEmulator, client: ccxt.bybit) -> None:
    emulator.inject("/v5/order/create", faults.timeout(2.0, after=True))
    with pytest.raises(ccxt.RequestTimeout):
        client.create_order(PERP, "market", "buy", 0.01, params={"clientOrderId": "lost"})
    assert emulator.orders_with_link_id("lost") == 1


def test_partial_fill_cancels_the_rest(emulator: BybitEmulator, client: ccxt.bybit) -> None:
    emulator.inject("/v5/order/create", faults.partial_fill(0.4))
    order = client.create_order(PERP, "market", "buy", 0.01, params={"clientOrderId": "part"})
    fetched = client.fetch_order(order["id"], PERP, params={"acknowledged": True})
    assert fetched["filled"] == pytest.approx(0.004) and fetched["info"]["orderStatus"] == "PartiallyFilledCanceled"


def test_bad_key_secret_and_clock_are_refused(emulator: BybitEmulator) -> None:
    with pytest.raises(ccxt.AuthenticationError, match="10003"):
        ccxt.bybit(emulator.ccxt_config(api_key="nope")).fetch_balance()
    with pytest.raises(ccxt.AuthenticationError, match="10004"):
        ccxt.bybit(emulator.ccxt_config(secret="nope")).fetch_balance()
    emulator.clock_skew_ms = 60_000
    with pytest.raises(ccxt.InvalidNonce, match="10002"):
        ccxt.bybit(emulator.ccxt_config()).fetch_balance()


def test_spot_buy_and_sell_move_coins(emulator: BybitEmulator, client: ccxt.bybit) -> None:
    client.create_order("BTC/USDT", "market", "buy", 0.01)
    assert client.fetch_balance()["BTC"]["total"] == pytest.approx(0.01)
    client.create_order("BTC/USDT", "market", "sell", 0.01)
    assert client.fetch_balance()["BTC"]["total"] == pytest.approx(0.0)
    with pytest.raises(ccxt.InsufficientFunds, match="170131"):
        client.create_order("BTC/USDT", "market", "sell", 0.01)


def test_request_log_counts_failed_attempts(emulator: BybitEmulator, client: ccxt.bybit) -> None:
    emulator.clear_requests()
    emulator.inject("/v5/market/time", faults.http_error(500))
    with pytest.raises(ccxt.ExchangeNotAvailable):
        client.fetch_time()
    client.fetch_time()
    assert emulator.count("/v5/market/time") == 2 and emulator.count("/v5/market/time", "POST") == 0


def test_emulator_needs_candles_and_a_start() -> None:
    emu = BybitEmulator()
    with pytest.raises(RuntimeError, match="not started"):
        _ = emu.url
    with pytest.raises(RuntimeError, match="no candles fed"):
        emu.set_bar(0)
    with pytest.raises(ValueError, match="lacks columns"):
        emu.feed("BTCUSDT", pd.DataFrame({"open": [1.0]}))


def test_limit_order_rests_cancels_and_fills_on_a_later_bar(
    emulator: BybitEmulator, client: ccxt.bybit, candles: pd.DataFrame
) -> None:
    far = client.create_order(PERP, "limit", "buy", 0.01, 1000.0, params={"clientOrderId": "far"})
    assert [o["clientOrderId"] for o in client.fetch_open_orders(PERP)] == ["far"]
    client.cancel_order(far["id"], PERP)
    assert client.fetch_open_orders(PERP) == []
    with pytest.raises(ccxt.OrderNotFound, match="110001"):
        client.cancel_order(far["id"], PERP)
    near = round(float(candles["open"].iloc[300]) * 0.9995, 1)
    client.create_order(PERP, "limit", "buy", 0.01, near, params={"clientOrderId": "near"})
    for _ in range(30):
        if not client.fetch_open_orders(PERP):
            break
        emulator.advance()
    (filled,) = client.fetch_closed_orders(PERP, params={"orderLinkId": "near"})
    assert filled["status"] == "closed" and filled["average"] <= near


def test_ticker_and_history_pagination(emulator: BybitEmulator, client: ccxt.bybit) -> None:
    assert client.fetch_ticker(PERP)["last"] == pytest.approx(emulator.account.price("BTCUSDT", emulator.now_ms))
    for i in range(25):
        client.create_order(PERP, "market", "buy" if i % 2 == 0 else "sell", 0.001)
    first = client.fetch_closed_orders(PERP)
    assert len(first) == 20  # Bybit's default page; the cursor leads to the rest
    rest = client.fetch_closed_orders(PERP, params={"cursor": "20"})
    assert len(rest) == 5


def test_a_bad_signature_echoes_the_signed_string_with_the_key(emulator: BybitEmulator) -> None:
    with pytest.raises(ccxt.AuthenticationError, match=r"origin_string\[\d+testkey5000accountType=UNIFIED\]"):
        ccxt.bybit(emulator.ccxt_config(secret="nope")).fetch_balance()


def test_history_and_executions_answer_seven_days_at_most(emulator: BybitEmulator, client: ccxt.bybit) -> None:
    client.create_order(PERP, "market", "buy", 0.01, params={"clientOrderId": "h-1"})
    now, day = emulator.now_ms, 86_400_000
    assert [o["clientOrderId"] for o in client.fetch_canceled_and_closed_orders(PERP)] == ["h-1"]
    assert len(client.fetch_my_trades(PERP, since=now - day)) == 1
    assert client.fetch_canceled_and_closed_orders(PERP, since=now - 8 * day) == []  # the 7 days after since
    with pytest.raises(ccxt.BadRequest, match="cannot exceed 7 days"):
        client.fetch_my_trades(PERP, since=now - 8 * day, params={"endTime": now})


def test_stops_on_the_wrong_side_of_the_price_are_refused(emulator: BybitEmulator, client: ccxt.bybit) -> None:
    price = client.fetch_ticker(PERP)["last"]
    with pytest.raises(ccxt.BadRequest, match=r"10001.*StopLoss:.* set for Buy position should lower than"):
        client.create_order(PERP, "market", "buy", 0.01, params={"stopLoss": price * 1.01})
    with pytest.raises(ccxt.BadRequest, match=r"TakeProfit:.* set for Sell position should lower than"):
        client.create_order(PERP, "market", "sell", 0.01, params={"takeProfit": price * 1.01})
    client.create_order(PERP, "market", "buy", 0.01, params={"stopLoss": price * 0.99})
    body = {"category": "linear", "symbol": "BTCUSDT", "stopLoss": str(price * 1.02)}
    with pytest.raises(ccxt.BadRequest, match="should lower than"):
        client.private_post_v5_position_trading_stop(body)


def test_an_outage_answers_503_until_it_ends(emulator: BybitEmulator, client: ccxt.bybit) -> None:
    emulator.set_down()
    with pytest.raises(ccxt.ExchangeNotAvailable):
        client.fetch_time()
    emulator.set_down(False)
    assert client.fetch_time() == emulator.now_ms


def test_post_only_orders_cross_rest_fill_through_and_partially(
    emulator: BybitEmulator, client: ccxt.bybit, candles: pd.DataFrame
) -> None:
    last = float(candles["open"].iloc[300])
    # crossing at placement: accepted (retCode 0), then cancelled at once with Bybit's reason
    client.create_order(PERP, "limit", "buy", 0.01, last + 10, params={"timeInForce": "PostOnly", "clientOrderId": "x"})
    (crossed,) = client.fetch_open_orders(PERP, params={"orderLinkId": "x"})
    assert crossed["status"] == "canceled" and crossed["info"]["rejectReason"] == "EC_PostOnlyWillTakeLiquidity"
    # a touch is no fill: only a bar whose low lies strictly below the price fills it, at the price, as a maker
    low = round(float(candles["low"].iloc[300]), 1)  # on the tick, so the order sits exactly at the low
    frame = candles.copy()
    frame.iloc[300, frame.columns.get_loc("low")] = low
    emulator.feed("BTCUSDT", frame)
    client.create_order(PERP, "limit", "buy", 0.01, low, params={"timeInForce": "PostOnly", "clientOrderId": "touch"})
    below = round(float(candles["open"].iloc[300]) * 0.9999, 1)
    emulator.set_limit_fill_fraction(0.5)
    client.create_order(PERP, "limit", "buy", 0.01, below, params={"timeInForce": "PostOnly", "clientOrderId": "p"})
    emulator.advance()
    (touched,) = client.fetch_open_orders(PERP, params={"orderLinkId": "touch"})
    (part,) = client.fetch_open_orders(PERP, params={"orderLinkId": "p"})
    assert touched["status"] == "open" and touched["filled"] == 0.0
    assert (
        part["status"] == "open"
        and part["filled"] == pytest.approx(0.005)
        and part["info"]["timeInForce"] == "PostOnly"
    )
    (trade,) = client.fetch_my_trades(PERP, params={"orderLinkId": "p"})
    assert trade["price"] == pytest.approx(below) and trade["takerOrMaker"] == "maker"
    assert trade["fee"]["cost"] == pytest.approx(0.005 * below * 0.0002)
    client.cancel_order(part["id"], PERP)
    (cancelled,) = client.fetch_canceled_and_closed_orders(PERP, params={"orderLinkId": "p"})
    assert cancelled["status"] == "canceled" and cancelled["filled"] == pytest.approx(0.005)
    with pytest.raises(ValueError, match="fill fraction"):
        emulator.set_limit_fill_fraction(0.0)
