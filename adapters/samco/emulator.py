"""A strict Samco emulator: Samco's REST API and streaming socket on loopback, over the shared market.

- Session: POST /session/token with the demo apiKey and apiSecret gives an HS256 JWT whose `exp` is
  08:00 IST of the next calendar day on the emulator's clock (`clock.advance()` crosses it). Every
  other call needs it as `x-session-token`: missing, forged, logged out or expired -> 401 with
  Samco's failure envelope. `login_gate` (an asyncio.Event) holds logins, so a test can watch
  orders wait for a renewal.
- Static IP: order entry (place, modify, cancel) from an address not in `registered_ips` gets 403
  "The IP is not the registered static IP"; GET /ip/whoami says srcIp, primaryIp, matches.
- Orders: Samco's field names, every value a string, strict checks (symbol, lot multiple, tick,
  product per exchange, validity DAY/IOC). Market hours from india's calendar: outside them an
  order without `afterMarketOrderFlag: YES` is a Failure ("Market is closed"); an after-market
  order is "After market order req received" and reaches the matching engine at the next open.
  A margin shortfall is accepted and shown Rejected with an RMS rejectionReason.
- Market: `SimExchange` (seeded random walk, the shared matching engine, one funded account).
- Streaming: `emulator_ws.StreamServer` at /stream.
- Faults: `faults` (latency, error rate, 5xx bursts, `ws_drop_after`) and `faults.lose_write_responses`
  (an order request is carried out, then answered 503: the outcome-unknown case).
- Readings of what Samco leaves open, as knobs (defaults are the most likely reading):
  `expiry_rule` "next_day" (a token lives until 08:00 IST of the next calendar day, the seed's
  words) or "next_eight" (the next 08:00 after issue: 08:00 the same day before eight);
  `rate_limit` (calls, window_s): Samco publishes no numbers, so none by default; over it, 429
  with the Failure envelope; `rms_after_ack`: placeOrder answers PENDING and the RMS decides a
  tick later (a margin shortfall then shows Rejected in the order book); `cancel_delay_s`: a
  cancel is accepted at once and carried out at the exchange that much later on the emulator's
  clock (the order may fill meanwhile); `minimal_trade_book`: trade book rows without tradeNumber
  and tradeQuantity, filledQuantity the order's cumulative fill; `login_ip_check`: a login from
  an unregistered address is refused with EOAUTH009 (seen only in third-party code, so off);
  `forbid` {path prefix: text}: those calls answered 403 with that text.
"""

from __future__ import annotations

import asyncio
import hmac
import random
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
import structlog
from aiohttp import web

from adapters.india import IST, Exchange, default_calendar, ist_date, to_ns
from adapters.samco import schemas as w
from adapters.samco.auth import session_expiry_ns
from adapters.samco.client import ORDER_ENTRY
from adapters.samco.emulator_market import (
    ORDER_TYPES,
    SCRIPS,
    DayStats,
    EmuOrder,
    OrderNumbers,
    ScripSpec,
    candles,
    depth_tick,
    details,
    order_row,
    position_rows,
    quote_reply,
    quote_tick,
    samco_exchange,
    trade_row,
)
from adapters.samco.emulator_ws import StreamServer
from adapters.samco.scrip import render
from adapters.simulation.emulation import EmulatorServer, Faults, fault_middleware
from adapters.simulation.exchange import (
    EmulatorClock,
    ExchangeError,
    ExchangeEvent,
    OrderFilled,
    PublicTraded,
    QuoteTicked,
)
from adapters.simulation.matching import SimOrder
from engine.events import Side, TimeInForce
from engine.venue import jwt

log = structlog.get_logger("tickbus.emulator.samco")
NS = 1_000_000_000
EIGHT = dtime(8, 0)
OWNER = "DEMO01"
CLAIMS = web.RequestKey("claims", dict)  # the verified session token's payload
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DEFAULT_FUNDS = Decimal(10_000_000)  # one crore rupees
DEFAULT_HOLDINGS = {"RELIANCE": (Decimal(100), Decimal("1210.40")), "INFY": (Decimal(50), Decimal("1460.00")),
                    "TCS": (Decimal(20), Decimal("3325.50")), "SBIN": (Decimal(200), Decimal("805.25"))}
