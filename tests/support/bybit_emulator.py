"""A loopback Bybit V5 HTTP server for tests that drive the REAL ccxt client (no network beyond 127.0.0.1).

Start it, feed it candles, point ccxt at it::

    from tests.support.bybit_emulator import BybitEmulator
    from tests.support import bybit_faults as faults

    with BybitEmulator(api_key="testkey", api_secret="testsecret") as emu:
        emu.feed("BTCUSDT", frame)            # bot.data.load_ohlcv-shaped frame: DatetimeIndex of open times, OHLCV
        emu.set_bar(100)                      # exchange clock: bar 100 has just opened (bars 0..99 are closed)
        ex = ccxt.bybit(emu.ccxt_config())    # the LOOP urls recipe of shared/bybit_v5_ccxt_notes.md
        ex.set_sandbox_mode(True)             # harmless: 'test' urls point at the emulator too
        ex.fetch_ohlcv("BTC/USDT:USDT", "5m", limit=50)
        emu.inject("/v5/order/create", faults.timeout(1.0), faults.http_error(503))
        emu.advance()                         # bar 100 closes: stop-loss / take-profit and limit orders trigger
        assert emu.count("/v5/order/create") == 0

``BybitEmulator.ccxt_config(timeout_ms=...)`` also sets the client timeout (keep it well below a ``timeout`` fault's
delay). Or pass ``--exchange-url emu.url`` / ``live.exchange_url`` to the bot, which builds the same config.

The exchange clock is the candle clock: ``set_bar(i)`` puts "now" ``clock_offset_ms`` after the open of bar ``i``,
``advance(n)`` moves it ``n`` bars on, ``set_time(ms)`` anywhere (past the last candle for stale-data tests).
``/v5/market/time`` answers that clock. Signed requests are checked as Bybit does: HMAC-SHA256 hex of
``timestamp + apiKey + recvWindow + payload`` (raw query string for GET, raw body for POST) against the real wall clock
(``clock_skew_ms`` shifts it) -> 10003 unknown key, 10004 bad signature, 10002 timestamp outside the window.

Endpoints: public ``/v5/market/time``, ``instruments-info`` (spot + linear, one page: ``nextPageCursor`` ""),
``kline``, ``tickers``; signed ``/v5/user/query-api``, ``/v5/account/info``, ``/v5/account/wallet-balance``
(UNIFIED), ``/v5/asset/coin/query-info``, ``/v5/order/create``, ``/v5/order/cancel``, ``/v5/order/realtime``,
``/v5/order/history``, ``/v5/execution/list`` (both with Bybit's 7-day ``startTime``/``endTime`` window),
``/v5/position/list``, ``/v5/position/set-leverage`` (110043 when
unchanged) and ``/v5/position/trading-stop`` (``tests.support.bybit_routes``). Any other path answers retCode 10001.

Limit orders rest until a later closed bar trades through their price (``set_limit_fill_fraction`` forces partial
fills); ``timeInForce=PostOnly`` orders that would cross at placement are cancelled at once with Bybit's
``rejectReason`` ``EC_PostOnlyWillTakeLiquidity`` (see ``tests.support.bybit_account``).
``set_down()`` starts an outage (every request answers HTTP 503) and ``set_down(False)`` ends it.
Every request is logged (``requests``, ``count(path)``) before faults apply, so retries are countable. Faults
(``tests.support.bybit_faults``) are queued per path and consumed one per request. The account (UTA, USDT) and the
order engine live in ``tests.support.bybit_account``; candles and kline rules in ``tests.support.bybit_market``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

import pandas as pd

from tests.support import bybit_routes
from tests.support.bybit_account import Account
from tests.support.bybit_faults import Fault
from tests.support.bybit_market import BybitApiError, CandleFeed, Instrument, default_instruments

PUBLIC_PATHS = frozenset({"/v5/market/time", "/v5/market/instruments-info", "/v5/market/kline", "/v5/market/tickers"})


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the emulator received it (before any fault applied)."""

    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any] | None
    api_key: str | None


