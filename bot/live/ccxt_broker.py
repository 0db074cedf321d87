"""``CcxtBroker``: Bybit linear perpetuals and spot through ccxt; the only module of ``bot.live`` that imports ccxt.

Every network call is wrapped by :func:`~bot.live.retry.retrier` (transient errors only) and translated to
:mod:`bot.errors` with ``raise ... from e``. Orders carry a deterministic ``orderLinkId``; when a retried create meets
Bybit's "duplicate orderLinkId" (110072), the order sent by the lost first attempt is adopted instead.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import ccxt

from bot.config import LiveConfig, PortfolioConfig
from bot.errors import (
    AuthenticationError,
    BrokerError,
    InsufficientFundsError,
    OrderRejectedError,
    TransientBrokerError,
)
from bot.live.broker import (
    AccountState,
    Candle,
    ExecutionPlan,
    MarketRules,
    OrderRequest,
    OrderState,
    OrderStatus,
)
from bot.live.retry import RetryPolicy, retrier
from bot.live.sizing import SizingInputs, plan_legs

logger = logging.getLogger(__name__)

_URL_KEYS = ("spot", "futures", "v2", "public", "private")
_DUPLICATE_LINK_ID = "110072"
_LEVERAGE_NOT_MODIFIED = "110043"
#: How far back each poll for exchange-triggered fills looks. Bybit answers a lone ``startTime`` on the order history
#: with the 7 days after it only, so a start fixed at the run's beginning would go blind after a week.
_FILLS_LOOKBACK_MS = 86_400_000
#: Orders per order-history request (Bybit's maximum; its default is 20).
_HISTORY_LIMIT = 50


def make_exchange(live: LiveConfig, api_key: str | None, api_secret: str | None, timeout_ms: int = 10_000) -> Any:
    """A configured ``ccxt.bybit``: sandbox (testnet) per ``live.testnet``, every URL replaced by ``live.exchange_url``.

    :param live: the live section (symbol decides spot or swap).
    :param api_key: API key, or None for public data only (dry run).
    :param api_secret: API secret.
    :param timeout_ms: HTTP timeout per request.
    """
    options: dict[str, Any] = {
        "defaultType": "spot" if ":" not in live.symbol else "swap",
        "fetchMarkets": {"types": ["spot", "linear"]},
        "enableUnifiedAccount": True,
        "enableUnifiedMargin": False,
    }
    config: dict[str, Any] = {
        "enableRateLimit": True,
        "timeout": timeout_ms,
        "options": options,
        "has": {"fetchCurrencies": False},
    }
    if api_key and api_secret:
        config |= {"apiKey": api_key, "secret": api_secret}
    exchange = ccxt.bybit(config)
    if live.testnet:
        exchange.set_sandbox_mode(True)
    if live.exchange_url:
        base = live.exchange_url.rstrip("/")
        loop = dict.fromkeys(_URL_KEYS, base)
        exchange.urls["api"] = dict(loop)
        exchange.urls["test"] = dict(loop)
    return exchange


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """Translate ccxt errors raised inside the block to :mod:`bot.errors`, naming the action."""
    try:
        yield
    except (ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountSuspended) as e:
        raise AuthenticationError(
            f"{action}: the exchange refused the API credentials ({e}); check BYBIT_API_KEY / BYBIT_API_SECRET and"
            " that the key was made on testnet.bybit.com for --testnet (mainnet keys do not work there)"
        ) from e
    except ccxt.InsufficientFunds as e:
        raise InsufficientFundsError(f"{action}: insufficient funds: {e}") from e
    except ccxt.InvalidOrder as e:
        raise OrderRejectedError(f"{action}: order rejected: {e}") from e
    except ccxt.InvalidNonce as e:
        raise BrokerError(f"{action}: request timestamp refused ({e}); synchronise the system clock (NTP)") from e
    except (ccxt.NetworkError, ccxt.ExchangeNotAvailable, ccxt.OnMaintenance) as e:
        raise TransientBrokerError(f"{action}: {type(e).__name__}: {e}") from e
    except ccxt.BadSymbol as e:
        raise BrokerError(f"{action}: unknown symbol ({e}); use a ccxt symbol such as BTC/USDT:USDT") from e
    except ccxt.BaseError as e:
        raise BrokerError(f"{action}: {type(e).__name__}: {e}") from e


class CcxtBroker:
    """Bybit (testnet by default) through ccxt, for one symbol.

    :param exchange: a ``ccxt.bybit`` from :func:`make_exchange`.
    :param live: the live section (symbol, limits).
    :param portfolio: the portfolio section (leverage for sizing and ``set_leverage``).
    :param retry_policy: retries of transient errors.
    """

    name = "bybit"

    def __init__(self, exchange: Any, live: LiveConfig, portfolio: PortfolioConfig, retry_policy: RetryPolicy) -> None:
        self.exchange = exchange
        self.symbol = live.symbol
        self.live = live
        self.portfolio = portfolio
        self.retry_policy = retry_policy
        self._rules: MarketRules | None = None
        self._fills_since_ms: int | None = None
        self._last_time_ms = 0
        self._seen_exchange_orders: set[str] = set()

    # ------------------------------------------------------------------------------------------------ market data
    @property
    def rules(self) -> MarketRules:
        """The symbol's rules (loads the market list on first use)."""
        if self._rules is None:
            self._rules = self._load_rules()
        return self._rules

    @retrier
    def _load_rules(self) -> MarketRules:
        with _translated("load markets"):
            markets = self.exchange.load_markets()
        market = markets.get(self.symbol)
        if market is None:
            linear = sorted(s for s, m in markets.items() if m.get("linear") or m.get("spot"))[:10]
            raise BrokerError(f"symbol {self.symbol!r} is not listed on {self.name}; e.g. {linear}")
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
        with _translated("fetch time"):
            now = int(self.exchange.fetch_time())
        self._last_time_ms = max(self._last_time_ms, now)
        return now

    @retrier
    def fetch_candles(self, timeframe: str, since_ms: int | None, limit: int) -> list[Candle]:
        """Candles oldest first; ``since_ms`` = first bar open (None = the newest ``limit``)."""
        with _translated(f"fetch {timeframe} candles of {self.symbol}"):
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
        with _translated(f"fetch closed orders of {self.symbol}"):
            orders = self.exchange.fetch_closed_orders(self.symbol, since=since, limit=_HISTORY_LIMIT)
        found = []
        for order in orders:
            state = _order_state(order)
            if state.client_id or state.order_id in self._seen_exchange_orders or state.filled <= 0:
                continue
            self._seen_exchange_orders.add(state.order_id)
            kind = (order.get("info") or {}).get("stopOrderType") or "exchange order"
            logger.info("%s of %s: %s %.8g at %.8g", kind, self.symbol, state.side, state.filled, state.average_price)
            found.append(dataclasses.replace(state, client_id=f"exchange-{state.order_id}"))
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
            with _translated(f"set leverage of {self.symbol}"):
                self.exchange.set_leverage(self.portfolio.leverage, self.symbol)
        except BrokerError as e:
            if _LEVERAGE_NOT_MODIFIED not in str(e):  # Bybit 110043: already at this leverage
                raise

    @retrier
    def fetch_account(self, mark_price: float) -> AccountState:
        """Balance and position (perpetual: ``/v5/position/list``; spot: the base coin balance)."""
        rules = self.rules
        with _translated("fetch balance"):
            balance = self.exchange.fetch_balance()
        quote = balance.get(rules.quote) or {}
        wallet = float(quote.get("total") or 0.0)
        if rules.is_spot:
            base_qty = float((balance.get(rules.base) or {}).get("total") or 0.0)
            return AccountState(wallet + base_qty * mark_price, wallet, base_qty, 0.0, 0.0, mark_price)
        with _translated(f"fetch position of {self.symbol}"):
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
        inputs = SizingInputs(
            account.equity,
            account.position_qty,
            self._leverage,
            self.live.max_position_notional,
            last_exposure,
            account.cash,
            self.portfolio.taker_fee,
        )
        for leg in plan_legs(plan, self.rules, inputs, first_leg=len(done)):
            done.append(self.place(leg))
        return done

    @property
    def _leverage(self) -> float:
        return 1.0 if self.rules.is_spot else float(self.portfolio.leverage)

    def place(self, request: OrderRequest) -> OrderState:
        """Send one market order; a refusal (funds, invalid) is logged and returned as a ``rejected`` state."""
        try:
            return self._create(request)
        except (InsufficientFundsError, OrderRejectedError) as e:
            logger.warning("Order %s %s %.8g refused: %s", request.client_id, request.side, request.qty, e)
            return OrderState(
                request.client_id,
                "",
                request.side,
                request.qty,
                0.0,
                0.0,
                "rejected",
                reduce_only=request.reduce_only,
                error=str(e),
            )

    @retrier
    def _create(self, request: OrderRequest) -> OrderState:
        params: dict[str, Any] = {"clientOrderId": request.client_id}
        if request.reduce_only:
            params["reduceOnly"] = True
        if request.stop_loss is not None:
            params["stopLoss"] = request.stop_loss
        if request.take_profit is not None:
            params["takeProfit"] = request.take_profit
        action = f"create {request.side} {request.qty:.8g} {self.symbol} ({request.client_id})"
        try:
            with _translated(action):
                self.exchange.create_order(self.symbol, "market", request.side, request.qty, None, params)
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
        with _translated(f"fetch order {client_id}"):
            orders = self.exchange.fetch_open_orders(self.symbol, params=params)
            if not orders:
                orders = self.exchange.fetch_closed_orders(self.symbol, params=params)
        matches = [o for o in orders if o.get("clientOrderId") == client_id]
        return _order_state(matches[0]) if matches else None

    @retrier
    def open_orders(self) -> list[OrderState]:
        """Orders of the symbol still open on the exchange."""
        with _translated(f"fetch open orders of {self.symbol}"):
            return [_order_state(o) for o in self.exchange.fetch_open_orders(self.symbol)]

    def close(self) -> None:
        """Nothing to release (ccxt's sync client keeps no open stream)."""


def _order_state(order: dict[str, Any]) -> OrderState:
    info = order.get("info") or {}
    raw_status = str(order.get("status") or "open")
    status: OrderStatus = raw_status if raw_status in ("open", "closed", "canceled", "rejected") else "open"  # type: ignore[assignment]
    fee = order.get("fee") or {}
    filled = float(order.get("filled") or 0.0)
    return OrderState(
        client_id=str(order.get("clientOrderId") or ""),
        order_id=str(order.get("id") or ""),
        side="buy" if order.get("side") == "buy" else "sell",
        qty=float(order.get("amount") or info.get("qty") or filled),
        filled=filled,
        average_price=float(order.get("average") or 0.0),
        status=status,
        fee=float(fee.get("cost") or info.get("cumExecFee") or 0.0),
        reduce_only=bool(order.get("reduceOnly")),
    )