PUBLIC_PATHS = frozenset({"/session/token", "/ScripMaster.csv"})
STATIC_IP_TEXT = "The IP is not the registered static IP"
CLOSED_TEXT = "Market is closed. Place it as an after market order (afterMarketOrderFlag YES)."
PRODUCTS = {Exchange.NSE: ("CNC", "MIS"), Exchange.BSE: ("CNC", "MIS"), Exchange.NFO: ("NRML", "MIS")}


def failure(status: int, message: str, code: str | None = None, now_ns: int | None = None) -> web.Response:
    """Samco's failure envelope."""
    body: dict[str, Any] = {"serverTime": _server_time(now_ns), "msgId": str(uuid.uuid4()), "status": "Failure", "statusMessage": message}
    if code is not None:
        body["errorCode"] = code
    return web.json_response(body, status=status)


def reply(payload: msgspec.Struct) -> web.Response:
    return web.Response(body=w.encode(payload), content_type="application/json")


def fault_response(status: int) -> web.Response:
    text = {429: "Too many requests", 503: "Service Unavailable"}.get(status, "Internal Server Error")
    return failure(status, text)


def next_eight_ns(issued_ns: int) -> int:
    """The first 08:00 IST after `issued_ns` (the same day's before eight): `expiry_rule` "next_eight"."""
    day = ist_date(issued_ns)
    eight = to_ns(datetime.combine(day, EIGHT, IST))
    return eight if eight > issued_ns else to_ns(datetime.combine(day + timedelta(days=1), EIGHT, IST))


def _server_time(now_ns: int | None) -> str:
    """Samco's serverTime ("dd/MM/yy HH:mm:ss", IST) on the emulator's clock when given."""
    now = datetime.now(IST) if now_ns is None else datetime.fromtimestamp(now_ns / NS, IST)
    return now.strftime("%d/%m/%y %H:%M:%S")