class BybitEmulator:
    """Loopback Bybit V5 server on a free 127.0.0.1 port, served from a daemon thread.

    :param api_key: the one API key the account accepts.
    :param api_secret: its HMAC secret.
    :param usdt: starting USDT wallet balance.
    :param taker_fee: fee fraction charged on every fill.
    :param instruments: category -> symbol -> :class:`Instrument`; defaults to BTCUSDT and ETHUSDT, spot + linear.
    :param clock_offset_ms: how far past a bar's open ``set_bar`` puts the clock.
    """

    def __init__(
        self,
        *,
        api_key: str = "testkey",
        api_secret: str = "testsecret",
        usdt: float = 10_000.0,
        taker_fee: float = 0.00055,
        instruments: dict[str, dict[str, Instrument]] | None = None,
        clock_offset_ms: int = 1_000,
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.clock_offset_ms = clock_offset_ms
        self.clock_skew_ms = 0
        self.recv_window_tolerance_ms = 1_000
        self.lock = threading.RLock()
        self.account = Account(
            instruments=instruments or default_instruments(), feeds={}, usdt=usdt, taker_fee=taker_fee
        )
        self.now_ms = 0
        #: while True every request answers HTTP 503 (an exchange outage); see :meth:`set_down`
        self.is_down = False
        self.requests: list[RequestRecord] = []
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        """Bind a free loopback port and serve from a daemon thread (idempotent)."""
        if self._server is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
            self._server.daemon_threads = True
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(0.05,), name="bybit-emulator", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port (idempotent); stalled ``timeout`` faults wake up."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (start first)."""
        if self._server is None:
            raise RuntimeError("BybitEmulator is not started; use it as a context manager or call start()")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def ccxt_config(
        self, api_key: str | None = None, secret: str | None = None, timeout_ms: int = 3_000, default_type: str = "swap"
    ) -> dict[str, Any]:
        """Constructor config for ``ccxt.bybit`` that routes every URL to this server (the notes' LOOP recipe)."""
        loop = dict.fromkeys(("spot", "futures", "v2", "public", "private"), self.url)
        return {
            "apiKey": self.api_key if api_key is None else api_key,
            "secret": self.api_secret if secret is None else secret,
            "enableRateLimit": False,
            "timeout": timeout_ms,
            "urls": {"api": dict(loop), "test": dict(loop)},
            "has": {"fetchCurrencies": False},
            "options": {
                "defaultType": default_type,
                "fetchMarkets": {"types": ["spot", "linear"]},
                "enableUnifiedAccount": True,
                "enableUnifiedMargin": False,
            },
        }

    # ------------------------------------------------------------------------------------------------ market + clock
    def feed(self, symbol: str, frame: pd.DataFrame, base_ms: int | None = None) -> None:
        """Serve ``frame`` (base-timeframe OHLCV, DatetimeIndex of open times) as the candles of ``symbol``.

        The clock starts at the first bar if it was not set yet.
        """
        feed = CandleFeed.from_frame(frame, base_ms)
        with self.lock:
            self.account.feeds[symbol] = feed
            if self.now_ms == 0:
                self.now_ms = int(feed.open_ms[0]) + self.clock_offset_ms

    def bar_open_ms(self, index: int, symbol: str | None = None) -> int:
        """Open time (ms) of bar ``index`` of the feed of ``symbol`` (the first fed symbol by default)."""
        return int(self._feed(symbol).open_ms[index])

    def set_bar(self, index: int, symbol: str | None = None) -> None:
        """Move the clock to ``clock_offset_ms`` after the open of bar ``index``; bars before it are closed."""
        self.set_time(self.bar_open_ms(index, symbol) + self.clock_offset_ms)

    def advance(self, n_bars: int = 1, symbol: str | None = None) -> None:
        """Move the clock ``n_bars`` base bars on, triggering SL/TP and limit orders on the bars that closed."""
        feed = self._feed(symbol)
        self.set_time(self.now_ms + n_bars * feed.base_ms)

    def set_time(self, now_ms: int) -> None:
        """Set the exchange clock (UTC ms); moving forward processes the bars that closed meanwhile."""
        with self.lock:
            old = self.now_ms
            self.now_ms = int(now_ms)
            if self.now_ms > old:
                for symbol, feed in self.account.feeds.items():
                    self.account.on_bars_closed(symbol, feed.closed_between(old, self.now_ms), feed)

    @property
    def bar_index(self) -> int:
        """Index of the bar forming at the current clock (first fed symbol)."""
        return self._feed(None).forming_index(self.now_ms)

    def _feed(self, symbol: str | None) -> CandleFeed:
        feeds = self.account.feeds
        if not feeds:
            raise RuntimeError("no candles fed; call BybitEmulator.feed(symbol, frame) first")
        return feeds[symbol] if symbol is not None else next(iter(feeds.values()))

    # ------------------------------------------------------------------------------------------------ faults + log
    def inject(self, path: str, *faults: Fault) -> None:
        """Queue ``faults`` for ``path`` (e.g. ``"/v5/order/create"``); each request consumes one."""
        with self.lock:
            self._faults[path].extend(faults)

    def set_down(self, is_down: bool = True) -> None:
        """Start (True) or end (False) an outage: meanwhile every request answers HTTP 503 and nothing is processed."""
        with self.lock:
            self.is_down = is_down

    def pending_faults(self, path: str) -> int:
        """Faults still queued for ``path``."""
        with self.lock:
            return len(self._faults[path])

    def count(self, path: str, method: str | None = None) -> int:
        """Requests received for ``path`` (optionally only ``method``), failed ones included."""
        with self.lock:
            return sum(1 for r in self.requests if r.path == path and (method is None or r.method == method))

    def clear_requests(self) -> None:
        """Forget the request log."""
        with self.lock:
            self.requests.clear()

    def set_limit_fill_fraction(self, fraction: float) -> None:
        """Each bar that trades through a resting limit order fills only ``fraction`` of its quantity (a partial
        fill; 1 restores whole fills)."""
        if not 0 < fraction <= 1:
            raise ValueError(f"limit fill fraction={fraction} must lie in (0, 1]")
        with self.lock:
            self.account.limit_fill_fraction = fraction

    def orders_with_link_id(self, link_id: str) -> int:
        """How many orders the exchange holds with this orderLinkId (0 or 1: duplicates are refused)."""
        with self.lock:
            return sum(1 for o in self.account.orders if o.link_id == link_id)

    def _pop_fault(self, path: str) -> Fault | None:
        with self.lock:
            queue = self._faults.get(path)
            return queue.popleft() if queue else None

    def _wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    # ------------------------------------------------------------------------------------------------ auth
    def check_auth(self, headers: dict[str, str], payload: str) -> None:
        """Verify Bybit V5 HMAC headers; raise the retCode Bybit would send."""
        key = headers.get("x-bapi-api-key", "")
        if key != self.api_key:
            raise BybitApiError(10003, "API key is invalid.")
        ts, recv, sign = (headers.get(h, "") for h in ("x-bapi-timestamp", "x-bapi-recv-window", "x-bapi-sign"))
        if not ts.isdigit() or not sign:
            raise BybitApiError(10004, "error sign! missing X-BAPI-TIMESTAMP or X-BAPI-SIGN")
        server_ms = int(time.time() * 1000) + self.clock_skew_ms
        window = int(recv) if recv.isdigit() else 5_000
        if not server_ms - window <= int(ts) < server_ms + self.recv_window_tolerance_ms:
            raise BybitApiError(
                10002,
                f"invalid request, please check your server timestamp or recv_window param. req_timestamp[{ts}],"
                f"server_timestamp[{server_ms}],recv_window[{window}]",
            )
        expected = hmac.new(self.api_secret.encode(), (ts + key + recv + payload).encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, sign):
            # Bybit echoes the signed string, API key included, as ccxt then shows it in its error message
            raise BybitApiError(10004, f"error sign! origin_string[{ts}{key}{recv}{payload}]")

    # ------------------------------------------------------------------------------------------------ dispatch
    def handle(self, method: str, path: str, raw_query: str, raw_body: str, headers: dict[str, str]) -> tuple[int, str]:
        """Answer one request: (HTTP status, body). Called from the server threads."""
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        body: dict[str, Any] | None = None
        if raw_body:
            try:
                body = json.loads(raw_body)
            except json.JSONDecodeError:
                return 200, _envelope(None, 10001, "request body is not valid JSON", self.now_ms)
        with self.lock:
            self.requests.append(RequestRecord(method, path, query, body, headers.get("x-bapi-api-key")))
            if self.is_down:
                return 503, "<html><body>503 Service Temporarily Unavailable</body></html>"
        fault = self._pop_fault(path)
        if fault is not None and fault.kind == "http":
            return fault.status, fault.message
        if fault is not None and fault.kind == "timeout" and not fault.after:
            self._wait(fault.delay_s)
            return 504, "<html><body>504 Gateway Time-out</body></html>"
        if fault is not None and fault.kind == "retcode":
            return 200, _envelope({}, fault.ret_code, fault.message, self.now_ms)
        answer = self._dispatch(
            method,
            path,
            query,
            body or {},
            raw_query if method == "GET" else raw_body,
            headers,
            fault.fill_fraction if fault is not None and fault.kind == "partial_fill" else 1.0,
        )
        if fault is not None and fault.kind == "timeout":
            self._wait(fault.delay_s)
        return 200, answer

    def _dispatch(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        body: dict[str, Any],
        payload: str,
        headers: dict[str, str],
        fill_fraction: float,
    ) -> str:
        route: Callable[..., Any] | None = bybit_routes.ROUTES.get((method, path))
        try:
            if route is None:
                raise BybitApiError(10001, f"emulator has no route {method} {path}")
            if path not in PUBLIC_PATHS:
                self.check_auth(headers, payload)
            with self.lock:
                result = route(self, query if method == "GET" else body, fill_fraction)
        except BybitApiError as e:
            return _envelope({}, e.ret_code, e.message, self.now_ms)
        return _envelope(result, 0, "OK", self.now_ms)


def bybit_id(symbol: str) -> str:
    """The emulator's market id of a ccxt symbol (``BTC/USDT:USDT`` -> ``BTCUSDT``); a Bybit id passes unchanged."""
    return symbol.split(":")[0].replace("/", "")


@contextmanager
def serving(markets: Mapping[str, pd.DataFrame], bar: int) -> Iterator[BybitEmulator]:
    """An emulator serving each market's candles (keyed by ccxt symbol or Bybit id), the clock at bar ``bar``."""
    with BybitEmulator() as emu:
        for symbol, frame in markets.items():
            emu.feed(bybit_id(symbol), frame)
        emu.set_bar(bar)
        yield emu


def _envelope(result: Any, ret_code: int, message: str, now_ms: int) -> str:
    return json.dumps({"retCode": ret_code, "retMsg": message, "result": result, "retExtInfo": {}, "time": now_ms})


def _make_handler(emulator: BybitEmulator) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw_body = self.rfile.read(length).decode() if length else ""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, text = emulator.handle(method, parts.path, parts.query, raw_body, headers)
            data = text.encode()
            try:
                self.send_response(status)
                is_json = text.startswith("{")
                self.send_header("Content-Type", "application/json" if is_json else "text/html")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-Bapi-Limit", "10")
                self.send_header("X-Bapi-Limit-Status", "9")
                self.send_header("X-Bapi-Limit-Reset-Timestamp", str(int(time.time() * 1000) + 1000))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                return  # the client gave up (timeout fault): nothing left to answer

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, format: str, *args: Any) -> None:
            return

    return _Handler
