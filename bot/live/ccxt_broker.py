"""``CcxtBroker``: Bybit linear perpetuals and spot through ccxt.

With :mod:`~bot.live.ccxt_history` (order history, executions), :mod:`~bot.live.ccxt_protection` (stops set on
the position) and :mod:`~bot.live.ccxt_limit` (the end of a resting limit order) it holds the Bybit order logic; the
client, the error translation (keys redacted) and the retry policy come from :mod:`bot.exchange`, and no module of
``bot.live`` imports ccxt. Plans with ``limit_offset`` go out as post-only limit orders (``timeInForce=PostOnly``);
one the exchange refuses because it would take liquidity counts as unfilled.

Every network call is wrapped by :func:`~bot.exchange.retry.retrier` (transient errors only) and translated to
:mod:`bot.errors` with ``raise ... from e``. Orders carry a deterministic ``orderLinkId``; when a retried create meets
Bybit's "duplicate orderLinkId" (110072), the order sent by the lost first attempt is adopted instead.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from bot.config import LiveConfig, PortfolioConfig
from bot.errors import BrokerError, InsufficientFundsError, OrderRejectedError, TransientBrokerError
from bot.exchange import (
    DEFAULT_TIMEOUT_MS,
    Exchange,
    RetryPolicy,
    is_order_not_found,
    listed_symbols,
    load_market,
    make_exchange,
    probe,
    retrier,
    translated,
)
from bot.live.broker import (
    EXCHANGE_PREFIX,
    AccountState,
    Candle,
    ExecutionPlan,
    MarketRules,
    OrderRequest,
    OrderState,
)
from bot.live.ccxt_history import fetch_history, order_state, trigger_words
from bot.live.ccxt_limit import finish_limit_order, refused_order
from bot.live.ccxt_protection import place_then_protect, protect_held
from bot.live.sizing import SizingInputs, plan_legs

logger = logging.getLogger(__name__)

_DUPLICATE_LINK_ID = "110072"
_LEVERAGE_NOT_MODIFIED = "110043"
#: How far back each poll for exchange-triggered fills looks. Bybit answers a lone ``startTime`` on the order history
#: with the 7 days after it only, so a start fixed at the run's beginning would go blind after a week.
_FILLS_LOOKBACK_MS = 86_400_000
#: Orders per order-history request (Bybit's maximum; its default is 20).
_HISTORY_LIMIT = 50


def live_exchange(
    live: LiveConfig, api_key: str | None = None, api_secret: str | None = None, timeout_ms: int = DEFAULT_TIMEOUT_MS
) -> Exchange:
    """The ccxt client of ``live`` (its exchange, symbol, testnet and URL override) through
    :func:`bot.exchange.make_exchange`; without keys (dry run) it reads public market data only."""
    return make_exchange(
        live.exchange,
        symbol=live.symbol,
        testnet=live.testnet,
        exchange_url=live.exchange_url,
        api_key=api_key,
        api_secret=api_secret,
        timeout_ms=timeout_ms,
    )


class CcxtBroker:
    """Bybit (testnet by default) through ccxt, for one symbol.

    :param exchange: a ``ccxt.bybit`` from :func:`live_exchange`.
    :param live: the live section (symbol, limits).
    :param portfolio: the portfolio section (leverage for sizing and ``set_leverage``).
    :param retry_policy: retries of transient errors.
    """

    name = "bybit"

    def __init__(
        self, exchange: Exchange, live: LiveConfig, portfolio: PortfolioConfig, retry_policy: RetryPolicy
    ) -> None:
        self.exchange = exchange
        self.symbol = live.symbol
        self.live = live
        self.portfolio = portfolio
        self.retry_policy = retry_policy
        self._rules: MarketRules | None = None
        self._fills_since_ms: int | None = None
        self._last_time_ms = 0
        self._seen_exchange_orders: set[str] = set()
        # the share of the quote wallet this symbol trades with: 1/N for each of a basket's N symbols (bot.live.basket)
        self.wallet_share = 1.0
        # redacted from every error: ccxt quotes Bybit's messages, and a bad signature echoes the API key
        self._secrets = tuple(str(v) for v in (getattr(exchange, "apiKey", ""), getattr(exchange, "secret", "")) if v)

    def _translated(self, action: str, *, is_order: bool = False) -> Any:
        return translated(action, self._secrets, is_order=is_order)

    def probe(self) -> None:
        """An exchange that cannot be reached fails the start at once (see :func:`bot.exchange.probe`); an answer of
        any kind (even HTTP 5xx) counts as reached, and then the normal retries and outage handling apply.

        :raises BrokerError: naming the URL and the cause (refused, unknown host, timeout).
        """
        probe(self.exchange, self._secrets)

    # ------------------------------------------------------------------------------------------------ market data
    @property
    def rules(self) -> MarketRules:
        """The symbol's rules (loads the market list on first use)."""
        if self._rules is None:
            self._rules = self._load_rules()
        return self._rules

    @retrier
    def _load_rules(self) -> MarketRules:
        with self._translated("load markets"):
            market = load_market(self.exchange, self.symbol)
        if market is None:
            raise BrokerError(
                f"symbol {self.symbol!r} is not listed on {self.name}; e.g. {listed_symbols(self.exchange)[:10]}"
            )
        limits, precision = market["limits"], market["precision"]
        return MarketRules(
            symbol=self.symbol,
            is_spot=bool(market["spot"]),
            qty_step=float(precision["amount"]),
            min_qty=float(limits["amount"]["min"] or 0.0),
            min_notional=float(limits["cost"]["min"] or 0.0),
            tick_size=float(precision["price"]),
            base=str(market["base"]),
            quote=str(market["quote"]),
        )

    @retrier
    def fetch_time_ms(self) -> int:
        """The exchange clock (``/v5/market/time``), UTC ms."""
        with self._translated("fetch time"):
            now = int(self.exchange.fetch_time())
        self._last_time_ms = max(self._last_time_ms, now)
        return now

    @retrier
    def fetch_candles(self, timeframe: str, since_ms: int | None, limit: int) -> list[Candle]:
        """Candles oldest first; ``since_ms`` = first bar open (None = the newest ``limit``)."""
        with self._translated(f"fetch {timeframe} candles of {self.symbol}"):
            rows = self.exchange.fetch_ohlcv(self.symbol, timeframe, since=since_ms, limit=limit)
        return [Candle(int(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5] or 0.0)) for r in rows]

    # ------------------------------------------------------------------------------------------------ account
    def sync(self, closed: Sequence[Candle]) -> None:
        """Nothing to do: the exchange executes orders itself."""

    @retrier
    def drain_fills(self) -> list[OrderState]:
        """Orders the exchange filled on its own since the last call: triggered stop-loss / take-profit closes.

        Their client id is ``exchange-<order id>`` (they carry no ``orderLinkId`` of ours). Each call looks back
        :data:`_FILLS_LOOKBACK_MS` from the last exchange time seen, never before :meth:`prepare`.
        """
        if self._fills_since_ms is None:
            return []
        since = max(self._fills_since_ms, self._last_time_ms - _FILLS_LOOKBACK_MS)
        with self._translated(f"fetch closed orders of {self.symbol}"):
            orders = self.exchange.fetch_closed_orders(self.symbol, since=since, limit=_HISTORY_LIMIT)
        found = []
        for order in orders:
            state = order_state(order)
            if state.client_id or state.order_id in self._seen_exchange_orders or state.filled <= 0:
                continue
            self._seen_exchange_orders.add(state.order_id)
            logger.info(
                "%s of %s: %s %.8g at %.8g",
                trigger_words(state.trigger),
                self.symbol,
                state.side,
                state.filled,
                state.average_price,
            )
            found.append(dataclasses.replace(state, client_id=f"{EXCHANGE_PREFIX}{state.order_id}"))
        return found

    def prepare(self) -> None:
        """Set the position leverage to ``portfolio.leverage`` (perpetuals) and start watching for
        exchange-triggered fills from now on."""
        if self._fills_since_ms is None:
            self._fills_since_ms = self.fetch_time_ms()
        if not self.rules.is_spot:
            self._set_leverage()

    @retrier
    def _set_leverage(self) -> None:
        try:
            with self._translated(f"set leverage of {self.symbol}"):
                self.exchange.set_leverage(self.portfolio.leverage, self.symbol)
        except BrokerError as e:
            if _LEVERAGE_NOT_MODIFIED not in str(e):  # Bybit 110043: already at this leverage
                raise

    @retrier
    def fetch_account(self, mark_price: float) -> AccountState:
        """Balance and position (perpetual: ``/v5/position/list``; spot: the base coin balance)."""
        rules = self.rules
        with self._translated("fetch balance"):
            balance = self.exchange.fetch_balance()
        quote = balance.get(rules.quote) or {}
        wallet = float(quote.get("total") or 0.0) * self.wallet_share
        if rules.is_spot:
            base_qty = float((balance.get(rules.base) or {}).get("total") or 0.0)
            return AccountState(wallet + base_qty * mark_price, wallet, base_qty, 0.0, 0.0, mark_price)
        with self._translated(f"fetch position of {self.symbol}"):
            positions = self.exchange.fetch_positions([self.symbol])
        qty = entry = 0.0
        stop = take = 0.0
        for pos in positions:
            contracts = float(pos.get("contracts") or 0.0)
            if pos.get("symbol") == self.symbol and contracts:
                qty = contracts if pos.get("side") == "long" else -contracts
                entry = float(pos.get("entryPrice") or 0.0)
                stop = float(pos.get("stopLossPrice") or 0.0)
                take = float(pos.get("takeProfitPrice") or 0.0)
        upnl = qty * (mark_price - entry)
        return AccountState(wallet + upnl, wallet, qty, entry, upnl, mark_price, stop, take)

    # ------------------------------------------------------------------------------------------------ orders
    def execute(self, plan: ExecutionPlan, last_exposure: float) -> list[OrderState]:
        """Send the legs that move the position to the plan's target (legs already on the exchange are adopted).

        Insufficient funds and rejected orders come back as ``rejected`` states (logged), never as exceptions.
        """
        account = self.fetch_account(plan.reference_price)
        done: list[OrderState] = []
        while (found := self.find_order(f"{plan.client_prefix}-{len(done)}")) is not None:
            logger.info("Adopting order %s already on the exchange for this bar", found.client_id)
            done.append(found)
        if done:
            account = self.fetch_account(plan.reference_price)
        # adopted legs still resting (limit orders) count as done: the rest is planned as if they filled
        resting = sum((o.qty - o.filled) * (1.0 if o.side == "buy" else -1.0) for o in done if o.status == "open")
        inputs = SizingInputs(
            account.equity,
            account.position_qty + resting,
            self._leverage,
            self.live.max_position_notional,
            last_exposure,
            account.cash,
            self.portfolio.taker_fee,
        )
        legs = plan_legs(plan, self.rules, inputs, first_leg=len(done))
        for leg in legs:
            state = self.place(leg)
            if state.status == "rejected" and (leg.stop_loss is not None or leg.take_profit is not None):
                state = place_then_protect(self, plan, leg, state)
            done.append(state)
            unfilled_limit = leg.limit_price is not None and state.status != "open" and not state.filled
            if state.status == "rejected" or unfilled_limit:
                # the later legs were sized on this one (a reversal opens after its close): do not send them blind
                break
        if not legs and account.position_qty and not account.stop_loss and plan.stop_loss_pct > 0:
            protect_held(self, plan, account.position_qty > 0)
        return done

    @retrier
    def set_protection(self, stop_loss: float | None, take_profit: float | None) -> None:
        """Attach a stop-loss / take-profit (None = leave unchanged) to the position (``/v5/position/trading-stop``).

        :raises OrderRejectedError: when the exchange refuses the prices (e.g. on the wrong side of the price).
        """
        with self._translated(f"set stop loss / take profit of {self.symbol}", is_order=True):
            body: dict[str, Any] = {
                "category": "linear",
                "symbol": self.exchange.market(self.symbol)["id"],
                "tpslMode": "Full",
                "positionIdx": 0,
            }
            if stop_loss is not None:
                body["stopLoss"] = self.exchange.price_to_precision(self.symbol, stop_loss)
            if take_profit is not None:
                body["takeProfit"] = self.exchange.price_to_precision(self.symbol, take_profit)
            self.exchange.private_post_v5_position_trading_stop(body)

    @retrier
    def last_price(self) -> float:
        """The last traded price of the symbol (``/v5/market/tickers``)."""
        with self._translated(f"fetch the ticker of {self.symbol}"):
            return float(self.exchange.fetch_ticker(self.symbol)["last"])

    @property
    def _leverage(self) -> float:
        return 1.0 if self.rules.is_spot else float(self.portfolio.leverage)

    def place(self, request: OrderRequest) -> OrderState:
        """Send one order; a refusal (funds, invalid, parameters) is logged and returned as a ``rejected`` state, a
        post-only order that would have taken liquidity as an unfilled ``canceled`` one."""
        try:
            state = self._create(request)
        except (InsufficientFundsError, OrderRejectedError) as e:
            return refused_order(request, e)
        if state.order_type == "limit" and state.status != "open" and not state.filled:
            logger.info("Post-only order %s not placed (%s): unfilled", state.client_id, state.error or state.status)
        return state

    @retrier
    def _create(self, request: OrderRequest) -> OrderState:
        params: dict[str, Any] = {"clientOrderId": request.client_id}
        if request.reduce_only:
            params["reduceOnly"] = True
        if request.stop_loss is not None:
            params["stopLoss"] = request.stop_loss
        if request.take_profit is not None:
            params["takeProfit"] = request.take_profit
        kind = "market" if request.limit_price is None else "limit"
        if request.limit_price is not None:
            params["timeInForce"] = "PostOnly"
        action = f"create {kind} {request.side} {request.qty:.8g} {self.symbol} ({request.client_id})"
        try:
            with self._translated(action, is_order=True):
                self.exchange.create_order(self.symbol, kind, request.side, request.qty, request.limit_price, params)
        except OrderRejectedError as e:
            if _DUPLICATE_LINK_ID not in str(e):
                raise
            logger.info("Order %s already exists (an earlier attempt went through); adopting it", request.client_id)
        # not the retried find_order: this whole method is retried (idempotent by orderLinkId), so nesting retriers
        # would multiply the attempts
        found = self._lookup_order(request.client_id)
        if found is None:
            raise TransientBrokerError(f"{action}: sent, but the exchange does not list it yet")
        logger.info(
            "Order %s %s %.8g filled %.8g at %.8g (%s)",
            found.client_id,
            found.side,
            found.qty,
            found.filled,
            found.average_price,
            found.status,
        )
        return found

    @retrier
    def find_order(self, client_id: str) -> OrderState | None:
        """The order with this ``orderLinkId`` (open ones from ``/v5/order/realtime``, then the history)."""
        return self._lookup_order(client_id)

    def _lookup_order(self, client_id: str) -> OrderState | None:
        params = {"orderLinkId": client_id}
        with self._translated(f"fetch order {client_id}"):
            orders = self.exchange.fetch_open_orders(self.symbol, params=params)
            if not orders:  # every final status: a cancelled limit order is not "closed"
                orders = self.exchange.fetch_canceled_and_closed_orders(self.symbol, params=params)
        matches = [o for o in orders if o.get("clientOrderId") == client_id]
        return order_state(matches[0]) if matches else None

    def finish_limit_order(self, client_id: str, plan: ExecutionPlan | None) -> OrderState | None:
        """Cancel what is left of a resting limit order and return its final state (see
        :func:`bot.live.ccxt_limit.finish_limit_order`)."""
        return finish_limit_order(self, client_id, plan)

    @retrier
    def cancel_order(self, order: OrderState) -> OrderState:
        """Cancel an open order (``/v5/order/cancel``) and return its final state; retried as a whole.

        An order filled or cancelled meanwhile (Bybit 110001) is not an error: its final state comes back.
        """
        try:
            with self._translated(f"cancel order {order.client_id}", is_order=True):
                self.exchange.cancel_order(order.order_id, self.symbol)
        except BrokerError as e:
            if not is_order_not_found(e):
                raise
        final = self._lookup_order(order.client_id)
        if final is None or final.status == "open":
            raise TransientBrokerError(f"cancel order {order.client_id}: the exchange still lists it open")
        return final

    @retrier
    def open_orders(self) -> list[OrderState]:
        """Orders of the symbol still open on the exchange."""
        with self._translated(f"fetch open orders of {self.symbol}"):
            return [order_state(o) for o in self.exchange.fetch_open_orders(self.symbol)]

    def close(self) -> None:
        """Nothing to release (ccxt's sync client keeps no open stream)."""

    def history(self, since_ms: int) -> list[OrderState]:
        """Orders and executions of the symbol since ``since_ms`` from the exchange's own history (see
        :func:`bot.live.ccxt_history.fetch_history`)."""
        return self._history(since_ms, self.fetch_time_ms())

    @retrier
    def _history(self, since_ms: int, until_ms: int) -> list[OrderState]:
        # retried as a whole (it only reads); fetch_time_ms has its own retrier, so it stays outside
        return fetch_history(self.exchange, self.symbol, since_ms, until_ms, self._secrets)
