"""GOPAX market data and private streams: the websocket feed and the REST poller.

Websocket (`GopaxFeed`): one connection carries the public channels (`SubscribeToTradingPair`:
book snapshot, `OrderBookEvent` deltas, `PublicTradeEvent`) and, when it logged in with a signed
query string, the private ones (`SubscribeToOrders`, `SubscribeToTrades`, `SubscribeToBalances`),
handed to a `PrivateHandler` (the adapter). The server's primus pings are answered at once.
Each frame is decoded in one pass into a Struct, applied, and published; nothing awaits per frame.
Request ids (`i`) are integers, as the docs type them: one per subscription key, kept for the feed's
life, so a refusal names the subscription it refused. `SubscribeToTickers` ("tickers") quotes pairs
whose book is not followed (1 s aggregates, no sizes).

A book that drifts (see `book.py`) is loaded again from `GET /book` while its deltas are held, then
the held deltas are replayed on top; after a reconnect the resubscription's snapshot does the same.
While a book is out of sync its subscription is published `FeedStatus` STALE, and CONNECTED again
once it is loaded; the REST reload is retried with backoff for as long as the feed runs.

Staleness: every frame marks its subscription alive (`WebSocketFeed.mark`); the private channels
have no traffic of their own when nothing happens, so the server's pings mark them. A subscription
quiet for `stale_after_s` is published STALE (and the socket reconnected when asked to).

A refused upgrade's exception would carry the signed login URL (apiKey, timestamp, signature in
the query string) into logs and `FeedStatus` details: `on_connect_error` strips the query from it.

The private state over REST (own trades after a trade id, which working orders finished) is
`client.private_changes`: the venue's answer to the sync core's look.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import Any, Protocol
from urllib.parse import urlencode

import aiohttp
import msgspec
import structlog

from adapters.gopax import schemas as w
from adapters.gopax.book import LocalBook
from adapters.gopax.client import GopaxClient, Window
from adapters.gopax.schemas import dt_ns
from engine.clock import Clock
from engine.data.bus import Bus
from engine.events import Bar, BookSnapshot, FeedState, FeedStatus, Quote, Side, Trade
from engine.venue.poller import Poller
from engine.venue.retry import Backoff
from engine.venue.values import BadValue
from engine.venue.websocket import Frame, WebSocketFeed

log = structlog.get_logger("tickbus.gopax.feed")
NS = 1_000_000_000
PRIVATE_KEYS = ("orders", "trades", "balances")
ALREADY_SUBSCRIBED = 10325
_REQUESTS = {
    "pair": "SubscribeToTradingPair",
    "book": "SubscribeToOrderBook",
    "tickers": "SubscribeToTickers",
    "orders": "SubscribeToOrders",
    "trades": "SubscribeToTrades",
    "balances": "SubscribeToBalances",
}


class PrivateHandler(Protocol):
    """Receives the private channels (the adapter maps them onto the order manager)."""

    def on_ws_order(self, order: w.WsOrder) -> None: ...

    def on_ws_trade(self, trade: w.WsTrade) -> None: ...

    def on_ws_balance(self, balance: w.WsBalance) -> None: ...


class GopaxFeed(WebSocketFeed):
    """Subscriptions are keys: "pair:BTC-KRW", "book:BTC-KRW", "tickers", "orders", "trades", "balances"."""

    def __init__(
        self,
        venue: str,
        url: str,
        *,
        bus: Bus,
        clock: Clock,
        client: GopaxClient,
        login: Callable[[], dict[str, str]] | None = None,
        private: PrivateHandler | None = None,
        on_open_hook: Callable[[], None] | None = None,
        book_depth: int = 20,
        resync_backoff_s: tuple[float, float] = (0.2, 5.0),
        **kw: Any,
    ) -> None:
        super().__init__(venue, url, bus=bus, clock=clock, **kw)
        self.client = client
        self._watched = bool(self.stale_after_s)
        self._login = login
        self._private = private
        self._on_open_hook = on_open_hook
        self.book_depth = book_depth
        self.resync_backoff_s = resync_backoff_s
        self.books: dict[str, LocalBook] = {}
        self.book_wanted: set[str] = set()  # pairs whose BookSnapshot is published
        self.ids: dict[str, str] = {}  # pair -> instrument id
        self.out_of_sync: set[str] = set()  # book subscriptions published STALE until reloaded
        self._book_keys: dict[str, str] = {}  # pair -> its book subscription ("pair:X" or "book:X")
        self._request_ids: dict[str, int] = {}  # subscription key -> its request id
        self._request_keys: dict[int, str] = {}  # request id -> subscription key
        self._now = clock.now_ns
        self._resyncs: dict[str, asyncio.Task[None]] = {}
        self._dropping: set[asyncio.Task[None]] = set()
        self.resyncs = 0
        self.gaps = 0
        self.pongs = 0
        self.refusals: list[tuple[str, int | None, Any]] = []
        self.unknown: dict[str, int] = {}
        self._dispatch: dict[type, Callable[[Any], object]] = {
            str: self._on_text,
            w.OrderBookEvent: self._on_book_event,
            w.OrderBookReply: self._on_book_reply,
            w.TradingPairReply: self._on_book_reply,
            w.PublicTradeEvent: self._on_public_trade,
            w.OrderEvent: self._on_order,
            w.TradeEvent: self._on_trade,
            w.BalanceEvent: self._on_balance,
            w.OrdersReply: self._on_orders_reply,
            w.BalancesReply: self._on_balances_reply,
            w.TradesReply: self._on_reply,
            w.TickersReply: self._on_tickers_reply,
            w.TickerEvent: self._on_ticker_event,
        }

    # --- what to subscribe --------------------------------------------------------------------

    async def watch(self, pairs: Iterable[str], *, trades: bool = True, books: bool = False) -> None:
        """Follow the books of `pairs` (Quotes), their trades too (`SubscribeToTradingPair`) unless
        `trades` is False (`SubscribeToOrderBook`); `books` also publishes `BookSnapshot`s."""
        keys = []
        for pair in pairs:
            self.ids.setdefault(pair, f"{self.venue}:{pair}")
            self.books.setdefault(pair, LocalBook(pair, self.ids[pair]))
            if books:
                self.book_wanted.add(pair)
            key = self._book_keys.setdefault(pair, f"{'pair' if trades else 'book'}:{pair}")
            self.books[pair].subscription = key
            keys.append(key)
        await self.subscribe(*keys)

    async def watch_tickers(self, pairs: Iterable[str]) -> None:
        """Quotes from the tickers channel (1 s aggregates, no sizes) for pairs whose book is not followed."""
        for pair in pairs:
            self.ids.setdefault(pair, f"{self.venue}:{pair}")
        await self.subscribe("tickers")

    def connect_url(self) -> str:
        if self._login is None:
            return self.url
        return f"{self.url}{'&' if '?' in self.url else '?'}{urlencode(self._login())}"

    def subscribe_frames(self, keys: list[str]) -> list[Frame]:
        frames: list[Frame] = []
        for key in keys:
            kind, _, pair = key.partition(":")
            params = {"tradingPairName": pair} if pair else {}
            frames.append(w.encode(w.Request(n=_REQUESTS[kind], o=params, i=self._request_id(key))).decode())
        return frames

    def _request_id(self, key: str) -> int:
        """The integer `i` of a subscription: one per key for the feed's life."""
        found = self._request_ids.get(key)
        if found is None:
            found = self._request_ids[key] = len(self._request_ids) + 1
            self._request_keys[found] = key
        return found

    def on_connect_error(self, exc: BaseException) -> None:
        """Strip the signed query string from a refused upgrade's exception before anyone logs it."""
        if isinstance(exc, aiohttp.ClientResponseError):
            info = exc.request_info
            safe = aiohttp.RequestInfo(info.url.with_query(None), info.method, info.headers, info.real_url.with_query(None))
            exc.request_info = safe
            exc.args = (safe, exc.history)

    async def on_open(self, ws: Any) -> None:
        for book in self.books.values():
            book.unsync()  # the resubscription's snapshot brings it back
        await self.send_subscriptions()
        if self._on_open_hook is not None:
            self._on_open_hook()

    async def stop(self) -> None:
        for task in list(self._resyncs.values()):
            task.cancel()
        for task in list(self._resyncs.values()):
            with contextlib.suppress(BaseException):
                await task
        self._resyncs.clear()
        await super().stop()

    # --- frames -------------------------------------------------------------------------------

    def on_message(self, data: str | bytes) -> None:
        try:
            frame = w.decode_frame(data)
        except msgspec.ValidationError:
            name = w.decode_named(data).n
            if name in w.FRAME_NAMES:
                raise  # a kind we know, with a value GOPAX does not define: malformed (counted, logged, dropped)
            self.unknown[name] = self.unknown.get(name, 0) + 1  # a kind GOPAX added: counted, not an error
            return
        self._dispatch[frame.__class__](frame)

    def _on_text(self, text: str) -> None:
        if text.startswith("primus::ping::"):
            self.send_nowait(f'"primus::pong::{text[14:]}"')
            self.pongs += 1
            for key in PRIVATE_KEYS:  # no traffic of their own when nothing happens: the ping vouches
                if key in self.subscriptions:
                    self.mark(key)

    def _on_book_reply(self, frame: w.OrderBookReply | w.TradingPairReply) -> None:
        data = frame.o
        if data.result is False:
            self._refused(frame)
            return
        book = self.books.get(data.tradingPairName)
        if book is None:
            return
        if self._watched:
            self.mark(book.subscription)
        task = self._resyncs.pop(book.pair, None)
        if task is not None:
            task.cancel()  # this snapshot is newer than the one it would fetch
        if not book.load(data.ask, data.bid, data.maxEntryId):
            self._gap(book)
            return
        self._back_in_sync(book)
        self._publish_book(book, self._now())

    def _mark_book(self, pair: str) -> None:
        key = self._book_keys.get(pair)
        if key is not None:
            self.mark(key)

    def mark(self, key: str) -> None:
        if self._watched:  # without a staleness watchdog nothing reads the marks
            super().mark(key)

    def _on_book_event(self, frame: w.OrderBookEvent) -> None:
        data = frame.o
        book = self.books.get(data.tradingPairName)
        if book is None:
            return
        if self._watched:
            self.mark(book.subscription)
        asks, bids = data.ask, data.bid
        if not book.synced:
            if not book.hold(asks, bids):
                self._gap(book)
            return
        if not book.apply(asks, bids):
            self._gap(book)
            return
        entries = bids or asks
        self._publish_book(book, int(entries[-1].updatedAt * NS) if entries else 0)

    def _publish_book(self, book: LocalBook, ts_event: int) -> None:
        """A Quote when the top of the book moved; a BookSnapshot too if asked for."""
        bid_prices, ask_prices = book.bid_prices, book.ask_prices
        bid = -bid_prices[0] if bid_prices else 0.0
        ask = ask_prices[0] if ask_prices else 0.0
        bid_size = book.bids[bid].volume if bid_prices else 0.0
        ask_size = book.asks[ask].volume if ask_prices else 0.0
        if bid != book.quoted[0] or ask != book.quoted[2] or bid_size != book.quoted[1] or ask_size != book.quoted[3]:
            book.quoted = (bid, bid_size, ask, ask_size)
            iid = book.instrument
            self.bus.publish(Quote(iid, bid, ask, bid_size, ask_size, ts_event, self._now()), iid)
        if book.pair in self.book_wanted:
            bids, asks = book.levels(self.book_depth)
            self.bus.publish(BookSnapshot(book.instrument, bids, asks, ts_event, self._now()), book.instrument)

    def _on_public_trade(self, frame: w.PublicTradeEvent) -> None:
        t = frame.o
        iid = self.ids.get(t.tradingPairName)
        if iid is None:
            return
        self._mark_book(t.tradingPairName)
        trade = Trade(
            iid, t.price, t.baseAmount, int(t.occurredAt * NS), self.clock.now_ns(),
            Side.BUY if t.isBuy else Side.SELL, str(t.tradeId),
        )
        self.bus.publish(trade, iid)

    def _on_order(self, frame: w.OrderEvent) -> None:
        self.mark("orders")
        if self._private is not None:
            self._private.on_ws_order(frame.o)

    def _on_trade(self, frame: w.TradeEvent) -> None:
        self.mark("trades")
        if self._private is not None:
            self._private.on_ws_trade(frame.o)

    def _on_balance(self, frame: w.BalanceEvent) -> None:
        self.mark("balances")
        if self._private is not None:
            self._private.on_ws_balance(frame.o)

    def _on_tickers_reply(self, frame: w.TickersReply) -> None:
        if self._on_reply(frame):
            for row in frame.o.data:
                self._ticker_quote(row)

    def _on_ticker_event(self, frame: w.TickerEvent) -> None:
        self.mark("tickers")
        for row in frame.o.values():
            self._ticker_quote(row)

    def _ticker_quote(self, row: w.TickerRow) -> None:
        pair = row.tradingPairName
        iid = self.ids.get(pair)
        if iid is None or pair in self.books:
            return  # not wanted, or its book gives better quotes
        ts = row.lastTraded * 1_000_000
        self.bus.publish(Quote(iid, row.highestBid, row.lowestAsk, 0.0, 0.0, ts, self._now(), row.last), iid)

    def _on_orders_reply(self, frame: w.OrdersReply) -> None:
        if self._on_reply(frame) and self._private is not None:
            for order in frame.o.data:
                self._private.on_ws_order(order)

    def _on_balances_reply(self, frame: w.BalancesReply) -> None:
        if self._on_reply(frame) and self._private is not None:
            for balance in frame.o.data:
                self._private.on_ws_balance(balance)

    def _on_reply(self, frame: Any) -> bool:
        if frame.o.result is False:
            self._refused(frame)
            return False
        key = self._request_keys.get(frame.i) if isinstance(frame.i, int) else None
        if key is not None:
            self.mark(key)
        return True

    def _refused(self, frame: Any) -> None:
        key = self._request_keys.get(frame.i, str(frame.i)) if isinstance(frame.i, int) else str(frame.i)
        code = frame.o.errCode
        self.refusals.append((key, code, frame.o.errData))
        log.warning("subscription refused", venue=self.venue, subscription=key, code=code, detail=frame.o.errData)
        if code != ALREADY_SUBSCRIBED and key in self.subscriptions:
            # not asked again on every reconnect, nor watched for staleness
            task = asyncio.get_running_loop().create_task(self.unsubscribe(key))
            self._dropping.add(task)
            task.add_done_callback(self._dropping.discard)

    # --- resynchronising a drifted book -------------------------------------------------------

    def _gap(self, book: LocalBook) -> None:
        self.gaps += 1
        book.unsync()
        key = self._book_keys.get(book.pair, book.pair)
        if key not in self.out_of_sync:
            self.out_of_sync.add(key)
            self._status(FeedState.STALE, key, "order book out of sync: resynchronising")
        if book.pair not in self._resyncs:
            log.warning("order book gap, resynchronising", venue=self.venue, pair=book.pair)
            task = asyncio.get_running_loop().create_task(self._resync(book))
            self._resyncs[book.pair] = task

    def _back_in_sync(self, book: LocalBook) -> None:
        key = self._book_keys.get(book.pair, book.pair)
        if key in self.out_of_sync:
            self.out_of_sync.discard(key)
            self._status(FeedState.CONNECTED, key, "order book resynchronised")

    def _status(self, state: FeedState, key: str, detail: str) -> None:
        self.bus.publish(FeedStatus(venue=self.venue, state=state, subscription=key, detail=detail, ts=self._now()), self.venue)

    async def _resync(self, book: LocalBook) -> None:
        """Load `book` from GET /book until it holds, with backoff; ends with the feed (or when a
        socket snapshot gets there first)."""
        initial, maximum = self.resync_backoff_s
        backoff = Backoff(initial_s=initial, maximum_s=maximum)
        failures = 0
        try:
            while True:
                generation = book.generation
                try:
                    snapshot = await self.client.book(book.pair)
                except Exception as exc:  # noqa: BLE001 - whatever failed, the book is asked for again
                    failures += 1
                    if failures <= 3 or failures % 50 == 0:
                        log.warning("book resync failed", venue=self.venue, pair=book.pair, error=str(exc), failures=failures)
                    await asyncio.sleep(backoff.next())
                    continue
                if book.generation != generation or book.synced:
                    return  # a socket snapshot got there first
                self.resyncs += 1
                try:
                    loaded = book.load_rest(snapshot, self.venue)
                except BadValue as exc:  # a level that is no number: asked for again, like a failed read
                    failures += 1
                    if failures <= 3 or failures % 50 == 0:
                        log.warning("book resync failed", venue=self.venue, pair=book.pair, error=exc.text, failures=failures)
                    await asyncio.sleep(backoff.next())
                    continue
                if loaded:
                    self._back_in_sync(book)
                    self._publish_book(book, self.clock.now_ns())
                    return
                book.unsync()
                await asyncio.sleep(backoff.next())
        finally:
            if self._resyncs.get(book.pair) is asyncio.current_task():
                del self._resyncs[book.pair]


