"""Samco streaming against the emulator's socket (quotes, depth, the newline rule, reconnects,
resubscription, staleness, a refused upgrade) and the pollers (quotes, the order budget)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest

from adapters.india import IST, to_ns
from adapters.samco import schemas as w
from adapters.samco import ticks
from adapters.samco.client import SamcoClient
from adapters.samco.emulator import SamcoEmulator
from adapters.samco.feed import OrderPoller, SamcoFeed
from engine.clock import RealtimeClock
from engine.data.bus import Bus
from engine.events import (
    BookSnapshot,
    FeedState,
    FeedStatus,
    OrderStatus,
    Quote,
    Side,
    Trade,
)
from engine.venue.contract import Channel
from engine.venue.retry import Backoff
from tests.adapters._india_fixtures import submit

from .conftest import TIMEOUT, bounded, start_venue, ticks_away, until

Make = Callable[..., Awaitable[SamcoEmulator]]
RELIANCE, INFY = "2885_NSE", "1594_NSE"
IDS = {RELIANCE: "samco:NSE:RELIANCE", INFY: "samco:NSE:INFY"}


class Seen:
    def __init__(self, bus: Bus) -> None:
        self.quotes: list[Quote] = []
        self.trades: list[Trade] = []
        self.books: list[BookSnapshot] = []
        self.status: list[FeedStatus] = []
        bus.subscribe(Quote, self.quotes.append, name="test.quotes")
        bus.subscribe(Trade, self.trades.append, name="test.trades")
        bus.subscribe(BookSnapshot, self.books.append, name="test.books")
        bus.subscribe(FeedStatus, self.status.append, name="test.status")


@pytest.fixture
def bus() -> Bus:
    return Bus()


@pytest.fixture
async def feed(emulator: SamcoEmulator, client: SamcoClient, bus: Bus) -> AsyncIterator[SamcoFeed]:
    f = make_feed(emulator, client, bus)
    f.start()
    yield f
    await bounded(f.stop())


def make_feed(emulator: SamcoEmulator, client: SamcoClient, bus: Bus, **kw: float) -> SamcoFeed:
    assert emulator.ws_url is not None
    return SamcoFeed("samco", emulator.ws_url, bus=bus, clock=RealtimeClock(), auth=client.auth,
                     backoff=Backoff(initial_s=0.05, maximum_s=0.2), stable_after_s=0.5, **kw)


async def test_quote_ticks_become_quotes_with_the_emulators_touch(feed: SamcoFeed, emulator: SamcoEmulator, bus: Bus) -> None:
    seen = Seen(bus)
    await bounded(feed.watch({RELIANCE: IDS[RELIANCE], INFY: IDS[INFY]}))
    await until(lambda: len({q.instrument for q in seen.quotes}) == 2 and len(seen.quotes) >= 20)
    await bounded(emulator.exchange.stop())
    quote = emulator.exchange.market("NSE:RELIANCE").quote
    assert quote is not None
    await until(lambda: any(q.instrument == IDS[RELIANCE] and (q.bid, q.ask) == (quote.bid, quote.ask) for q in seen.quotes[-5:]))

    last = [q for q in seen.quotes if q.instrument == IDS[RELIANCE]][-1]
    assert last.bid_size == float(int(quote.bid_size)) and last.last is not None and last.last > 0
    assert abs(last.ts_event - emulator.clock.now_ns()) < 5 * 10**9  # lttUTC, whole seconds
    assert seen.trades and all(t.size > 0 for t in seen.trades)  # volume that grew
    assert feed.malformed == 0 and feed.unknown == 0


async def test_depth_ticks_become_book_snapshots_best_first(feed: SamcoFeed, emulator: SamcoEmulator, bus: Bus) -> None:
    seen = Seen(bus)
    await bounded(feed.watch({INFY: IDS[INFY]}, depth=True))
    await until(lambda: len(seen.books) >= 5)
    await bounded(emulator.exchange.stop())
    bids, asks = emulator.exchange.book("NSE:INFY", 5)
    await until(lambda: seen.books[-1].bids[0][0] == float(bids[0][0]))

    book = seen.books[-1]
    assert len(book.bids) == len(book.asks) == 5
    assert [p for p, _ in book.bids] == sorted((p for p, _ in book.bids), reverse=True)
    assert book.asks[0][0] == float(asks[0][0]) and book.instrument == IDS[INFY]


def test_both_tick_shapes_and_several_ticks_in_one_message_are_read(bus: Bus) -> None:
    seen = Seen(bus)
    feed = SamcoFeed("samco", "ws://unused", bus=bus, clock=RealtimeClock(), auth=None)  # type: ignore[arg-type]
    feed.ids.update(IDS)
    flat = '{"aPr":"1290.55","aSz":"40","bPr":"1290.45","bSz":"30","sym":"2885_NSE","ltp":"1290.50","vol":"1,000","lttUTC":"20 Nov 2026, 03:50:00 AM","streaming_type":"quote"}'
    wrapped = '{"response":{"streaming_type":"quote","data":{"aPr":"1512.5","aSz":"9","bPr":"1512.4","bSz":"8","sym":"1594_NSE","ltp":"1512.45"}}}'
    depth = '{"response":{"streaming_type":"quote2","data":{"symbol":"1594_NSE","bidValues":[{"no":"1","qty":"5","price":"1512.40"}],"askValues":[{"no":"1","qty":"7","price":"1512.50"}],"tbq":"5","taq":"7"}}}'

    feed.on_message(flat)
    feed.on_message(f"{wrapped}\n{depth}\n".encode())

    assert [(q.instrument, q.bid, q.ask, q.bid_size, q.last) for q in seen.quotes] == [
        (IDS[RELIANCE], 1290.45, 1290.55, 30.0, 1290.5), (IDS[INFY], 1512.4, 1512.5, 8.0, 1512.45),
    ]
    assert seen.quotes[0].ts_event == to_ns(datetime(2026, 11, 20, 9, 20, tzinfo=IST))  # 03:50 UTC
    assert seen.books[0].bids == ((1512.4, 5.0),) and seen.books[0].asks == ((1512.5, 7.0),)


async def test_a_subscribe_frame_counts_only_once_its_newline_arrives(emulator: SamcoEmulator, client: SamcoClient) -> None:
    token = await bounded(client.auth.token())
    frame = ticks.stream_frame("quote", "subscribe", [RELIANCE])
    async with aiohttp.ClientSession() as http, http.ws_connect(emulator.ws_url or "", headers={"x-session-token": token}) as ws:
        await ws.send_str(frame.rstrip("\n"))
        for _ in range(10):
            await asyncio.sleep(0.01)
        sub = next(iter(emulator.stream.subscribers))
        before = set(sub.quotes)
        await ws.send_str("\n")
        first = await bounded(ws.receive_str())

    assert before == set() and sub.quotes == {RELIANCE}
    assert ticks.decode_tick(first).sym == RELIANCE


async def test_the_upgrade_needs_a_live_session_token(emulator: SamcoEmulator) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await bounded(http.ws_connect(emulator.ws_url or "", headers={"x-session-token": "not-a-jwt"}))

    assert caught.value.status == 401 and emulator.stream.refused == 1


async def test_a_dropped_socket_reconnects_and_resubscribes(emulator: SamcoEmulator, client: SamcoClient, bus: Bus) -> None:
    seen = Seen(bus)
    emulator.faults.ws_drop_after = 30
    feed = make_feed(emulator, client, bus)
    feed.start()
    try:
        await bounded(feed.watch({RELIANCE: IDS[RELIANCE]}, depth=True))
        await until(lambda: emulator.stream.connections >= 3 and feed.reconnects >= 2)
        emulator.faults.ws_drop_after = None
        count = len(seen.quotes)
        await until(lambda: len(seen.quotes) > count + 10)
    finally:
        await bounded(feed.stop())

    assert sum(1 for s in seen.status if s.state is FeedState.RECONNECTING) >= 2
    assert all(len(sub.quotes) == 1 for sub in emulator.stream.subscribers)  # what was asked, asked again
    assert {b.instrument for b in seen.books} == {IDS[RELIANCE]} and feed.malformed == 0


async def test_a_quiet_subscription_is_reported_stale_and_the_socket_reconnected(emulator: SamcoEmulator, client: SamcoClient, bus: Bus) -> None:
    seen = Seen(bus)
    feed = make_feed(emulator, client, bus, stale_after_s=0.3)
    feed.reconnect_when_stale = True
    feed.start()
    try:
        await bounded(feed.watch({RELIANCE: IDS[RELIANCE]}))
        await until(lambda: len(seen.quotes) >= 3)
        await bounded(emulator.exchange.stop())  # the market goes quiet
        await until(lambda: any(s.state is FeedState.STALE for s in seen.status))
        await until(lambda: emulator.stream.connections >= 2)
    finally:
        await bounded(feed.stop())

    stale = next(s for s in seen.status if s.state is FeedState.STALE)
    assert stale.subscription == f"quote:{RELIANCE}"


async def test_an_expired_token_on_the_upgrade_is_renewed_and_the_feed_comes_back(emulator: SamcoEmulator, client: SamcoClient, bus: Bus) -> None:
    seen = Seen(bus)
    feed = make_feed(emulator, client, bus)  # the session runs on the real clock: it misses the jump
    client.auth._now = RealtimeClock().now_ns  # type: ignore[method-assign]
    feed.start()
    try:
        await bounded(feed.watch({RELIANCE: IDS[RELIANCE]}))
        await until(lambda: len(seen.quotes) >= 3)
        emulator.clock.advance(86_400)  # past 08:00: the token is dead
        emulator.faults.ws_drop_after = 1  # drop the socket: the next upgrade carries the dead token
        await until(lambda: emulator.stream.refused >= 1)
        emulator.faults.ws_drop_after = None
        count = len(seen.quotes)
        await until(lambda: len(seen.quotes) > count + 3)
    finally:
        await bounded(feed.stop())

    assert emulator.logins == 2 and client.auth.rejections >= 1


async def test_quotes_are_polled_over_rest_when_streaming_is_off(emulator: SamcoEmulator, tmp_path: Path) -> None:
    h = await start_venue(emulator, tmp_path, mode="paper", stream=False, quote_poll_s=0.05)
    quotes: list[Quote] = []
    h.bus.subscribe(Quote, quotes.append, name="test.quotes")
    try:
        await bounded(h.venue.subscribe(["samco:NSE:TCS"], [Channel.QUOTES]))
        await until(lambda: len(quotes) >= 3)
    finally:
        await h.close()

    assert h.venue.feed is None and h.venue.orders is None  # paper mode: no order polling
    assert all(q.instrument == "samco:NSE:TCS" and 0 < q.bid < q.ask for q in quotes)
    assert emulator.requests["GET /quote/getQuote"] >= 3


async def test_the_order_poller_is_fast_after_an_order_slow_while_working_idle_otherwise(emulator: SamcoEmulator, tmp_path: Path) -> None:
    h = await start_venue(emulator, tmp_path, poll_fast_s=0.02, poll_slow_s=0.1, poll_idle_s=0.5, fast_window_s=0.3)
    poller = h.venue.orders
    assert poller is not None
    try:
        await until(lambda: poller.book_requests >= 1)
        idle = poller.interval_s
        order = submit(h, "samco:NSE:ITC", Side.BUY, 1, ticks_away(emulator, "NSE:ITC", -40))
        await until(lambda: h.order(order.client_order_id).status is OrderStatus.PLACED)
        fast = poller.interval_s
        await until(lambda: poller.interval_s == 0.1)  # the fast window is over; an order works
        h.manager.cancel(order.client_order_id)
        await until(lambda: h.order(order.client_order_id).status is OrderStatus.CANCELLED)
        await until(lambda: poller.interval_s == 0.5, timeout=TIMEOUT)  # nothing works any more
        trades_before = poller.trade_requests
        books_before = poller.book_requests
        await until(lambda: poller.book_requests >= books_before + 2)
    finally:
        await h.close()

    assert (idle, fast) == (0.5, 0.02)
    assert poller.trade_requests == trades_before  # no fill moved: the trade book is not read


async def test_a_trade_book_that_lags_the_order_book_is_read_again_on_the_next_poll() -> None:
    class Lagging:
        """An order book that shows a fill one poll before the trade book has it."""

        def __init__(self) -> None:
            self.polls = 0
            self.trade_reads = 0

        async def order_book(self) -> list[w.OrderRow]:
            self.polls += 1
            return [w.OrderRow(orderNumber="1", orderStatus="Complete", filledQuantity="5")]

        async def trade_book(self) -> list[w.TradeRow]:
            self.trade_reads += 1
            if self.trade_reads == 1:
                return []
            return [w.TradeRow(orderNumber="1", tradeNumber="9", filledQuantity="5", tradePrice="10.00", transactionType="BUY")]

    fake = Lagging()
    poller = OrderPoller("test", fake, lambda changes: None, fast_s=1, slow_s=1, idle_s=1, fast_window_s=0)  # type: ignore[arg-type]
    first = await bounded(poller.poll_now())
    second = await bounded(poller.poll_now())
    third = await bounded(poller.poll_now())

    assert (first[1], [t.tradeNumber for t in second[1]]) == ([], ["9"])
    assert fake.trade_reads == 2 and third[1] == second[1]  # caught up: not read a third time


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        ('{"request":{"streaming_type":"quote","data":{"symbols":[]},"request_type":"subscribe"}}', "symbols"),
        ('{"request":{"streaming_type":"quote","data":{"symbols":[{"symbol":"2885_NSE"}]},"request_type":"sub"}}', "request_type"),
        ('{"request":{"streaming_type":"ticks","data":{"symbols":[{"symbol":"2885_NSE"}]},"request_type":"subscribe"}}', "streaming_type"),
        ("subscribe 2885_NSE", "not JSON"),
    ],
)
async def test_a_malformed_request_is_refused_and_the_feed_says_so(emulator: SamcoEmulator, client: SamcoClient, frame: str, why: str) -> None:
    token = await bounded(client.auth.token())
    async with aiohttp.ClientSession() as http, http.ws_connect(emulator.ws_url or "", headers={"x-session-token": token}) as ws:
        await ws.send_str(frame + "\n")
        answer = await bounded(ws.receive_str())
    feed = SamcoFeed("samco", "ws://unused", bus=Bus(), clock=RealtimeClock(), auth=None)  # type: ignore[arg-type]
    feed.on_message(answer)

    assert ticks.decode_tick(answer).response is not None and emulator.stream.malformed == 1
    assert len(feed.refusals) == 1 and why in feed.refusals[0] and feed.unknown == 0
    assert all(not sub.quotes and not sub.depths for sub in emulator.stream.subscribers)
