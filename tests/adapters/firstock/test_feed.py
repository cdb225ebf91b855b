"""The Firstock V2 socket against the emulator: the handshake (and its refusal), ticks in paise into
Quote / Trade, both tick shapes, order-update frames into the sync core, a drop and a dead jKey
each followed by a reconnect that resubscribes, staleness, and quotes polled when streaming is off."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from adapters.firstock import ticks
from adapters.firstock.client import FirstockClient
from adapters.firstock.emulator import FirstockEmulator
from adapters.firstock.emulator.market import trade_row
from adapters.firstock.feed import FirstockFeed
from engine.clock import RealtimeClock
from engine.data.bus import Bus
from engine.events import FeedState, FeedStatus, OrderStatus, Quote, Side, Trade
from engine.venue.contract import Channel
from engine.venue.retry import Backoff
from tests.adapters._india_fixtures import submit

from .conftest import bounded, start_venue, ticks_away, until

Make = Callable[..., Awaitable[FirstockEmulator]]
RELIANCE, SBIN = "NSE:2885", "NSE:3045"
IDS = {RELIANCE: "firstock:NSE:RELIANCE", SBIN: "firstock:NSE:SBIN"}


class Seen:
    def __init__(self, bus: Bus) -> None:
        self.quotes: list[Quote] = []
        self.trades: list[Trade] = []
        self.status: list[FeedStatus] = []
        self.orders: list[ticks.OrderUpdate] = []
        bus.subscribe(Quote, self.quotes.append, name="test.quotes")
        bus.subscribe(Trade, self.trades.append, name="test.trades")
        bus.subscribe(FeedStatus, self.status.append, name="test.status")


@pytest.fixture
def bus() -> Bus:
    return Bus()


def make_feed(emulator: FirstockEmulator, client: FirstockClient, bus: Bus, seen: Seen | None = None, **kw: float) -> FirstockFeed:
    assert emulator.ws_url is not None
    orders = seen.orders.append if seen is not None else (lambda update: None)
    return FirstockFeed("firstock", emulator.ws_url, bus=bus, clock=RealtimeClock(), auth=client.auth, on_order=orders,
                        on_opened=lambda: None, backoff=Backoff(initial_s=0.05, maximum_s=0.2), stable_after_s=0.5, **kw)


@pytest.fixture
async def feed(emulator: FirstockEmulator, client: FirstockClient, bus: Bus) -> AsyncIterator[FirstockFeed]:
    f = make_feed(emulator, client, bus)
    f.start()
    yield f
    await bounded(f.stop())


async def test_ticks_in_paise_become_quotes_and_trades_in_rupees(feed: FirstockFeed, emulator: FirstockEmulator, bus: Bus) -> None:
    seen = Seen(bus)
    await bounded(feed.watch({RELIANCE: IDS[RELIANCE]}))
    await until(lambda: len(seen.quotes) >= 5 and len(seen.trades) >= 1)
    quote = seen.quotes[-1]
    assert quote.instrument == IDS[RELIANCE] and 1000 < quote.bid < quote.ask < 1600
    assert quote.last is not None and quote.bid == round(quote.bid, 2)  # paise / 100
    assert feed.malformed == 0 and feed.unknown == 0 and feed.connects == 1


def test_both_tick_shapes_and_control_frames_are_read_and_a_bad_frame_raises(bus: Bus) -> None:
    seen = Seen(bus)
    f = FirstockFeed("firstock", "ws://127.0.0.1:1/V2/ws", bus=bus, clock=RealtimeClock(), auth=None,  # type: ignore[arg-type]
                     on_order=seen.orders.append, on_opened=lambda: None)
    f.ids[RELIANCE] = IDS[RELIANCE]
    flat = {"c_symbol": "2885", "c_exch_seg": "NSE", "i_last_traded_price": 129050, "i_volume_traded_today": 10,
            "best_buy": [{"price": 129045, "quantity": 7, "orders": 1}], "best_sell": [{"price": 129055, "quantity": 9, "orders": 2}]}
    f.on_message(json.dumps(flat))
    f.on_message(json.dumps({RELIANCE: {**flat, "i_volume_traded_today": 15, "i_last_trade_quantity": 5}}))
    f.on_message(json.dumps({"c_symbol": "99999", "c_exch_seg": "NSE", "i_last_traded_price": 100}))
    f.on_message('{"status":"success","message":"subscribed"}')
    f.on_message('{"norenordno":"26112000000001","status":"OPEN","remarks":"x"}')
    f.on_message('{"brkname":"FIRSTOCK","tsym":"SBIN-EQ"}')
    with pytest.raises(ValueError):
        f.on_message("not json")
    assert [(q.bid, q.ask, q.bid_size, q.last) for q in seen.quotes] == [(1290.45, 1290.55, 7.0, 1290.5)] * 2
    assert [(t.price, t.size) for t in seen.trades] == [(1290.5, 5.0)]
    assert f.unknown == 1 and f.controls == ["subscribed"] and f.positions == 1
    assert [u.norenordno for u in seen.orders] == ["26112000000001"]


async def test_the_handshake_needs_a_live_jkey(emulator: FirstockEmulator) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{emulator.ws_url}?userId={emulator.user_id}&jKey=forged") as ws:
        first = await bounded(ws.receive())
        closed = await bounded(ws.receive())
    assert json.loads(first.data) == {"status": "failed", "message": "Invalid jKey"}
    assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) and emulator.stream.refused == 1


async def test_a_bad_request_gets_a_failed_frame(emulator: FirstockEmulator, client: FirstockClient) -> None:
    jkey = await bounded(client.auth.token())
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{emulator.ws_url}?userId={emulator.user_id}&jKey={jkey}") as ws:
        hello = await bounded(ws.receive())
        await ws.send_str('{"action":"subscribe"}')
        refused = await bounded(ws.receive())
    assert "Authentication successful" in hello.data
    assert json.loads(refused.data)["status"] == "failed" and emulator.stream.malformed == 1


async def test_a_dropped_socket_reconnects_and_resubscribes(emulator: FirstockEmulator, client: FirstockClient, bus: Bus) -> None:
    seen = Seen(bus)
    emulator.faults.ws_drop_after = 30
    feed = make_feed(emulator, client, bus)
    feed.start()
    try:
        await bounded(feed.watch({RELIANCE: IDS[RELIANCE], SBIN: IDS[SBIN]}))
        await until(lambda: emulator.stream.connections >= 3 and feed.reconnects >= 2)
        emulator.faults.ws_drop_after = None
        count = len(seen.quotes)
        await until(lambda: len(seen.quotes) > count + 10)
    finally:
        await bounded(feed.stop())
    assert sum(1 for s in seen.status if s.state is FeedState.RECONNECTING) >= 2
    assert all(sub.tokens == {RELIANCE, SBIN} for sub in emulator.stream.subscribers)  # what was asked, asked again
    assert {q.instrument for q in seen.quotes} == set(IDS.values()) and feed.malformed == 0


async def test_a_dead_jkey_on_the_handshake_logs_in_again_and_the_feed_comes_back(emulator: FirstockEmulator, client: FirstockClient, bus: Bus) -> None:
    seen = Seen(bus)
    feed = make_feed(emulator, client, bus)
    feed.start()
    try:
        await bounded(feed.watch({RELIANCE: IDS[RELIANCE]}))
        await until(lambda: len(seen.quotes) >= 3)
        emulator.expire_sessions()  # the emulator closes the socket; the next handshake carries the dead jKey
        await until(lambda: emulator.logins == 2)
        count = len(seen.quotes)
        await until(lambda: len(seen.quotes) > count + 3)
    finally:
        await bounded(feed.stop())
    assert feed.refusals >= 1 and client.auth.rejections >= 1 and feed.connects >= 2


async def test_a_quiet_subscription_is_reported_stale_and_the_socket_reconnected(emulator: FirstockEmulator, client: FirstockClient, bus: Bus) -> None:
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
    assert next(s for s in seen.status if s.state is FeedState.STALE).subscription == RELIANCE


async def test_order_update_frames_reach_the_manager_without_any_rest_look(emulator: FirstockEmulator, tmp_path: Path) -> None:
    h = await start_venue(emulator, tmp_path, poll_s=3600.0)  # the safety-net poll never comes
    try:
        await until(lambda: h.venue.feed is not None and h.venue.feed.connected)
        await until(lambda: h.venue.sync.stats.catch_ups >= 1)  # the look when the socket opened
        books = emulator.requests["POST /V1/orderBook"]
        order = submit(h, "firstock:NSE:SBIN", Side.BUY, 4, ticks_away(emulator, "NSE:SBIN", -30))
        await until(lambda: h.order(order.client_order_id).status is OrderStatus.PLACED)
        number = h.order(order.client_order_id).venue_order_id
        emulator.fill_resting(number, Decimal(1))
        await until(lambda: h.order(order.client_order_id).filled_qty == 1)
        emulator.fill_resting(number, Decimal(3))
        await until(lambda: h.order(order.client_order_id).status is OrderStatus.COMPLETED)
        reads = emulator.requests["POST /V1/orderBook"] - books
        fills = h.journal.load().fills
    finally:
        await h.close()
    assert reads == 0  # every state came over the socket
    trades = {trade_row(o, f).fillId for o in emulator.orders.values() for f in o.fills}
    assert {f.fill_id for f in fills} == trades and sum(f.qty for f in fills) == 4


async def test_quotes_are_polled_over_rest_when_streaming_is_off(emulator: FirstockEmulator, tmp_path: Path) -> None:
    h = await start_venue(emulator, tmp_path, mode="paper", stream=False, quote_poll_s=0.05)
    quotes: list[Quote] = []
    h.bus.subscribe(Quote, quotes.append, name="test.quotes")
    try:
        await bounded(h.venue.subscribe(["firstock:NSE:TCS"], [Channel.QUOTES]))
        await until(lambda: len(quotes) >= 3)
    finally:
        await h.close()
    assert h.venue.feed is None and h.venue.books is None  # paper mode: no socket, no book polling
    assert all(q.instrument == "firstock:NSE:TCS" and 0 < q.bid < q.ask for q in quotes)
    assert emulator.requests["POST /V1/getQuote"] >= 3