# --- REST polling ------------------------------------------------------------------------------


class GopaxPoller:
    """Market data by polling: ticker -> Quote, trades -> Trade, book -> BookSnapshot, candles -> Bar."""

    def __init__(self, venue: str, client: GopaxClient, *, bus: Bus, clock: Clock, interval_s: float = 1.0, book_depth: int = 20) -> None:
        self.venue = venue
        self.client = client
        self.bus = bus
        self.clock = clock
        self.interval_s = interval_s
        self.book_depth = book_depth
        self.pollers: dict[str, Poller[Any]] = {}
        self._last_trade: dict[str, int] = {}
        self._last_bar: dict[str, int] = {}

    def watch(self, pair: str, *, quotes: bool = True, trades: bool = True, books: bool = False, bars: bool = False) -> None:
        iid = f"{self.venue}:{pair}"
        wanted: dict[str, tuple[Callable[[], Any], Callable[[Any], None], float]] = {}
        if quotes:
            wanted["ticker"] = (lambda: self.client.ticker(pair), lambda t: self._quote(iid, t), self.interval_s)
        if trades:
            wanted["trades"] = (lambda: self.client.recent_trades(pair, Window(limit=100)), lambda ts: self._trades(iid, ts), self.interval_s)
        if books:
            wanted["book"] = (lambda: self.client.book(pair, level=2), lambda b: self._book(iid, b), max(self.interval_s, 1.0))
        if bars:
            wanted["candles"] = (lambda: self._recent_candles(pair), lambda rows: self._bars(iid, rows), max(self.interval_s, 5.0))
        for kind, (fetch, publish, interval) in wanted.items():
            name = f"{self.venue}:{kind}:{pair}"
            if name not in self.pollers:
                poller: Poller[Any] = Poller(name, fetch, publish, interval_s=interval)
                self.pollers[name] = poller
                poller.start()

    async def stop(self) -> None:
        for poller in self.pollers.values():
            await poller.stop()
        self.pollers.clear()

    def _quote(self, iid: str, t: w.Ticker) -> None:
        self.bus.publish(quote_from_ticker(iid, t, self.clock.now_ns()), iid)

    def _trades(self, iid: str, rows: list[w.PublicTrade]) -> None:
        last = self._last_trade.get(iid, 0)
        fresh = [r for r in rows if r.id > last]
        if not fresh:
            return
        publish = self.bus.publish
        for trade in trades_from_rest(iid, fresh, self.clock.now_ns()):
            publish(trade, iid)
        self._last_trade[iid] = max(r.id for r in fresh)

    def _book(self, iid: str, book: w.Book) -> None:
        self.bus.publish(snapshot_from_rest(iid, book, self.book_depth, self.clock.now_ns()), iid)

    async def _recent_candles(self, pair: str) -> list[w.Candle]:
        end = self.clock.now_ns() // 1_000_000
        return await self.client.candles(pair, start_ms=end - 3 * 60_000, end_ms=end, interval_min=1)

    def _bars(self, iid: str, rows: list[w.Candle]) -> None:
        now_ms = self.clock.now_ns() // 1_000_000
        for start, low, high, open_, close, volume in sorted(rows):
            if start <= self._last_bar.get(iid, 0) or start + 60_000 > now_ms:
                continue  # published already, or still forming
            bar = Bar(iid, 60, open_, high, low, close, volume, start * 1_000_000, (start + 60_000) * 1_000_000)
            self.bus.publish(bar, iid)
            self._last_bar[iid] = start



# --- REST answers -> engine events (module-level: the poller and the benchmarks use them) -------


def quote_from_ticker(iid: str, t: w.Ticker, ts_recv: int) -> Quote:
    return Quote(iid, t.bid, t.ask, t.bidVolume, t.askVolume, dt_ns(t.time), ts_recv, t.price)


def snapshot_from_rest(iid: str, book: w.Book, depth: int, ts_recv: int) -> BookSnapshot:
    bids = tuple([(px, vol) for _, px, vol, _ in book.bid[:depth]])
    asks = tuple([(px, vol) for _, px, vol, _ in book.ask[:depth]])
    return BookSnapshot(iid, bids, asks, ts_recv, ts_recv)


def trades_from_rest(iid: str, rows: list[w.PublicTrade], ts_recv: int) -> list[Trade]:
    """Oldest first (GOPAX answers newest first)."""
    buy, sell = Side.BUY, Side.SELL
    return [
        Trade(iid, r.price, r.amount, dt_ns(r.time), ts_recv, buy if r.side == "buy" else sell, str(r.id))
        for r in sorted(rows, key=lambda r: r.id)
    ]
