"""A strict Firstock emulator: Firstock's V1 REST API and V2 socket on loopback, over the shared market.

The app and its routes, the account and market-data answers, and what the market's news shows.
The door (login, jKey, the daily roll-over, rate limits) is gate.py's, the order desk orders.py's,
the market as Firstock shows it market.py's, the socket (/V2/ws, also /ws) ws.py's; the market
behind it, its start and stop, housekeeping and the exchange's news are the shared
`adapters.simulation.india_emulator.IndiaEmulator`'s.

- Market: `SimExchange` (seeded random walk, the shared matching engine, one funded account with
  demo holdings), told to the emulator as typed events (QuoteTicked -> the socket, PublicTraded ->
  the day's statistics, OrderFilled / OrderChanged -> the order's fills, history and updates).
- Faults: `faults` (latency, error rate, 5xx bursts, socket drops, held and duplicated pushes) and
  `faults.lose_write_responses` (an order request carried out, then answered 503).
- Clock: `start` (an aware datetime, IST if naive) fixes where the emulator's clock begins; market
  hours, after-market orders, the TOTP window, the jKey roll-over and rate limits read it.
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from adapters.firstock import schemas as w
from adapters.firstock.emulator.gate import BODY, Gate, Handler, Refused, fault_response, reply
from adapters.firstock.emulator.market import (
    OWNER,
    SCRIPS,
    EmuOrder,
    ScripSpec,
    candles,
    order_row,
    order_update,
    position_rows,
    quote_data,
    security_info,
    tick,
)
from adapters.firstock.emulator.orders import OrderDesk
from adapters.firstock.emulator.ws import StreamServer
from adapters.india import IST, to_ns
from adapters.simulation.emulation import fault_middleware
from adapters.simulation.exchange import FillRecord
from adapters.simulation.india_emulator import IndiaEmulator
from adapters.simulation.india_market import OrderNumbers

NS = 1_000_000_000
DEFAULT_FUNDS = Decimal(10_000_000)
DEFAULT_HOLDINGS = {"RELIANCE": (Decimal(100), Decimal("1210.40")), "INFY": (Decimal(50), Decimal("1460.00")),
                    "SBIN": (Decimal(200), Decimal("805.25"))}
WRITES = ("/V1/placeOrder", "/V1/modifyOrder", "/V1/cancelOrder", "/V1/placeAMO", "/V1/modifyAMO", "/V1/productConversion")
INTERVALS = {"1mi": 60, "3mi": 180, "5mi": 300, "10mi": 600, "15mi": 900, "30mi": 1800, "60mi": 3600, "1d": 86_400}
_TIME_FORMATS = ("%H:%M:%S %d-%m-%Y", "%d/%m/%Y %H:%M:%S", "%d-%m-%Y %H:%M:%S")


class FirstockEmulator(Gate, OrderDesk, IndiaEmulator[ScripSpec, EmuOrder]):
    venue = "firstock"
    owner = OWNER
    ws_path = "/V2/ws"
    ws_paths = ("/V2/ws", "/ws")
    stream: StreamServer

    def __init__(
        self,
        *,
        seed: int = 1,
        start: datetime | None = None,
        funds: Decimal = DEFAULT_FUNDS,
        tick_interval_s: float = 0.1,
        scrips: tuple[ScripSpec, ...] = SCRIPS,
        log_requests: bool = False,
    ) -> None:
        super().__init__(scrips, seed=seed, start=start, funds=funds, holdings=DEFAULT_HOLDINGS,
                         tick_interval_s=tick_interval_s, log_requests=log_requests)
        self.by_stream_key = {s.stream_key: s for s in scrips}
        self.init_gate(random.Random(seed).randbytes(48))
        self.stream = StreamServer(self, self.faults)
        self._numbers = OrderNumbers(digits=8)  # yymmdd + eight digits ("26112000000001")
        self._closing: set[asyncio.Task[int]] = set()

    # --- EmulatorServer -----------------------------------------------------------------------

    def credentials(self) -> dict[str, str]:
        return {"user_id": self.user_id, "password": self.password, "totp_secret": self.totp_secret,
                "vendor_code": self.vendor_code, "api_key": self.api_key, "funds_inr": str(self.funds)}

    def build_app(self) -> web.Application:
        exempt = lambda request: request.path in self.ws_paths  # noqa: E731 - the socket has its own faults
        app = web.Application(middlewares=[
            self.log_middleware,
            fault_middleware(self.faults, fault_response, exempt=exempt, is_write=lambda r: r.path.startswith(WRITES)),
            *self.gate_middlewares(),
        ])
        routes: dict[str, Handler] = {
            "login": self.login, "logout": self.logout, "userDetails": self.user_details,
            "placeOrder": self.place_order, "modifyOrder": self.modify_order, "cancelOrder": self.cancel_order,
            "placeAMO": self.place_amo, "modifyAMO": self.modify_amo, "orderBook": self.order_book,
            "singleOrderHistory": self.single_order_history, "tradeBook": self.trade_book,
            "positionBook": self.position_book, "holdings": self.holdings, "limit": self.limit,
            "orderMargin": self.order_margin, "productConversion": self.product_conversion,
            "getQuote": self.get_quote, "getQuote/ltp": self.get_ltp, "getMultiQuotes": self.multi_quotes,
            "getMultiQuotes/ltp": self.multi_ltp, "searchScrips": self.search_scrips, "securityInfo": self.security,
            "timePriceSeries": self.time_price_series,
        }
        for name, handler in routes.items():
            app.router.add_post(f"/V1/{name}", handler)
        for path in self.ws_paths:
            app.router.add_get(path, self.stream.handle)
        return app

    def expire_sessions(self) -> bool:
        super().expire_sessions()
        task = asyncio.get_running_loop().create_task(self.stream.close_lapsed())
        self._closing.add(task)  # kept until done: a bare task may be collected mid-flight
        task.add_done_callback(self._closing.discard)
        return True

    # --- account ------------------------------------------------------------------------------

    async def position_book(self, request: web.Request) -> web.Response:
        rows = position_rows(self.orders.values(), {key: self._last(key) for key in self.scrips})
        return reply(w.PositionBookReply(status="success", message="Position book", data=rows))

    async def holdings(self, request: web.Request) -> web.Response:
        account = self.exchange.account(OWNER)
        rows = []
        for spec in self.scrips.values():
            qty = account.total(spec.symbol) if spec.kind == "equity" else Decimal(0)
            if qty <= 0:
                continue
            avg = DEFAULT_HOLDINGS.get(spec.symbol, (qty, Decimal(repr(spec.price))))[1]
            scrip = w.HoldingScrip(exchange=spec.exchange, token=spec.token, tradingSymbol=spec.trading_symbol,
                                   tickSize=spec.tick, lotSize=str(spec.lot))
            rows.append(w.HoldingRow(exchangeTradingSymbol=[scrip], holdQuantity=str(int(qty)), uploadPrice=f"{avg:.2f}",
                                     BTSTQuantity="0", usedQuantity=str(int(qty - account.free.get(spec.symbol, qty))),
                                     tradeQuantity="0", sellAmount="0.00"))
        return reply(w.HoldingsReply(status="success", message="Holdings", data=rows))

    async def limit(self, request: web.Request) -> web.Response:
        account = self.exchange.account(OWNER)
        free, used = account.free.get("INR", Decimal(0)), account.locked.get("INR", Decimal(0))
        data = w.LimitData(brkcollamt="0.00", cash=f"{free + used:.2f}", collateral="0.00", expo="0.00",
                           marginused=f"{used:.2f}", payin="0.00", peak_mar=f"{used:.2f}", premium="0.00", span="0.00",
                           requestTime=w.ist_text(self.clock.now_ns()))
        return reply(w.LimitReply(status="success", message="Limits", data=data))

    # --- market data --------------------------------------------------------------------------

    def _quote_of(self, exchange: str, trading_symbol: str) -> w.QuoteData:
        spec = self._spec(exchange, trading_symbol)
        bids, asks = self.exchange.book(spec.key, 5)
        return quote_data(spec, self.exchange.market(spec.key).quote, self._days[spec.key], bids, asks, self.clock.now_ns())

    async def get_quote(self, request: web.Request) -> web.Response:
        body = request[BODY]
        data = self._quote_of(str(body.get("exchange", "")), str(body.get("tradingSymbol", "")))
        return reply(w.QuoteReply(status="success", message="Quote", data=data))

    async def get_ltp(self, request: web.Request) -> web.Response:
        body = request[BODY]
        q = self._quote_of(str(body.get("exchange", "")), str(body.get("tradingSymbol", "")))
        data = w.QuoteData(exchange=q.exchange, tradingSymbol=q.tradingSymbol, token=q.token,
                           lastTradedPrice=q.lastTradedPrice, requestTime=q.requestTime)
        return reply(w.QuoteReply(status="success", message="LTP", data=data))

    def _multi(self, body: dict[str, Any], ltp_only: bool) -> list[w.QuoteData]:
        items = body.get("data")
        if not isinstance(items, list) or not items:
            raise Refused("data must be a list of {exchange, tradingSymbol}", field="data")
        out = []
        for item in items:
            exchange, symbol = (str(item.get(k, "")) for k in ("exchange", "tradingSymbol")) if isinstance(item, dict) else ("", "")
            try:
                q = self._quote_of(exchange, symbol)
            except Refused as exc:
                out.append(w.QuoteData(exchange=exchange, tradingSymbol=symbol, status="failed",
                                       error=w.ErrorDetail(field="tradingSymbol", message=exc.message)))
                continue
            out.append(w.QuoteData(exchange=q.exchange, tradingSymbol=q.tradingSymbol, token=q.token,
                                   lastTradedPrice=q.lastTradedPrice, requestTime=q.requestTime) if ltp_only else q)
        return out

    async def multi_quotes(self, request: web.Request) -> web.Response:
        return reply(w.MultiQuoteReply(status="success", message="Quotes", data=self._multi(request[BODY], False)))

    async def multi_ltp(self, request: web.Request) -> web.Response:
        return reply(w.MultiQuoteReply(status="success", message="LTPs", data=self._multi(request[BODY], True)))

    async def search_scrips(self, request: web.Request) -> web.Response:
        text = str(request[BODY].get("stext", "")).upper().strip()
        if not text:
            raise Refused("stext is required", field="stext")
        rows = [w.SearchRow(token=s.token, exchange=s.exchange, companyName=s.name, representationName=s.trading_symbol,
                            instrumentName=s.instrument, tradingSymbol=s.trading_symbol)
                for s in self.scrips.values() if text in s.trading_symbol or text in s.name]
        return reply(w.SearchReply(status="success", message="Search results", data=rows))

    async def security(self, request: web.Request) -> web.Response:
        body = request[BODY]
        spec = self._spec(str(body.get("exchange", "")), str(body.get("tradingSymbol", "")))
        return reply(w.SecurityInfoReply(status="success", message="Security info", data=security_info(spec)))

    async def time_price_series(self, request: web.Request) -> web.Response:
        body = request[BODY]
        spec = self._spec(str(body.get("exchange", "")), str(body.get("tradingSymbol", "")))
        span = INTERVALS.get(str(body.get("interval", "")))
        if span is None:
            raise Refused(f"Invalid interval: one of {', '.join(INTERVALS)}", field="interval")
        start, end = (self._time(str(body.get(k, "")), k) for k in ("startTime", "endTime"))
        rows = candles(self.exchange.market(spec.key).trades, start, end, span * NS)
        return reply(w.SeriesReply(status="success", message="Time price series", data=rows))

    @staticmethod
    def _time(text: str, what: str) -> int:
        for fmt in _TIME_FORMATS:
            try:
                return to_ns(datetime.strptime(text.strip(), fmt).replace(tzinfo=IST))
            except ValueError:
                continue
        raise Refused(f"Invalid {what} {text!r}: expected HH:MM:SS DD-MM-YYYY", field=what)

    # --- the socket's questions and the market's news -----------------------------------------

    def tick_text(self, key: str) -> str | None:
        spec = self.by_stream_key.get(key)
        quote = self.exchange.market(spec.key).quote if spec is not None else None
        if spec is None or quote is None:
            return None
        bids, asks = self.exchange.book(spec.key, 5)
        return w.encode(tick(spec, quote, self._days[spec.key], bids, asks, self.clock.now_ns())).decode()

    def on_order_change(self, order: EmuOrder, report_type: str, fill: FillRecord | None = None) -> None:
        """A state the order is shown in: into its history, and to the user's sockets."""
        now = self.clock.now_ns()
        order.history.append(order_row(order, report_type, now))
        order.shown = order.word()
        self.stream.publish_order(OWNER, w.encode(order_update(order, report_type, now, fill)).decode())

    def prev_close(self, key: str) -> float:
        return self._days[key].prev_close

    def publish_quote(self, spec: ScripSpec) -> None:
        self.stream.publish_tick(spec.stream_key)

    def on_sim_change(self, order: EmuOrder) -> None:
        if order.word() != order.shown:
            kind = {"CANCELED": "Canceled", "REJECTED": "Rejected"}.get(order.word(), "Replaced")
            self.on_order_change(order, kind)

    async def housekeep(self) -> None:
        """After-market orders reach the exchange at the open; DAY orders lapse at the close;
        sockets of ended sessions close."""
        await super().housekeep()
        await self.stream.close_lapsed()