class Refused(Exception):
    """A request refused with Samco's failure envelope (status 400 unless told)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _start_ns(start: datetime | None) -> int | None:
    if start is None:
        return None
    return to_ns(start if start.tzinfo is not None else start.replace(tzinfo=IST))


class SamcoEmulator(EmulatorServer):
    venue = "samco"
    ws_path = "/stream"

    def __init__(
        self,
        *,
        seed: int = 1,
        start: datetime | None = None,
        funds: Decimal = DEFAULT_FUNDS,
        registered_ips: list[str] | None = None,
        tick_interval_s: float = 0.1,
        scrips: tuple[ScripSpec, ...] = SCRIPS,
        log_requests: bool = False,
    ) -> None:
        super().__init__(log_requests=log_requests)
        self.clock = EmulatorClock(_start_ns(start))
        self.calendar = default_calendar()
        self.faults = Faults(seed=seed)
        self.scrips = {s.key: s for s in scrips}
        self.by_token = {s.token: s for s in scrips}
        self.exchange = samco_exchange(scrips, seed=seed, clock=self.clock, calendar=self.calendar, tick_interval_s=tick_interval_s)
        self.funds = funds
        balances = {"INR": funds, **{name: qty for name, (qty, _) in DEFAULT_HOLDINGS.items()}}
        self.exchange.open_account(OWNER, balances)
        rng = random.Random(seed)
        self.api_key = "".join(rng.choice("0123456789abcdef") for _ in range(32))
        self.api_secret = "".join(rng.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") for _ in range(40))
        self.jwt_secret = rng.randbytes(32)
        self.registered_ips: list[str] = list(registered_ips if registered_ips is not None else ["127.0.0.1"])
        self.login_gate: asyncio.Event | None = None
        self.expiry_rule = "next_day"  # or "next_eight"
        self.rate_limit: tuple[int, float] | None = None  # (calls, window_s)
        self.rms_after_ack = False
        self.cancel_delay_s = 0.0
        self.minimal_trade_book = False
        self.login_ip_check = False
        self.forbid: dict[str, str] = {}
        self.rate_limited = 0
        self._calls: deque[float] = deque()
        self.logins = 0
        self.issued: list[str] = []  # the token id (jti) of every login, in order
        self.unauthorized = 0
        self.ip_refusals = 0
        self.orders: dict[str, EmuOrder] = {}
        self.stream = StreamServer(self, self.faults)
        self._numbers = OrderNumbers()
        self._by_sim: dict[str, EmuOrder] = {}
        self._revoked: set[str] = set()
        self._days = {s.key: DayStats(prev_close=s.price) for s in scrips}
        self._keeper: asyncio.Task[None] | None = None
        self._unlisten: Callable[[], None] | None = None

    # --- EmulatorServer -----------------------------------------------------------------------

    def credentials(self) -> dict[str, str]:
        return {"api_key": self.api_key, "api_secret": self.api_secret, "client_id": OWNER, "funds_inr": str(self.funds)}

    def build_app(self) -> web.Application:
        exempt = lambda request: request.path == self.ws_path  # noqa: E731 - the socket has its own faults
        app = web.Application(
            middlewares=[
                self.log_middleware,
                fault_middleware(self.faults, fault_response, exempt=exempt, is_write=lambda r: r.path.startswith(ORDER_ENTRY)),
                self._limits,
                self._refusals,
                self._auth,
                self._static_ip,
            ]
        )
        get, post, put, delete = "GET", "POST", "PUT", "DELETE"
        routes: list[tuple[str, str, Handler]] = [
            (post, "/session/token", self.session_token),
            (get, "/ScripMaster.csv", self.scrip_master),
            (get, "/ip/whoami", self.whoami),
            (delete, "/logout", self.logout),
            (post, "/order/placeOrder", self.place_order),
            (put, "/order/modifyOrder/{number}", self.modify_order),
            (delete, "/order/cancelOrder", self.cancel_order),
            (get, "/order/orderBook", self.order_book),
            (get, "/order/getOrderStatus", self.order_status),
            (get, "/trade/tradeBook", self.trade_book),
            (get, "/position/getPositions", self.positions),
            (get, "/holding/getHoldings", self.holdings),
            (get, "/limit/getLimits", self.limits),
            (get, "/quote/getQuote", self.quote),
            (get, "/intraday/candleData", self.intraday_candles),
            (get, "/history/candleData", self.historical_candles),
            (get, "/eqDervSearch/search", self.search),
            (get, self.ws_path, self.stream.handle),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        return app

    async def on_start(self) -> None:
        self._unlisten = self.exchange.listen(self._on_exchange)
        self.exchange.start()
        self._keeper = asyncio.get_running_loop().create_task(self._housekeeping(), name="samco-emulator")

    async def on_stop(self) -> None:
        await self.exchange.stop()
        await self.stream.close_all()
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
        if self._unlisten is not None:
            self._unlisten()
        self._keeper = self._unlisten = None

    # --- middlewares and signals --------------------------------------------------------------

    @web.middleware
    async def _limits(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The `rate_limit` knob (one moving window for every call), then the `forbid` knob."""
        if request.path != self.ws_path and self.rate_limit is not None:
            calls, window_s = self.rate_limit
            now = time.monotonic()
            while self._calls and self._calls[0] <= now - window_s:
                self._calls.popleft()
            if len(self._calls) >= calls:
                self.rate_limited += 1
                return self._failure(429, "Too many requests, please try after some time")
            self._calls.append(now)
        for prefix, text in self.forbid.items():
            if request.path.startswith(prefix):
                return self._failure(403, text)
        return await handler(request)

    @web.middleware
    async def _refusals(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except Refused as exc:
            return self._failure(exc.status, exc.message)

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in PUBLIC_PATHS or request.path == self.ws_path:
            return await handler(request)
        claims = self.verify(request.headers.get("x-session-token"))
        if isinstance(claims, web.Response):
            return claims
        request[CLAIMS] = claims
        return await handler(request)

    @web.middleware
    async def _static_ip(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(ORDER_ENTRY) and request.remote not in self.registered_ips:
            self.ip_refusals += 1
            return self._failure(403, STATIC_IP_TEXT)
        return await handler(request)

    def verify(self, token: str | None) -> dict[str, Any] | web.Response:
        """The payload of a live session token, or Samco's 401."""
        if not token:
            self.unauthorized += 1
            return self._failure(401, "x-session-token header is missing")
        try:
            claims = jwt.decode(token, self.jwt_secret, now_s=self.clock.now_ns() / NS)
        except jwt.JwtError as exc:
            self.unauthorized += 1
            if exc.reason == "expired":
                return self._failure(401, "Session expired. Please generate a new session token")
            return self._failure(401, "Invalid session token")
        if claims.get("jti") in self._revoked:
            self.unauthorized += 1
            return self._failure(401, "Session logged out. Please generate a new session token")
        return claims

    def check_token(self, token: str | None) -> web.Response | None:
        verdict = self.verify(token)
        return verdict if isinstance(verdict, web.Response) else None

    # --- session ------------------------------------------------------------------------------

    async def session_token(self, request: web.Request) -> web.Response:
        try:
            creds = w.decode_session_request(await request.read())
        except msgspec.MsgspecError:
            return self._failure(400, "apiKey and apiSecret are required")
        if self.login_gate is not None:
            await self.login_gate.wait()
        if not hmac.compare_digest(creds.apiKey, self.api_key):
            return self._failure(401, "Invalid API key", "EOAUTH001")
        if not hmac.compare_digest(creds.apiSecret, self.api_secret):
            return self._failure(401, "Invalid API secret", "EOAUTH008")
        if self.login_ip_check and request.remote not in self.registered_ips:
            return self._failure(403, "Login is not allowed from an IP that is not registered", "EOAUTH009")
        now = self.clock.now_ns()
        expires = session_expiry_ns(now) if self.expiry_rule == "next_day" else next_eight_ns(now)
        jti = uuid.uuid4().hex
        token = jwt.encode({"sub": OWNER, "iat": now // NS, "exp": expires // NS, "jti": jti}, self.jwt_secret)
        self.logins += 1
        self.issued.append(jti)
        primary, secondary = self._registered()
        return reply(
            w.LoginReply(
                **self._ok("Session token generated successfully"), sessionToken=token,
                validity=datetime.fromtimestamp(expires // NS, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                tokenId=jti, accountID=OWNER, accountName="Demo Account", exchangeList=["NSE", "BSE", "NFO"],
                orderTypeList=list(ORDER_TYPES), productList=["CNC", "MIS", "NRML"], srcIp=request.remote or "",
                primaryIp=primary, secondaryIp=secondary,
            )
        )

    async def scrip_master(self, request: web.Request) -> web.Response:
        return web.Response(text=render(s.scrip() for s in self.scrips.values()), content_type="text/csv")

    async def whoami(self, request: web.Request) -> web.Response:
        primary, secondary = self._registered()
        ip = request.remote or ""
        matched = "primary" if ip == primary else "secondary" if ip == secondary and ip else ""
        return reply(
            w.WhoAmI(
                **self._ok("IP details"), srcIp=ip, primaryIp=primary, secondaryIp=secondary, matches=bool(matched),
                matchedAs=matched, data=w.WhoAmIData(ip=ip, registered=bool(matched)),
            )
        )

    async def logout(self, request: web.Request) -> web.Response:
        self._revoked.add(str(request[CLAIMS].get("jti")))
        return reply(w.Envelope(**self._ok("User has successfully logged out")))

    def _failure(self, status: int, message: str, code: str | None = None) -> web.Response:
        return failure(status, message, code, self.clock.now_ns())

    def _ok(self, message: str) -> dict[str, Any]:
        """The success envelope's fields."""
        return {"serverTime": _server_time(self.clock.now_ns()), "msgId": str(uuid.uuid4()), "status": "Success", "statusMessage": message}

    def _registered(self) -> tuple[str, str]:
        ips = self.registered_ips
        return (ips[0] if ips else "", ips[1] if len(ips) > 1 else "")

    # --- orders -------------------------------------------------------------------------------

    async def place_order(self, request: web.Request) -> web.Response:
        try:
            req = w.decode_order_request(await request.read())
        except msgspec.MsgspecError as exc:
            raise Refused(f"Invalid order request: {exc}") from None
        spec = self._spec(req.exchange, req.symbolName)
        side = {"BUY": Side.BUY, "SELL": Side.SELL}.get(req.transactionType.upper())
        if side is None:
            raise Refused("Invalid transaction type")
        type_code = req.orderType.upper()
        if type_code not in ORDER_TYPES:
            raise Refused("Invalid order type")
        qty = self._quantity(req.quantity, spec)
        price = self._price(req.price, spec, "price") if type_code in ("L", "SL") else None
        trigger = self._price(req.triggerPrice, spec, "trigger price") if type_code in ("SL", "SL-M") else None
        validity = req.orderValidity.upper()
        if validity not in ("DAY", "IOC"):
            raise Refused("Invalid order validity")
        product = req.productType.upper()
        if product not in PRODUCTS.get(Exchange(spec.exchange), ()):
            raise Refused(f"Invalid product type {req.productType} for {spec.exchange}")
        amo = req.afterMarketOrderFlag.upper() == "YES"
        now = self.clock.now_ns()
        market_open = self.calendar.is_open(spec.exchange, now)
        if not market_open and not amo:
            raise Refused(CLOSED_TEXT)
        order = EmuOrder(
            number=self._numbers.next(now), spec=spec, side=side, type_code=type_code, product=product,
            validity=validity, qty=qty, price=price, trigger=trigger, amo=amo, placed_ns=now,
            token_id=str(request[CLAIMS].get("jti")),
        )
        self.orders[order.number] = order
        if market_open and self.rms_after_ack:
            order.state = "ack"  # the RMS looks at it on the next tick
        elif market_open:
            self._submit(order)
        else:
            order.state = "amo"
            order.release_ns = self.calendar.next_open(spec.exchange, now)
        return reply(
            w.PlaceReply(
                **self._ok("Order placed successfully"), orderNumber=order.number,
                exchangeOrderStatus=order.ack_word(), orderDetails=details(order),
            )
        )

    async def modify_order(self, request: web.Request) -> web.Response:
        order = self._order(request.match_info["number"])
        try:
            req = w.decode_modify_request(await request.read())
        except msgspec.MsgspecError as exc:
            raise Refused(f"Invalid modify request: {exc}") from None
        if not order.is_open:
            raise Refused(f"Order cannot be modified as it is in {order.word()} status")
        if req.orderType and req.orderType.upper() != order.type_code:
            raise Refused("Order type cannot be modified")
        qty = self._quantity(req.quantity, order.spec) if req.quantity else None
        price = self._price(req.price, order.spec, "price") if req.price and order.type_code in ("L", "SL") else None
        trigger = self._price(req.triggerPrice, order.spec, "trigger price") if req.triggerPrice and order.type_code in ("SL", "SL-M") else None
        if order.sim is not None:
            try:
                self.exchange.modify(OWNER, order.sim.id, qty=qty, price=price, trigger=trigger)
            except ExchangeError as exc:
                raise Refused(self._rms_text(order, exc) if exc.kind == "insufficient_funds" else exc.message) from None
        order.qty, order.price, order.trigger = qty or order.qty, price or order.price, trigger or order.trigger
        return reply(
            w.PlaceReply(
                **self._ok("Order modified successfully"), orderNumber=order.number,
                exchangeOrderStatus=order.ack_word(), orderDetails=details(order),
            )
        )

    async def cancel_order(self, request: web.Request) -> web.Response:
        order = self._order(request.query.get("orderNumber", ""))
        if not order.is_open:
            raise Refused(f"Order cannot be cancelled as it is in {order.word()} status")
        if self.cancel_delay_s > 0 and order.sim is not None:
            if order.cancel_at_ns is None:
                order.cancel_at_ns = self.clock.now_ns() + int(self.cancel_delay_s * NS)
        else:
            self._cancel_now(order)
        return reply(w.CancelReply(**self._ok("Order cancelled successfully"), orderNumber=order.number))

    def _cancel_now(self, order: EmuOrder) -> None:
        if not order.is_open:
            return  # it filled (or expired) before the exchange got the cancel
        if order.sim is None:
            order.state = "cancelled"
        else:
            self.exchange.cancel(OWNER, order.sim.id)

    async def order_book(self, request: web.Request) -> web.Response:
        rows = [order_row(o) for o in self.orders.values()]
        return reply(w.OrderBookReply(**self._ok("Order Book details retrieved successfully"), orderBookDetails=rows))

    async def order_status(self, request: web.Request) -> web.Response:
        order = self._order(request.query.get("orderNumber", ""))
        return reply(
            w.OrderStatusReply(
                **self._ok("Order status retrieved successfully"), orderNumber=order.number,
                orderStatus=order.word(), orderDetails=details(order),
            )
        )

    async def trade_book(self, request: web.Request) -> web.Response:
        minimal = self.minimal_trade_book
        rows = sorted(((f.id, trade_row(o, f, minimal=minimal)) for o in self.orders.values() for f in o.fills), key=lambda pair: pair[0])
        return reply(w.TradeBookReply(**self._ok("Trade Book details retrieved successfully"), tradeBookDetails=[r for _, r in rows]))

    # --- account ------------------------------------------------------------------------------

    async def positions(self, request: web.Request) -> web.Response:
        kind = request.query.get("positionType", "").upper()
        if kind not in ("DAY", "NET"):
            raise Refused("Invalid position type: DAY or NET")
        marks = {key: self._last(key) for key in self.scrips}
        today = ist_date(self.clock.now_ns()).toordinal()
        rows = position_rows(self.orders.values(), kind, today, marks)
        return reply(w.PositionsReply(**self._ok("Position details retrieved successfully"), positionDetails=rows))

    async def holdings(self, request: web.Request) -> web.Response:
        account = self.exchange.account(OWNER)
        rows = []
        total = Decimal(0)
        for key, spec in self.scrips.items():
            qty = account.total(spec.symbol) if spec.kind == "equity" else Decimal(0)
            if qty <= 0:
                continue
            ltp = Decimal(repr(self._last(key))).quantize(Decimal("0.01"))
            avg = DEFAULT_HOLDINGS.get(spec.symbol, (qty, ltp))[1]
            total += qty * ltp
            rows.append(
                w.HoldingRow(
                    tradingSymbol=spec.trading_symbol, exchange=spec.exchange, productCode="CNC", averagePrice=f"{avg:.2f}",
                    lastTradedPrice=f"{ltp:.2f}", previousClose=f"{spec.price:.2f}", holdingsQuantity=str(int(qty)),
                    collateralQuantity="0", sellableQuantity=str(int(account.free.get(spec.symbol, 0))),
                    holdingsValue=f"{qty * ltp:.2f}", totalGainAndLoss=f"{qty * (ltp - avg):.2f}",
                )
            )
        summary = {"totalHoldingValue": f"{total:.2f}", "holdingsCount": str(len(rows))}
        return reply(w.HoldingsReply(**self._ok("Holding details retrieved successfully"), holdingSummary=summary, holdingDetails=rows))

    async def limits(self, request: web.Request) -> web.Response:
        account = self.exchange.account(OWNER)
        free, used = account.free.get("INR", Decimal(0)), account.locked.get("INR", Decimal(0))
        equity = w.Limit(
            grossAvailableMargin=f"{free + used:.2f}", payInToday="0.00", notionalCash=f"{free + used:.2f}",
            marginUsed=f"{used:.2f}", netAvailableMargin=f"{free:.2f}",
        )
        zero = w.Limit(grossAvailableMargin="0.00", payInToday="0.00", notionalCash="0.00", marginUsed="0.00", netAvailableMargin="0.00")
        return reply(w.LimitsReply(**self._ok("Limits retrieved successfully"), equityLimit=equity, commodityLimit=zero))

    # --- market data --------------------------------------------------------------------------

    async def quote(self, request: web.Request) -> web.Response:
        spec = self._spec(request.query.get("exchange", "NSE"), request.query.get("symbolName", ""))
        bids, asks = self.exchange.book(spec.key, 5)
        state = self.exchange.market(spec.key)
        return reply(quote_reply(spec, state, self._days[spec.key], bids, asks, self.clock.now_ns()))

    async def intraday_candles(self, request: web.Request) -> web.Response:
        q = request.query
        spec = self._spec(q.get("exchange", "NSE"), q.get("symbolName", ""))
        start = self._time(q.get("fromDate", ""), "%Y-%m-%d %H:%M:%S", "fromDate")
        end = self._time(q["toDate"], "%Y-%m-%d %H:%M:%S", "toDate") if q.get("toDate") else self.clock.now_ns()
        interval = q.get("interval", "1")
        if interval not in ("1", "5", "10", "15", "30", "60"):
            raise Refused("Invalid interval")
        rows = [
            w.IntradayCandle(dateTime=w.ist_text(ts, "%Y-%m-%d %H:%M:%S") + ".0", open=f"{o:.2f}", high=f"{h:.2f}",
                             low=f"{lo:.2f}", close=f"{c:.2f}", volume=str(int(v)))
            for ts, (o, h, lo, c, v) in candles(self.exchange.market(spec.key).trades, start, end, int(interval) * 60 * NS)
        ]
        return reply(w.IntradayReply(**self._ok("Intraday candle data retrieved successfully"), intradayCandleData=rows))

    async def historical_candles(self, request: web.Request) -> web.Response:
        q = request.query
        spec = self._spec(q.get("exchange", "NSE"), q.get("symbolName", ""))
        start = self._time(q.get("fromDate", ""), "%Y-%m-%d", "fromDate")
        end = self._time(q["toDate"], "%Y-%m-%d", "toDate") + 86_400 * NS - 1 if q.get("toDate") else self.clock.now_ns()
        rows = [
            w.HistoricalCandle(date=w.ist_text(ts, "%Y-%m-%d"), open=f"{o:.2f}", high=f"{h:.2f}", low=f"{lo:.2f}",
                               close=f"{c:.2f}", ltp=f"{c:.2f}", volume=str(int(v)))
            for ts, (o, h, lo, c, v) in candles(self.exchange.market(spec.key).trades, start, end, 86_400 * NS)
        ]
        return reply(w.HistoryReply(**self._ok("Historical candle data retrieved successfully"), historicalCandleData=rows))

    async def search(self, request: web.Request) -> web.Response:
        exchange = request.query.get("exchange", "").upper()
        text = request.query.get("searchSymbolName", "").upper()
        if not text:
            raise Refused("searchSymbolName is required")
        rows = [
            w.SearchRow(exchange=s.exchange, tradingSymbol=s.trading_symbol, name=s.name, instrument=s.instrument,
                        symbolCode=s.token, lotSize=str(s.lot), tickSize=s.tick, expiryDate=s.expiry, strikePrice=s.strike)
            for s in self.scrips.values()
            if text in s.trading_symbol.upper() and (not exchange or s.exchange == exchange)
        ]
        return reply(w.SearchReply(**self._ok("Search results retrieved successfully"), searchResults=rows))

    # --- the stream's questions ---------------------------------------------------------------

    def quote_text(self, token: str) -> str | None:
        spec = self.by_token.get(token)
        quote = self.exchange.market(spec.key).quote if spec is not None else None
        if spec is None or quote is None:
            return None
        return w.encode(quote_tick(spec, quote, self._days[spec.key])).decode()

    def depth_text(self, token: str) -> str | None:
        spec = self.by_token.get(token)
        if spec is None:
            return None
        bids, asks = self.exchange.book(spec.key, 5)
        frame = {"response": {"streaming_type": "quote2", "data": depth_tick(spec, bids, asks)}}
        return w.encode(frame).decode() + "\n"

    # --- the market's news --------------------------------------------------------------------

    def _on_exchange(self, event: ExchangeEvent) -> None:
        match event:
            case QuoteTicked(quote):
                spec = self.scrips.get(quote.instrument)
                if spec is not None:
                    self.stream.publish(spec.token)
            case PublicTraded(trade):
                self._days[trade.instrument].trade(trade.price, trade.size, trade.ts_ns)
            case OrderFilled(_, fill):
                order = self._by_sim.get(fill.order_id)
                if order is not None:
                    order.fills.append(fill)

    async def _housekeeping(self) -> None:
        """After-market orders reach the exchange at the open; DAY orders expire at the close."""
        while True:
            await asyncio.sleep(self.exchange.tick_interval_s)
            try:
                self._release_and_expire(self.clock.now_ns())
            except Exception as exc:  # one bad step must not end the emulator's sessions
                log.error("housekeeping failed", error=repr(exc), exc_info=exc)

    def _release_and_expire(self, now: int) -> None:
        for order in [o for o in self.orders.values() if o.state == "amo" and o.release_ns <= now]:
            if self.calendar.is_open(order.spec.exchange, now):
                order.state = ""
                self._submit(order)
        for order in [o for o in self.orders.values() if o.state == "ack"]:
            order.state = ""
            self._submit(order)  # the RMS after the acknowledgement
        for order in [o for o in self.orders.values() if o.cancel_at_ns is not None and o.cancel_at_ns <= now]:
            order.cancel_at_ns = None
            self._cancel_now(order)
        self.exchange.expire()

    # --- helpers ------------------------------------------------------------------------------

    def _submit(self, order: EmuOrder) -> None:
        """Into the matching engine; a margin or holdings shortfall is an RMS rejection."""
        now = self.clock.now_ns()
        expires = self.calendar.session_close(order.spec.exchange, now) if order.validity == "DAY" else None
        try:
            sim: SimOrder = self.exchange.place(
                OWNER, symbol=order.spec.key, side=order.side, type=order.type, qty=order.qty, price=order.price,
                trigger=order.trigger, tif=TimeInForce.IOC if order.validity == "IOC" else TimeInForce.DAY, expires_ns=expires,
            )
        except ExchangeError as exc:
            order.state = "rejected"
            order.reason = self._rms_text(order, exc) if exc.kind == "insufficient_funds" else f"RMS:{exc.message}"
            return
        order.sim = sim
        self._by_sim[sim.id] = order
        for fill in self.exchange.fills.get(OWNER, []):
            if fill.order_id == sim.id and fill not in order.fills:
                order.fills.append(fill)  # fills made inside place(), before the order was known

    def _rms_text(self, order: EmuOrder, exc: ExchangeError) -> str:
        account = self.exchange.account(OWNER)
        if order.side is Side.SELL:
            held = account.free.get(order.spec.symbol, Decimal(0))
            return f"RMS:Insufficient holdings: {order.qty} {order.spec.trading_symbol} to sell, {held} available"
        quote = self.exchange.market(order.spec.key).quote
        reference = order.price or order.trigger or Decimal(repr(quote.ask if quote is not None else order.spec.price))
        required = (order.qty * reference).quantize(Decimal("0.01"))
        return f"RMS:Margin Exceeds,Required:{required}, Available:{account.free.get('INR', Decimal(0)):.2f} for {order.spec.trading_symbol}"

    def _spec(self, exchange: str, symbol: str) -> ScripSpec:
        exchange = exchange.upper()
        name = symbol.upper()
        name = name[:-3] if name.endswith("-EQ") else name
        spec = self.scrips.get(f"{exchange}:{name}")
        if spec is None:
            raise Refused(f"Invalid symbol name {symbol} for exchange {exchange}")
        return spec

    def _order(self, number: str) -> EmuOrder:
        order = self.orders.get(number)
        if order is None:
            raise Refused(f"Invalid order number {number}")
        return order

    @staticmethod
    def _quantity(text: str, spec: ScripSpec) -> Decimal:
        try:
            qty = Decimal(text)
        except InvalidOperation:
            raise Refused(f"Invalid quantity {text!r}") from None
        if qty <= 0 or qty != qty.to_integral_value():
            raise Refused(f"Invalid quantity {text!r}")
        if qty % spec.lot:
            raise Refused(f"Quantity should be a multiple of the lot size {spec.lot}")
        return qty

    @staticmethod
    def _price(text: str, spec: ScripSpec, what: str) -> Decimal:
        try:
            price = Decimal(text)
        except InvalidOperation:
            raise Refused(f"Invalid {what} {text!r}") from None
        if price <= 0:
            raise Refused(f"Invalid {what} {text!r}")
        if price % Decimal(spec.tick):
            raise Refused(f"The {what} should be a multiple of the tick size {spec.tick}")
        return price

    @staticmethod
    def _time(text: str, fmt: str, what: str) -> int:
        try:
            return to_ns(datetime.strptime(text, fmt).replace(tzinfo=IST))
        except ValueError:
            raise Refused(f"Invalid {what} {text!r}: expected {fmt.replace('%', '')}") from None

    def _last(self, key: str) -> float:
        day = self._days[key]
        quote = self.exchange.market(key).quote
        return day.last or ((quote.bid + quote.ask) / 2 if quote is not None else self.scrips[key].price)

