"""The emulator's websocket server: GOPAX's socket protocol on one aiohttp route.

Login by query string (apiKey, timestamp, signature of 't' + timestamp; 64-character keys only;
the timestamp within 5 s), or none for the public channels. Request frames {"i", "n", "o"}: `i`,
when present, must be an integer (the docs' type; a string id is refused with 10256); replies echo
`i` and `n`; pushes carry "i": -1. The server pings ("primus::ping::<ms>") and drops a connection
that has not answered by the next ping. Each connection writes through a shared
`emulation.SocketWriter` (a queue and a writer task, so the exchange's synchronous notifications
never wait on a socket; `faults.ws_drop_after` closes a connection after that many frames);
`lose_book_deltas` silently skips order book deltas (a lossy link).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Protocol

import msgspec
import structlog
from aiohttp import WSMsgType, web

from adapters.gopax import schemas as w
from adapters.simulation.emulation import Faults, SocketWriter

log = structlog.get_logger("tickbus.emulator.gopax")
MAX_BOOKS = 50  # order books one connection may subscribe to
MIN_LIMIT = 20


class Host(Protocol):
    """What the socket server asks of the emulator."""

    pairs: dict[str, Any]

    def ws_login(self, query: Any) -> str | None | web.Response: ...

    def book_snapshot(self, pair: str, limit: int | None) -> dict[str, Any]: ...

    def ws_open_orders(self, owner: str) -> list[w.WsOrder]: ...

    def ws_balances(self, owner: str) -> list[w.WsBalance]: ...

    def ticker_rows(self) -> list[w.TickerRow]: ...

    def now_ms(self) -> int: ...


class Connection:
    """One client socket: its subscriptions and its writer."""

    def __init__(self, ws: web.WebSocketResponse, owner: str | None, faults: Faults) -> None:
        self.ws = ws
        self.owner = owner
        self.books: set[str] = set()  # pairs whose book deltas it gets
        self.trades: set[str] = set()  # pairs whose public trades it gets
        self.channels: set[str] = set()  # "tickers", "orders", "trades", "balances"
        self.writer = SocketWriter(ws, faults)
        self.pongs = 0
        self.refused = 0
        self.pinged_ms: int | None = None  # the ping still waiting for its pong

    @property
    def sent(self) -> int:
        return self.writer.sent

    def push(self, frame: str) -> None:
        self.writer.push(frame)


def frame(name: str, payload: Any, i: int | str | None = -1) -> str:
    body = {"n": name, "o": payload} if i is None else {"i": i, "n": name, "o": payload}
    return w.encode(body).decode()


def refusal(code: int, data: Any = None) -> dict[str, Any]:
    return {"result": False, "errCode": code, "errData": data if data is not None else w.ERROR_TEXT.get(code, "")}


class SocketServer:
    def __init__(self, host: Host, faults: Faults, *, ping_interval_s: float = 30.0) -> None:
        self.host = host
        self.faults = faults
        self.ping_interval_s = ping_interval_s  # also the time a pong may take
        self.connections: set[Connection] = set()
        self.lose_book_deltas = 0
        self.lost_book_deltas = 0
        self.logins = 0
        self._handlers: dict[str, Callable[[Connection, w.Request], None]] = {
            "SubscribeToOrderBook": self._subscribe_book,
            "SubscribeToTradingPair": self._subscribe_book,
            "SubscribeToTickers": self._subscribe_tickers,
            "SubscribeToOrders": self._subscribe_private,
            "SubscribeToTrades": self._subscribe_private,
            "SubscribeToBalances": self._subscribe_private,
        }

    # --- the route ----------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        owner = self.host.ws_login(request.query)
        if isinstance(owner, web.Response):
            return owner  # refused before the upgrade, with GOPAX's error body
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = Connection(ws, owner, self.faults)
        if owner is not None:
            self.logins += 1
        self.connections.add(conn)
        conn.writer.start()
        pinger = asyncio.get_running_loop().create_task(self._ping(conn))
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._receive(conn, msg.data)
        finally:
            self.connections.discard(conn)
            pinger.cancel()
            await conn.writer.close()
        return ws

    async def close_all(self) -> None:
        for conn in list(self.connections):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.ws.close(), 2.0)

    async def _ping(self, conn: Connection) -> None:
        while not conn.ws.closed:
            await asyncio.sleep(self.ping_interval_s)
            if conn.pinged_ms is not None:
                await conn.ws.close()  # the last ping went unanswered
                return
            conn.pinged_ms = self.host.now_ms()
            conn.push(f'"primus::ping::{conn.pinged_ms}"')

    def _receive(self, conn: Connection, text: str) -> None:
        if text.startswith(w.PONG_PREFIX):
            conn.pongs += 1
            conn.pinged_ms = None
            return
        try:
            request = w.decode_request(text)
        except msgspec.MsgspecError:
            return  # GOPAX ignores what is not JSON
        if request.i is not None and (not isinstance(request.i, int) or isinstance(request.i, bool)):
            conn.refused += 1  # the docs type `i` as an integer
            conn.push(frame(request.n, refusal(10256, "i must be an integer"), request.i))
            return
        handler = self._handlers.get(request.n)
        if handler is None:
            conn.push(frame(request.n, refusal(10001, "No such endpoint"), request.i))
            return
        handler(conn, request)

    # --- subscriptions ------------------------------------------------------------------------

    def _subscribe_book(self, conn: Connection, request: w.Request) -> None:
        pair = str(request.o.get("tradingPairName", ""))
        limit = request.o.get("limit")
        if pair not in self.host.pairs:
            conn.push(frame(request.n, refusal(10058, pair.split("-")[0]), request.i))
        elif limit is not None and (not isinstance(limit, int) or limit < MIN_LIMIT):
            conn.push(frame(request.n, refusal(10329), request.i))
        elif pair in conn.books:
            conn.push(frame(request.n, refusal(10325), request.i))
        elif len(conn.books) >= MAX_BOOKS:
            conn.push(frame(request.n, refusal(10321), request.i))
        else:
            snapshot = self.host.book_snapshot(pair, limit)  # first: it flushes deltas made before it
            conn.books.add(pair)
            if request.n == "SubscribeToTradingPair":
                conn.trades.add(pair)
            conn.push(frame(request.n, snapshot, request.i))

    def _subscribe_tickers(self, conn: Connection, request: w.Request) -> None:
        conn.channels.add("tickers")
        conn.push(frame(request.n, {"data": self.host.ticker_rows()}, request.i))

    def _subscribe_private(self, conn: Connection, request: w.Request) -> None:
        if conn.owner is None:
            conn.push(frame(request.n, refusal(10004), request.i))
            return
        name = request.n.removeprefix("SubscribeTo").lower()
        conn.channels.add(name)
        payload: dict[str, Any] = {}
        if name == "orders":
            payload = {"data": self.host.ws_open_orders(conn.owner)}
        elif name == "balances":
            payload = {"result": True, "data": self.host.ws_balances(conn.owner)}
        conn.push(frame(request.n, payload, request.i))

    # --- pushes (synchronous: called from the exchange's notifications) -----------------------

    def book_delta(self, pair: str, asks: list[w.BookEntry], bids: list[w.BookEntry]) -> None:
        if self.lose_book_deltas > 0:
            self.lose_book_deltas -= 1
            self.lost_book_deltas += 1
            return
        text = frame("OrderBookEvent", {"ask": asks, "bid": bids, "tradingPairName": pair})
        for conn in self.connections:
            if pair in conn.books:
                conn.push(text)

    def public_trade(self, pair: str, data: w.PublicTradeData) -> None:
        text = frame("PublicTradeEvent", data)
        for conn in self.connections:
            if pair in conn.trades:
                conn.push(text)

    def tickers(self) -> None:
        subscribed = [c for c in self.connections if "tickers" in c.channels]
        if subscribed:
            text = frame("TickerEvent", {row.tradingPairName: row for row in self.host.ticker_rows()})
            for conn in subscribed:
                conn.push(text)

    def private(self, owner: str, channel: str, name: str, payload: Any) -> None:
        text: str | None = None
        for conn in self.connections:
            if conn.owner == owner and channel in conn.channels:
                text = text or frame(name, payload)
                conn.push(text)
