"""A strict GOPAX emulator: GOPAX's REST API and websocket on loopback, over the shared market.

- REST: every endpoint the adapter uses, in GOPAX's shapes; errors as {errorMessage, errorCode}
  with GOPAX's codes.
- The door (`gate.py`): both signing schemes verified over the raw request, timestamps,
  nonces; 20 calls per moving second per key (private) and per IP (public), the book 1/s, FOK
  orders and own trades 2/s, a deep trade search 1/s: over them, 429 with code 10105.
- Market: `SimExchange` (seeded random walk, the shared matching engine, one funded account).
- Orders and the account (`orders.py`): the private endpoints.
- Socket: `ws.SocketServer` at /ws.
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
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aiohttp import web

from adapters.gopax import schemas as w
from adapters.gopax.auth import secret_key
from adapters.gopax.emulator.gate import (
    Gate,
    Handler,
    error,
    fault_response,
    reply,
)
from adapters.gopax.emulator.market import (
    ASSET_NAMES,
    DEFAULT_PAIRS,
    KRW_TICKS,
    NS,
    EntryIds,
    OrderMeta,
    PairSpec,
    PublicBook,
    is_resting,
    num,
    seconds,
    spot_exchange,
    tick_for,
    window,
    ws_order,
    ws_trade,
)
from adapters.gopax.emulator.orders import MIN_ORDER_KRW, OWNER, OrderDesk
from adapters.gopax.emulator.ws import SocketServer
from adapters.simulation.account import FeeSchedule
from adapters.simulation.emulation import EmulatorServer, Faults, fault_middleware
from adapters.simulation.exchange import (
    BalanceChanged,
    EmulatorClock,
    ExchangeEvent,
    FillRecord,
    OrderChanged,
    OrderFilled,
    PublicTrade,
    PublicTraded,
    QuoteTicked,
)
from adapters.simulation.matching import SimOrder
from engine.events import Side

DEFAULT_BALANCES = {"KRW": "100000000", "BTC": "1", "ETH": "20", "XRP": "50000"}
class GopaxEmulator(OrderDesk, EmulatorServer):
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
