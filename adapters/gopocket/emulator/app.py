"""A strict GoPocket emulator: the vendor SSO, the open-api REST endpoints, the contract master, the
order-update webhook and the Noren socket on loopback, over the shared market.

The door (SSO, sessions, rate limits, envelope) is gate.py's, the order desk orders.py's, the market
as GoPocket shows it market.py's, the socket ws.py's. Behind them: `SimExchange` (seeded random
walk, the shared matching engine, one funded account holding the demo shares) on an
`EmulatorClock` (`start` fixes where it begins; market hours are india's calendar on it).

Webhook: `POST /order-notify/webhook/subscribe {"callbackUrl"}` (Bearer; at most five per user;
loopback URLs only - the emulator never reaches outside 127.0.0.0/8), `.../unSubscribe`. Every
order change is posted to each URL as a Noren order-update dict with `Authorization: Bearer
<the subscribing session>`, in order, by one sender task; `webhook_duplicates` sends each twice.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import aiohttp
import structlog
from aiohttp import web
from yarl import URL

from adapters.gopocket import schemas as w
from adapters.gopocket.contracts import render
from adapters.gopocket.emulator.gate import API, SESSION_PATHS, TOKEN, USER, Gate, Handler, Refused, fault_response, ok
from adapters.gopocket.emulator.market import (
    DEFAULT_HOLDINGS,
    OWNER,
    SPECS,
    EmuOrder,
    OrderNumbers,
    Spec,
    depth,
    gopocket_exchange,
    money,
    noren_update,
    position_rows,
    touchline,
)
from adapters.gopocket.emulator.orders import OrderDesk
from adapters.gopocket.emulator.ws import NorenServer
from adapters.gopocket.feed import susertoken
from adapters.india import IST, default_calendar, to_ns
from adapters.simulation.emulation import LOOPBACK, EmulatorServer, Faults, fault_middleware
from adapters.simulation.exchange import (
    EmulatorClock,
    ExchangeEvent,
    FillRecord,
    OrderChanged,
    OrderFilled,
    QuoteTicked,
)
from engine.events import OrderStatus

log = structlog.get_logger("tickbus.emulator.gopocket")
DEFAULT_FUNDS = Decimal(10_000_000)
USER_ID = "GP10001"
MAX_WEBHOOKS = 5
WRITES = (API + "orders/placeorder", API + "orders/modify/", API + "orders/cancel/", API + "orders/exit/sno",
          API + "orders/positions/sqroff")


class GopocketEmulator(Gate, OrderDesk, EmulatorServer):
    venue = "gopocket"
    ws_path = "/NorenWS/"

    def __init__(
        self, *, seed: int = 1, start: datetime | None = None, funds: Decimal = DEFAULT_FUNDS,
        tick_interval_s: float = 0.1, specs: tuple[Spec, ...] = SPECS, log_requests: bool = False,
    ) -> None:
        super().__init__(log_requests=log_requests)
        start_ns = None if start is None else to_ns(start if start.tzinfo else start.replace(tzinfo=IST))
        self.clock = EmulatorClock(start_ns)
        self.calendar = default_calendar()
        self.faults = Faults(seed=seed)
        self.specs: dict[tuple[str, str], Spec] = {}
        for spec in specs:
            self.specs[(spec.exchange, spec.token)] = spec
            self.specs.setdefault((spec.exchange, spec.trading_symbol.upper()), spec)
        self.by_key = {spec.key: spec for spec in specs}
        self.exchange = gopocket_exchange(specs, seed=seed, clock=self.clock, calendar=self.calendar, tick_interval_s=tick_interval_s)
        self.funds = funds
        holdings = {key.split(":", 1)[1]: qty for key, (qty, _) in DEFAULT_HOLDINGS.items()}
        self.exchange.open_account(OWNER, {"INR": funds, **holdings})
        rng = random.Random(seed)
        self.init_gate(USER_ID, rng.randbytes(44))
        self.orders: dict[str, EmuOrder] = {}
        self.socket = NorenServer(self, self.faults)
        self.webhooks: dict[str, list[tuple[str, str]]] = {}  # user -> [(callback url, session)]
        self.webhook_duplicates = False
        self.deliveries: list[tuple[str, int]] = []  # (url, HTTP status) of every delivery made
        self._outbox: asyncio.Queue[tuple[str, str, bytes]] = asyncio.Queue()
        self._numbers = OrderNumbers()
        self._by_sim: dict[str, EmuOrder] = {}
        self._volume: dict[str, float] = {}
        self._last: dict[str, float] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._unlisten: Callable[[], None] | None = None

    # --- EmulatorServer -----------------------------------------------------------------------

    def sim_order_id(self, venue_order_id: str) -> str:
        order = self.orders.get(venue_order_id)
        return order.sim.id if order is not None and order.sim is not None else venue_order_id

    def credentials(self) -> dict[str, str]:
        return {"user_id": self.user_id, "auth_code": self.auth_code, "api_secret": self.api_secret,
                "app_code": self.app_code, "funds_inr": str(self.funds)}

    def build_app(self) -> web.Application:
        exempt = lambda request: request.path == self.ws_path  # noqa: E731 - the socket has its own faults
        app = web.Application(middlewares=[
            self.log_middleware,
            fault_middleware(self.faults, fault_response, exempt=exempt, is_write=lambda r: r.path in WRITES),
            *self.gate_middlewares(),
        ])
        get, post = "GET", "POST"
        routes: list[tuple[str, str, Handler]] = [
            (get, "/", self.login_page),
            *[(post, path, self.get_user_details) for path in SESSION_PATHS],
            (get, "/contract/csv/{name}", self.contract_master),
            (get, API + "profile/", self.profile),
            (get, API + "limits/", self.limits),
            (get, API + "positions", self.positions),
            (get, API + "holdings", self.holdings),
            (get, API + "holdings/{product}", self.holdings),
            (post, API + "orders/placeorder", self.place_order),
            (post, API + "orders/modify/", self.modify_order),
            (post, API + "orders/cancel/", self.cancel_order),
            (post, API + "orders/exit/sno", self.exit_bracket),
            (post, API + "orders/positions/sqroff", self.square_off),
            (post, API + "orders/checkMargin", self.check_margin),
            (get, API + "orders/book", self.order_book),
            (get, API + "orders/trades", self.trade_book),
            (post, API + "orders/history/", self.order_history),
            (post, "/order-notify/webhook/subscribe", self.subscribe_webhook),
            (post, "/order-notify/webhook/unSubscribe", self.unsubscribe_webhook),
            (get, self.ws_path, self.socket.handle),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        return app

    async def on_start(self) -> None:
        self._unlisten = self.exchange.listen(self._on_exchange)
        self.exchange.start()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._housekeeping(), name="gopocket-emulator"),
                       loop.create_task(self._send_webhooks(), name="gopocket-webhooks")]

    async def on_stop(self) -> None:
        await self.exchange.stop()
        await self.socket.close_all()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._unlisten is not None:
            self._unlisten()
        self._tasks, self._unlisten = [], None

    # --- account ------------------------------------------------------------------------------

    async def contract_master(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        exchange = name[:-4] if name.lower().endswith(".csv") else name
        rows = [s.contract() for s in self.by_key.values() if s.exchange == exchange.upper()]
        if not rows:
            return web.Response(status=404, text="Not Found")
        return web.Response(text=render(rows), content_type="text/csv")

    async def profile(self, request: web.Request) -> web.Response:
        return ok([{"clientId": request[USER], "clientName": "Demo Trader", "emailId": "demo@example.invalid",
                    "mobileNo": "90000XXXXX", "brokerName": "SKY", "exchanges": ["NSE", "BSE", "NFO"],
                    "products": ["CNC", "MIS", "NORMAL"]}])

    async def limits(self, request: web.Request) -> web.Response:
        account = self.exchange.account(OWNER)
        free, used = account.free.get("INR", Decimal(0)), account.locked.get("INR", Decimal(0))
        return ok([{"availableMargin": f"{free:.2f}", "openingBalance": f"{self.funds:.2f}", "marginUsed": f"{used:.2f}",
                    "payin": "0.00", "payout": "0.00", "exposure": "0.00", "span": "0.00", "premium": "0.00",
                    "collateral": "0.00"}])

    async def positions(self, request: web.Request) -> web.Response:
        return ok(position_rows(self.orders.values(), {key: self._mark(key) for key in self.by_key}))

    async def holdings(self, request: web.Request) -> web.Response:
        product = request.match_info.get("product", "").upper()
        if product and product not in ("CNC", "DELIVERY", "MTF", "BNPL", "LONGTERM"):
            raise Refused(f"Invalid product {product}")
        account = self.exchange.account(OWNER)
        rows = []
        for key, (_, avg) in DEFAULT_HOLDINGS.items():
            spec, base = self.by_key[key], key.split(":", 1)[1]
            qty = account.total(base)
            if qty > 0 and product != "MTF":
                rows.append({"exchange": spec.exchange, "tradingSymbol": spec.trading_symbol, "instrumentId": spec.token,
                             "isin": spec.isin, "quantity": str(int(qty)), "sellableQuantity": str(int(account.free.get(base, 0))),
                             "averagePrice": f"{avg:.2f}", "ltp": money(self._mark(key))})
        return ok(rows)

    # --- the webhook --------------------------------------------------------------------------

    async def subscribe_webhook(self, request: web.Request) -> web.Response:
        try:
            body = w.decode_webhook_request(await request.read())
        except Exception:  # noqa: BLE001 - any unreadable body is the same refusal
            raise Refused("callbackUrl is required") from None
        url = URL(body.callbackUrl)
        if url.scheme not in ("http", "https") or url.host not in LOOPBACK:
            raise Refused("callbackUrl must be an http(s) URL (the emulator posts to loopback only)")
        subs = self.webhooks.setdefault(request[USER], [])
        if all(u != body.callbackUrl for u, _ in subs):
            if len(subs) >= MAX_WEBHOOKS:
                raise Refused(f"At most {MAX_WEBHOOKS} callback URLs per user")
            subs.append((body.callbackUrl, request[TOKEN]))
        return ok([{"callbackUrl": body.callbackUrl}], "Subscribed")

    async def unsubscribe_webhook(self, request: web.Request) -> web.Response:
        try:
            body = w.decode_webhook_request(await request.read())
        except Exception:  # noqa: BLE001
            raise Refused("callbackUrl is required") from None
        subs = self.webhooks.get(request[USER], [])
        self.webhooks[request[USER]] = [(u, t) for u, t in subs if u != body.callbackUrl]
        return ok([{"callbackUrl": body.callbackUrl}], "Unsubscribed")

    async def _send_webhooks(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            while True:
                url, token, body = await self._outbox.get()
                for _ in range(2 if self.webhook_duplicates else 1):
                    try:
                        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
                        async with session.post(url, data=body, headers=headers) as resp:
                            self.deliveries.append((url, resp.status))
                    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                        self.deliveries.append((url, 0))
                        log.warning("webhook delivery failed", url=URL(url).with_query(None), error=repr(exc))

    # --- the socket's questions ---------------------------------------------------------------

    def session_for_hash(self, uid: str, hashed: str) -> bool:
        return uid == self.user_id and any(susertoken(s) == hashed for s in self.sessions if self.live_session(s))

    def _by_noren(self, token: str) -> Spec | None:
        exchange, _, tk = token.partition("|")
        return self.specs.get((exchange.upper(), tk))

    def touch_frame(self, token: str, ack: bool) -> dict[str, str] | None:
        spec = self._by_noren(token)
        quote = self.exchange.market(spec.key).quote if spec is not None else None
        if spec is None or quote is None:
            return None
        return touchline(spec, quote, self._volume.get(spec.key, 0.0), self._mark(spec.key), ack)

    def depth_frame(self, token: str, ack: bool) -> dict[str, str] | None:
        spec = self._by_noren(token)
        if spec is None:
            return None
        bids, asks = self.exchange.book(spec.key, 5)
        return depth(spec, bids, asks, ack)

    # --- the market's news --------------------------------------------------------------------

    def notify(self, order: EmuOrder, fill: FillRecord | None = None) -> None:
        """An order changed: its history, the socket's `om`, the webhook deliveries."""
        order.note(self.clock.now_ns())
        update = noren_update(order, self.user_id, fill)
        self.socket.order_update(self.user_id, update)
        body = w.encode(update)
        for url, token in self.webhooks.get(self.user_id, []):
            self._outbox.put_nowait((url, token, body))

    def _on_exchange(self, event: ExchangeEvent) -> None:
        match event:
            case QuoteTicked(quote):
                spec = self.by_key.get(quote.instrument)
                if spec is not None:
                    self.socket.publish(f"{spec.exchange}|{spec.token}")
            case OrderFilled(_, fill):
                self._last[fill.instrument] = float(fill.price)
                order = self._by_sim.get(fill.order_id)
                if order is not None:
                    self.add_fill(order, fill)
            case OrderChanged(order=sim):
                emu = self._by_sim.get(sim.id)
                if emu is None:
                    return
                told = sum((f.qty for f in emu.fills), Decimal(0))
                if (sim.is_open and sim.filled == told) or (not sim.is_open and sim.status is not OrderStatus.COMPLETED):
                    self.notify(emu)  # a trigger, a modify, a cancel, an expiry: not a fill's news
            case _:
                pass

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(self.exchange.tick_interval_s)
            try:
                self._release_and_expire(self.clock.now_ns())
                self._public_volume()
            except Exception as exc:  # one bad step must not end the emulator's sessions
                log.error("housekeeping failed", error=repr(exc), exc_info=exc)

    def _public_volume(self) -> None:
        for key in self.by_key:
            trades = self.exchange.market(key).trades
            if trades:
                self._volume[key] = float(sum(t.size for t in list(trades)[-200:]))
                self._last[key] = trades[-1].price

    def _mark(self, key: str) -> float:
        last = self._last.get(key)
        if last:
            return last
        quote = self.exchange.market(key).quote
        return (quote.bid + quote.ask) / 2 if quote is not None else self.by_key[key].price
