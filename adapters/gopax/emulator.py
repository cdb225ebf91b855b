"""A strict GOPAX emulator: GOPAX's REST API and websocket on loopback, over the shared market.

- REST: every endpoint the adapter uses, in GOPAX's shapes; errors as {errorMessage, errorCode}
  with GOPAX's codes.
- The door (`emulator_gate`): both signing schemes verified over the raw request, timestamps,
  nonces; 20 calls per moving second per key (private) and per IP (public), the book 1/s, FOK
  orders and own trades 2/s, a deep trade search 1/s: over them, 429 with code 10105.
- Market: `SimExchange` (seeded random walk, the shared matching engine, one funded account).
- Socket: `emulator_ws.SocketServer` at /ws.
- Faults: `faults` (latency, error rate, 5xx bursts, `ws_drop_after`), plus `lose_book_deltas`
  (deltas silently not sent) and `faults.lose_write_responses` (a POST/DELETE is carried out, then
  answered 503: the outcome-unknown case).
- Readings of what the sources leave open, as knobs:
  `book_sequence` - what `GET /book`'s `sequence` holds: "entry" (the socket's entry-id counter,
  the default), "foreign" (a number on another scale) or "missing";
  `placement_status` - a status word the answer to POST /orders carries instead of the real one
  (a word GOPAX may add);
  `ws_client_order_ids` - the socket's order objects carry `clientOrderId` (the docs show none:
  off by default).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec
from aiohttp import web

from adapters.gopax import schemas as w
from adapters.gopax.auth import secret_key
from adapters.gopax.emulator_gate import (
    OWNER_KEY,
    Gate,
    Handler,
    error,
    fault_response,
    reply,
)
from adapters.gopax.emulator_market import (
    ASSET_NAMES,
    DEFAULT_PAIRS,
    KRW_TICKS,
    NS,
    VISIBLE_AFTER_DONE_NS,
    EntryIds,
    OrderMeta,
    PairSpec,
    PublicBook,
    is_resting,
    num,
    own_trade,
    rest_order,
    seconds,
    spot_exchange,
    tick_for,
    window,
    ws_order,
    ws_trade,
)
from adapters.gopax.emulator_ws import SocketServer
from adapters.simulation.account import FeeSchedule
from adapters.simulation.emulation import EmulatorServer, Faults, fault_middleware
from adapters.simulation.exchange import (
    BalanceChanged,
    EmulatorClock,
    ExchangeError,
    ExchangeEvent,
    FillRecord,
    OrderChanged,
    OrderFilled,
    PublicTrade,
    PublicTraded,
    QuoteTicked,
)
from adapters.simulation.matching import SimOrder
from engine.events import OrderType, Side, TimeInForce

OWNER = "demo"
DEFAULT_BALANCES = {"KRW": "100000000", "BTC": "1", "ETH": "20", "XRP": "50000"}
MIN_ORDER_KRW = Decimal(1000)
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,20}")
ORDER_TYPES = {"limit": OrderType.LIMIT, "market": OrderType.MARKET}
TIFS = {"gtc": TimeInForce.GTC, "po": TimeInForce.POST_ONLY, "ioc": TimeInForce.IOC, "fok": TimeInForce.FOK}
EXCHANGE_ERRORS = {
    "insufficient_funds": (400, 201),
    "duplicate_client_id": (400, 10222),
    "unknown_instrument": (400, 101),
    "market_closed": (400, 105),
    "not_found": (404, 10069),
}


class GopaxEmulator(EmulatorServer):
    venue = "gopax"
    ws_path = "/ws"

    def __init__(
        self,
        *,
        seed: int = 1,
        pairs: tuple[PairSpec, ...] = DEFAULT_PAIRS,
        balances: dict[str, str] | None = None,
        tick_interval_s: float = 0.1,
        ping_interval_s: float = 30.0,
        ticker_interval_s: float = 1.0,
        fee_bps: Decimal = Decimal(20),
        log_requests: bool = False,
    ) -> None:
        super().__init__(log_requests=log_requests)
        self.clock = EmulatorClock()
        self.faults = Faults(seed=seed)
        self.pairs = {p.name: p for p in pairs}
        self.exchange = spot_exchange(
            pairs, seed=seed, clock=self.clock, fees=FeeSchedule(bps=fee_bps), tick_interval_s=tick_interval_s
        )
        self.exchange.open_account(OWNER, {k: Decimal(v) for k, v in (balances or DEFAULT_BALANCES).items()})
        rng = random.Random(seed)
        self.api_key = "".join(rng.choice("0123456789abcdef") for _ in range(64))
        self.secret = base64.b64encode(rng.randbytes(32)).decode()
        self.legacy_api_key = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self.legacy_secret = base64.b64encode(rng.randbytes(32)).decode()
        self.gate = Gate(
            {self.api_key: (OWNER, secret_key(self.secret)), self.legacy_api_key: (OWNER, secret_key(self.legacy_secret))},
            self.now_ms, exempt=self.ws_path,
        )
        self.entry_ids = EntryIds()
        self.books = {p.name: PublicBook(p, tick_for(p.price), self.entry_ids) for p in pairs}
        self.meta: dict[str, OrderMeta] = {}
        self.resting: dict[str, dict[str, SimOrder]] = {p.name: {} for p in pairs}
        self.sockets = SocketServer(self, self.faults, ping_interval_s=ping_interval_s)
        self.ticker_interval_s = ticker_interval_s
        self.book_sequence: str = "entry"  # "entry" | "foreign" | "missing"
        self.placement_status: str | None = None
        self.ws_client_order_ids = False
        self._dirty_pairs: set[str] = set()
        self._dirty_orders: dict[str, SimOrder] = {}
        self._dirty_balances: set[tuple[str, str]] = set()
        self._fills_out: list[FillRecord] = []
        self._flush_pending = False
        self._tasks: list[asyncio.Task[None]] = []
        self._unlisten: Callable[[], None] | None = None

    # --- EmulatorServer -----------------------------------------------------------------------

    def credentials(self) -> dict[str, str]:
        return {
            "api_key": self.api_key,
            "secret": self.secret,
            "legacy_api_key": self.legacy_api_key,
            "legacy_secret": self.legacy_secret,
        }

    def build_app(self) -> web.Application:
        exempt = lambda request: request.path == self.ws_path  # noqa: E731 - the socket has its own faults
        app = web.Application(
            middlewares=[
                self.log_middleware,
                fault_middleware(self.faults, fault_response, exempt=exempt, is_write=lambda r: r.method in ("POST", "DELETE")),
                self.gate.limit,
                self.gate.auth,
            ]
        )
        get, post, delete = "GET", "POST", "DELETE"
        routes: list[tuple[str, str, Handler]] = [
            (get, "/balances", self.get_balances),
            (get, "/balances/{asset}", self.get_balance),
            (get, "/orders", self.get_orders),
            (get, "/orders/clientOrderId/{cid}", self.get_order_by_client_id),
            (get, "/orders/{order_id}", self.get_order),
            (post, "/orders", self.post_order),
            (delete, "/orders/clientOrderId/{cid}", self.delete_order_by_client_id),
            (delete, "/orders/{order_id}", self.delete_order),
            (get, "/trades", self.get_trades),
            (get, "/assets", self.get_assets),
            (get, "/trading-pairs", self.get_pairs),
            (get, "/trading-pairs/stats", self.get_all_stats),
            (get, "/trading-pairs/{pair}/ticker", self.get_ticker),
            (get, "/trading-pairs/{pair}/book", self.get_book),
            (get, "/trading-pairs/{pair}/trades", self.get_public_trades),
            (get, "/trading-pairs/{pair}/stats", self.get_stats),
            (get, "/trading-pairs/{pair}/candles", self.get_candles),
            (get, "/trading-pairs/{pair}/price-tick-size", self.get_tick_sizes),
            (get, "/tickers", self.get_tickers),
            (get, "/time", self.get_time),
            (get, "/notices", self.get_notices),
            (get, self.ws_path, self.sockets.handle),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        return app

    async def on_start(self) -> None:
        self._unlisten = self.exchange.listen(self._on_exchange)
        self._dirty_pairs.update(self.pairs)
        self._flush()  # the books as they stand, before the first step of the price process
        self.exchange.start()
        self._tasks.append(asyncio.get_running_loop().create_task(self._tick_tickers()))

    async def on_stop(self) -> None:
        await self.exchange.stop()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._unlisten is not None:
            self._unlisten()
        await self.sockets.close_all()

    def now_ms(self) -> int:
        return self.clock.now_ns() // 1_000_000

    # --- middlewares --------------------------------------------------------------------------

    # --- the socket's questions ---------------------------------------------------------------

    def ws_login(self, query: Any) -> str | None | web.Response:
        return self.gate.ws_login(query)

    def book_snapshot(self, pair: str, limit: int | None) -> dict[str, Any]:
        self._flush()  # the snapshot must not be behind deltas already queued
        book = self.books[pair]
        return {
            "ask": book.side(False, limit),
            "bid": book.side(True, limit),
            "tradingPairName": pair,
            "maxEntryId": self.entry_ids.last,
        }

    def ws_open_orders(self, owner: str) -> list[w.WsOrder]:
        return [self._ws_order(o) for o in self.exchange.orders(owner, open_only=True)]

    def ws_balances(self, owner: str) -> list[w.WsBalance]:
        return [self._ws_balance(owner, asset) for asset in self.exchange.account(owner).assets()]

    def ticker_rows(self) -> list[w.TickerRow]:
        return [self._ticker_row(pair) for pair in self.pairs]

    # --- REST: account ------------------------------------------------------------------------

    async def get_balances(self, request: web.Request) -> web.Response:
        account = self.exchange.account(request[OWNER_KEY])
        return reply([self._balance(request[OWNER_KEY], asset) for asset in account.assets()])

    async def get_balance(self, request: web.Request) -> web.Response:
        asset = request.match_info["asset"]
        if asset not in self.exchange.account(request[OWNER_KEY]).assets():
            return error(404, 100)
        return reply(self._balance(request[OWNER_KEY], asset))

    # --- REST: orders -------------------------------------------------------------------------

    async def get_orders(self, request: web.Request) -> web.Response:
        q = request.query
        past = q.get("includePast", "false").lower() == "true"
        orders = [o for o in self.exchange.orders(request[OWNER_KEY]) if o.is_open or (past and self._visible(o))]
        if "tradingPairName" in q:
            orders = [o for o in orders if o.instrument == q["tradingPairName"]]
        if "status" in q:
            orders = [o for o in orders if rest_order(o, self._meta(o)).status == q["status"]]
        if q.get("since", "").isdigit():
            since = int(q["since"]) * 1_000_000
            by_update = q.get("filterByUpdatedAt", "false").lower() == "true"
            orders = [o for o in orders if (self._meta(o).updated_ns if by_update else o.created_ns) >= since]
        if q.get("limit", "").isdigit():
            n = int(q["limit"])
            orders = orders[-n:] if q.get("tail", "false").lower() == "true" else orders[:n]
        return reply([rest_order(o, self._meta(o)) for o in orders])

    async def get_order(self, request: web.Request) -> web.Response:
        found = self._order(request[OWNER_KEY], request.match_info["order_id"])
        return found if isinstance(found, web.Response) else reply(rest_order(found, self._meta(found)))

    async def get_order_by_client_id(self, request: web.Request) -> web.Response:
        found = self._order_by_client_id(request[OWNER_KEY], request.match_info["cid"])
        return found if isinstance(found, web.Response) else reply(rest_order(found, self._meta(found)))

    async def post_order(self, request: web.Request) -> web.Response:
        try:
            req = w.decode_order_request(await request.read())
        except msgspec.MsgspecError as exc:
            return error(400, 10256, data=str(exc))
        refusal = self._refuse_order(req)
        if refusal is not None:
            return refusal
        spec = self.pairs[req.tradingPairName]
        side = Side(req.side)
        kind = ORDER_TYPES[req.type]
        if kind is OrderType.LIMIT and req.stopPrice is not None:
            kind = OrderType.STOP_LIMIT
        market_buy = kind is OrderType.MARKET and side is Side.BUY
        try:
            order = self.exchange.place(
                request[OWNER_KEY], symbol=spec.name, side=side, type=kind, qty=req.amount,
                price=req.price if kind is not OrderType.MARKET else None, trigger=req.stopPrice,
                tif=TIFS[req.timeInForce or "gtc"] if kind is not OrderType.MARKET else TimeInForce.GTC,
                notional=req.amount if market_buy else None, client_id=req.clientOrderId,
            )
        except ExchangeError as exc:
            status, code = EXCHANGE_ERRORS.get(exc.kind, (400, 107))
            return error(status, code, data=exc.message)
        meta = self._meta(order)
        meta.protection = req.protection or "no"
        answer = rest_order(order, meta)
        if self.placement_status is not None:
            answer = msgspec.structs.replace(answer, status=self.placement_status)
        return reply(answer)

    def _refuse_order(self, req: w.OrderRequest) -> web.Response | None:
        spec = self.pairs.get(req.tradingPairName)
        if spec is None:
            return error(400, 101)
        if req.side not in ("buy", "sell"):
            return error(400, 10359)
        if req.type not in ORDER_TYPES:
            return error(400, 103)
        if req.timeInForce is not None and req.timeInForce not in TIFS:
            return error(400, 10361)
        if req.protection not in (None, "yes", "no"):
            return error(400, 10362)
        if req.clientOrderId is not None and not CLIENT_ID.fullmatch(req.clientOrderId):
            return error(400, 10227)
        limit = req.type == "limit"
        market_buy = req.type == "market" and req.side == "buy"
        scale = spec.quote_scale if market_buy else spec.base_scale
        if req.amount <= 0 or req.amount.as_tuple().exponent < -scale:  # type: ignore[operator]
            return error(400, 107)
        if not limit and req.stopPrice is not None:
            return error(400, 206)  # stop orders must be limit orders
        if req.protection == "yes" and req.timeInForce in ("ioc", "fok"):
            return error(400, 206)
        for price in (req.price, req.stopPrice) if limit else ():
            if price is not None and (price <= 0 or price % tick_for(price) != 0):
                return error(400, 108)
        if limit and req.price is None:
            return error(400, 108)
        value = self._order_value(req, spec)
        if value is not None and value < MIN_ORDER_KRW:
            return error(400, 10212)
        return None

    def _order_value(self, req: w.OrderRequest, spec: PairSpec) -> Decimal | None:
        if req.type == "limit":
            return req.amount * req.price  # type: ignore[operator]
        if req.side == "buy":
            return req.amount
        top = self.books[spec.name].side(True, 1)
        return req.amount * Decimal(repr(top[0].price)) if top else None

    async def delete_order(self, request: web.Request) -> web.Response:
        found = self._order(request[OWNER_KEY], request.match_info["order_id"])
        return found if isinstance(found, web.Response) else self._cancel(found)

    async def delete_order_by_client_id(self, request: web.Request) -> web.Response:
        found = self._order_by_client_id(request[OWNER_KEY], request.match_info["cid"])
        return found if isinstance(found, web.Response) else self._cancel(found, by_client_id=True)

    def _cancel(self, order: SimOrder, *, by_client_id: bool = False) -> web.Response:
        if not order.is_open:
            if by_client_id:
                return error(404, 10221, data=order.client_id)
            return error(404, 10069, f"No such order ID: {order.id}", order.id)
        self.exchange.cancel(order.owner, order.id)
        return reply({})

    def _order(self, owner: str, order_id: str) -> SimOrder | web.Response:
        if not order_id.isdigit():
            return error(404, 202, data=order_id)
        missing = error(404, 10069, f"No such order ID: {order_id}", order_id)
        return self._visible_or(lambda: self.exchange.order(owner, order_id), missing)

    def _order_by_client_id(self, owner: str, client_id: str) -> SimOrder | web.Response:
        return self._visible_or(lambda: self.exchange.order_by_client_id(owner, client_id), error(404, 10221, data=client_id))

    def _visible_or(self, find: Callable[[], SimOrder], missing: web.Response) -> SimOrder | web.Response:
        try:
            order = find()
        except ExchangeError:
            return missing
        return order if self._visible(order) else missing

    def _visible(self, order: SimOrder) -> bool:
        """Working, or finished less than 10 minutes ago."""
        finished = self._meta(order).finished_ns
        return order.is_open or finished is None or self.clock.now_ns() - finished <= VISIBLE_AFTER_DONE_NS

    async def get_trades(self, request: web.Request) -> web.Response:
        fills = self.exchange.fills.get(request[OWNER_KEY], [])
        pair = request.query.get("tradingPairName")
        rows = window((f for f in fills if pair is None or f.instrument == pair), lambda f: f.id, lambda f: f.ts_ns, request.query)
        return reply([own_trade(f) for f in rows])

    # --- REST: public -------------------------------------------------------------------------

    async def get_assets(self, request: web.Request) -> web.Response:
        assets = sorted({p.base for p in self.pairs.values()} | {p.quote for p in self.pairs.values()})
        rows = []
        for asset in assets:
            korean, english = ASSET_NAMES.get(asset, (asset, asset))
            rows.append(w.Asset(id=asset, name=korean, englishName=english, scale=0 if asset == "KRW" else 8))
        return reply(rows)

    async def get_pairs(self, request: web.Request) -> web.Response:
        return reply([self._pair_info(p) for p in self.pairs.values()])

    async def get_tick_sizes(self, request: web.Request) -> web.Response:
        if request.match_info["pair"] not in self.pairs:
            return error(404, 10059)
        return reply([{"startPrice": start, "tickSize": tick} for start, tick in KRW_TICKS])

    async def get_ticker(self, request: web.Request) -> web.Response:
        pair = request.match_info["pair"]
        if pair not in self.pairs:
            return error(404, 10059)
        row = self._ticker_row(pair)
        bid = self.books[pair].side(True, 1)
        ask = self.books[pair].side(False, 1)
        return reply({
            "price": num(row.last), "ask": num(row.lowestAsk), "askVolume": ask[0].volume if ask else 0,
            "bid": num(row.highestBid), "bidVolume": bid[0].volume if bid else 0, "volume": row.baseVolume,
            "quoteVolume": row.quoteVolume, "time": w.ns_iso(self.clock.now_ns()),
        })

    async def get_tickers(self, request: web.Request) -> web.Response:
        return reply(self.ticker_rows())

    async def get_book(self, request: web.Request) -> web.Response:
        pair = request.match_info["pair"]
        if pair not in self.pairs:
            return error(404, 10059)
        level = request.query.get("level", "3")
        limit = {"1": 1, "2": 50}.get(level)
        self._flush()
        book = self.books[pair]
        rows = {
            side: [[str(e.entryId), num(e.price), e.volume, str(int(e.updatedAt * 1000))] for e in book.side(side == "bid", limit)]
            for side in ("ask", "bid")
        }
        sequence = {"entry": self.entry_ids.last, "foreign": 7_000_000_000_000 + self.entry_ids.last * 3}.get(self.book_sequence)
        return reply({"sequence": sequence, **rows} if sequence is not None else rows)

    async def get_public_trades(self, request: web.Request) -> web.Response:
        pair = request.match_info["pair"]
        if pair not in self.pairs:
            return error(404, 10059)
        rows = window(self.exchange.market(pair).trades, lambda t: t.id, lambda t: t.ts_ns, request.query)
        return reply([
            {"time": w.ns_iso(t.ts_ns), "date": t.ts_ns // NS, "id": t.id, "price": num(t.price), "amount": t.size, "side": t.side.value}
            for t in rows
        ])

    async def get_stats(self, request: web.Request) -> web.Response:
        pair = request.match_info["pair"]
        if pair not in self.pairs:
            return error(404, 10059)
        return reply(self._stats(pair))

    async def get_all_stats(self, request: web.Request) -> web.Response:
        return reply([{"name": pair, **self._stats(pair)} for pair in self.pairs])

    async def get_candles(self, request: web.Request) -> web.Response:
        pair = request.match_info["pair"]
        if pair not in self.pairs:
            return error(404, 10059)
        q = request.query
        if not all(q.get(k, "").isdigit() for k in ("start", "end", "interval")):
            return error(400, 10367)
        start, end, interval = int(q["start"]), int(q["end"]), int(q["interval"])
        if interval not in (1, 5, 30, 1440):
            return error(400, 10062)
        if end < start:
            return error(400, 10166)
        span = interval * 60_000
        groups: dict[int, list[float]] = {}
        for t in self.exchange.market(pair).trades:
            ms = t.ts_ns // 1_000_000
            if start <= ms <= end:
                row = groups.setdefault(ms - ms % span, [t.price, t.price, t.price, t.price, 0.0])
                row[0], row[1], row[3] = min(row[0], t.price), max(row[1], t.price), t.price
                row[4] += t.size
        limit = int(q["limit"]) if q.get("limit", "").isdigit() else 1024
        rows = [[ts, num(lo), num(hi), num(op), num(cl), round(vol, 8)] for ts, (lo, hi, op, cl, vol) in sorted(groups.items())]
        return reply(rows[-limit:])

    async def get_time(self, request: web.Request) -> web.Response:
        return reply({"serverTime": self.now_ms()})

    async def get_notices(self, request: web.Request) -> web.Response:
        return reply([])

    # --- views --------------------------------------------------------------------------------

    def _pair_info(self, p: PairSpec) -> w.TradingPair:
        krw = w.AmountMin(amount=MIN_ORDER_KRW, unit=p.quote)
        return w.TradingPair(
            id=p.id, name=p.name, baseAsset=p.base, quoteAsset=p.quote, baseAssetScale=p.base_scale,
            quoteAssetScale=p.quote_scale, priceMin=tick_for(p.price),
            restApiOrderAmountMin=w.OrderAmountMin(
                limitAsk=krw, limitBid=krw, marketAsk=w.AmountMin(amount=Decimal("0.0001"), unit=p.base), marketBid=krw
            ),
            makerFeePercent=self.exchange.fees.rate("maker") / 100, takerFeePercent=self.exchange.fees.rate("taker") / 100,
        )

    def _balance(self, owner: str, asset: str) -> w.Balance:
        account = self.exchange.account(owner)
        return w.Balance(
            asset=asset, avail=account.free.get(asset, Decimal(0)), hold=account.locked.get(asset, Decimal(0)),
            pendingWithdrawal=Decimal(0), lastUpdatedAt=str(self.now_ms()),
        )

    def _ws_balance(self, owner: str, asset: str) -> w.WsBalance:
        b = self._balance(owner, asset)
        return w.WsBalance(isoAlpha3=asset, avail=b.avail, hold=b.hold, pendingWithdrawal=Decimal(0), lastUpdatedAt=self.now_ms() / 1000)

    def _ws_order(self, order: SimOrder) -> w.WsOrder:
        return ws_order(order, self._meta(order), self.pairs[order.instrument].quote, client_ids=self.ws_client_order_ids)

    def _trades_24h(self, pair: str) -> list[PublicTrade]:
        horizon = self.clock.now_ns() - 86_400 * NS
        return [t for t in self.exchange.market(pair).trades if t.ts_ns >= horizon]

    def _stats(self, pair: str) -> dict[str, Any]:
        trades = self._trades_24h(pair)
        prices = [t.price for t in trades] or [self._last_price(pair)]
        return {
            "open": num(prices[0]), "high": num(max(prices)), "low": num(min(prices)), "close": num(prices[-1]),
            "volume": round(sum(t.size for t in trades), 8), "time": w.ns_iso(self.clock.now_ns()),
        }

    def _ticker_row(self, pair: str) -> w.TickerRow:
        trades = self._trades_24h(pair)
        prices = [t.price for t in trades] or [self._last_price(pair)]
        bid = self.books[pair].side(True, 1)
        ask = self.books[pair].side(False, 1)
        return w.TickerRow(
            tradingPairName=pair, baseVolume=round(sum(t.size for t in trades), 8), high=max(prices),
            highestBid=bid[0].price if bid else 0.0, last=prices[-1], lastTraded=trades[-1].ts_ns // 1_000_000 if trades else 0,
            low=min(prices), lowestAsk=ask[0].price if ask else 0.0, open=prices[0],
            quoteVolume=round(sum(t.size * t.price for t in trades), 2),
        )

    def _last_price(self, pair: str) -> float:
        quote = self.exchange.market(pair).quote
        return (quote.bid + quote.ask) / 2 if quote is not None else self.pairs[pair].price

    def _meta(self, order: SimOrder) -> OrderMeta:
        meta = self.meta.get(order.id)
        if meta is None:
            meta = self.meta[order.id] = OrderMeta(updated_ns=order.created_ns)
        return meta

    # --- what the exchange tells us -----------------------------------------------------------

    def _on_exchange(self, event: ExchangeEvent) -> None:
        match event:
            case QuoteTicked(quote):
                self._dirty_pairs.add(quote.instrument)
            case PublicTraded(trade):
                self._public_trade(trade)
            case OrderChanged(order):
                self._order_changed(order)
            case OrderFilled(order, fill):
                meta = self._meta(order)
                if fill.liquidity == "maker":
                    meta.fee_making += fill.fee
                else:
                    meta.fee_taking += fill.fee
                self._fills_out.append(fill)
                self._order_changed(order)
            case BalanceChanged(owner, asset):
                self._dirty_balances.add((owner, asset))
        self._schedule_flush()

    def _order_changed(self, order: SimOrder) -> None:
        meta = self._meta(order)
        now = self.clock.now_ns()
        meta.updated_ns = now
        if not order.is_open and meta.finished_ns is None:
            meta.finished_ns = now
        resting = self.resting[order.instrument]
        if is_resting(order) or order.id in resting:
            self._dirty_pairs.add(order.instrument)
        if is_resting(order):
            resting[order.id] = order
        else:
            resting.pop(order.id, None)
        self._dirty_orders[order.id] = order

    def _public_trade(self, trade: PublicTrade) -> None:
        data = w.PublicTradeData(
            tradeId=trade.id, baseAmount=round(trade.size, 8), quoteAmount=round(trade.size * trade.price, 2),
            price=trade.price, isBuy=trade.side is Side.BUY, occurredAt=seconds(trade.ts_ns), tradingPairName=trade.instrument,
        )
        self.sockets.public_trade(trade.instrument, data)

    def _schedule_flush(self) -> None:
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Send what changed since the last flush: book deltas, orders, our trades, balances."""
        self._flush_pending = False
        now = self.clock.now_ns()
        for pair in sorted(self._dirty_pairs):
            asks, bids = self.books[pair].refresh(self.exchange.market(pair).quote, self.resting[pair].values(), now)
            if asks or bids:
                self.sockets.book_delta(pair, asks, bids)
        self._dirty_pairs.clear()
        orders, self._dirty_orders = self._dirty_orders, {}
        for order in orders.values():
            meta = self._meta(order)
            state = (order.status.value, order.filled)
            if meta.last_sent != state:
                meta.last_sent = state
                self.sockets.private(order.owner, "orders", "OrderEvent", self._ws_order(order))
        fills, self._fills_out = self._fills_out, []
        for fill in fills:
            self.sockets.private(fill.owner, "trades", "TradeEvent", ws_trade(fill))
        balances, self._dirty_balances = self._dirty_balances, set()
        for owner, asset in sorted(balances):
            self.sockets.private(owner, "balances", "BalanceEvent", self._ws_balance(owner, asset))

    async def _tick_tickers(self) -> None:
        while True:
            await asyncio.sleep(self.ticker_interval_s)
            self.sockets.tickers()
