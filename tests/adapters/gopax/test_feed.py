"""The GOPAX websocket feed against the emulator's socket: pings, snapshots and deltas, gaps,
drops and reconnects, private events; and the REST poller."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import aiohttp
import msgspec
import pytest

from adapters.gopax import schemas as w
from adapters.gopax.auth import GopaxAuth
from adapters.gopax.book import LocalBook
from adapters.gopax.client import GopaxClient
from adapters.gopax.emulator import GopaxEmulator
from adapters.gopax.feed import GopaxFeed, GopaxPoller
from engine.clock import RealtimeClock
from engine.data.bus import Bus
from engine.events import Bar, BookSnapshot, FeedState, FeedStatus, Quote, Side, Trade
from engine.venue.retry import Backoff
from tests.helpers import REPO

from .conftest import TIMEOUT, bounded, until


class Private:
    """A PrivateHandler that keeps what it is given."""

    def __init__(self) -> None:
        self.orders: list[w.WsOrder] = []
        self.trades: list[w.WsTrade] = []
        self.balances: list[w.WsBalance] = []

    def on_ws_order(self, order: w.WsOrder) -> None:
        self.orders.append(order)

    def on_ws_trade(self, trade: w.WsTrade) -> None:
        self.trades.append(trade)

    def on_ws_balance(self, balance: w.WsBalance) -> None:
        self.balances.append(balance)


class Seen:
    def __init__(self, bus: Bus) -> None:
        self.quotes: list[Quote] = []
        self.trades: list[Trade] = []
        self.books: list[BookSnapshot] = []
        bus.subscribe(Quote, self.quotes.append, name="test.quotes")
        bus.subscribe(Trade, self.trades.append, name="test.trades")
        bus.subscribe(BookSnapshot, self.books.append, name="test.books")


@pytest.fixture
async def bus() -> Bus:
    return Bus()


@pytest.fixture
async def feed(emulator: GopaxEmulator, client: GopaxClient, bus: Bus) -> AsyncIterator[GopaxFeed]:
    f = make_feed(emulator, client, bus)
    f.start()
    yield f
    await bounded(f.stop())


def make_feed(emulator: GopaxEmulator, client: GopaxClient, bus: Bus, **kw: Any) -> GopaxFeed:
    assert emulator.ws_url is not None
    return GopaxFeed("gopax", emulator.ws_url, bus=bus, clock=RealtimeClock(), client=client,
                     backoff=Backoff(initial_s=0.05, maximum_s=0.2), **kw)


def levels(book: LocalBook) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    bids, asks = book.levels(1000)
    return list(bids), list(asks)


def emulator_levels(emulator: GopaxEmulator, pair: str) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    book = emulator.books[pair]
    return [(e.price, e.volume) for e in book.side(True)], [(e.price, e.volume) for e in book.side(False)]


async def settled_equal(feed: GopaxFeed, emulator: GopaxEmulator, pair: str) -> None:
    """Stop the price process, then wait until the feed's book is the emulator's."""
    await bounded(emulator.exchange.stop())
    await until(lambda: feed.books[pair].synced and levels(feed.books[pair]) == emulator_levels(emulator, pair))


async def test_the_servers_primus_pings_are_answered(emulator: GopaxEmulator, client: GopaxClient, bus: Bus) -> None:
    emulator.sockets.ping_interval_s = 0.05
    feed = make_feed(emulator, client, bus)
    feed.start()
    try:
        await until(lambda: feed.pongs >= 3)
        conn = next(iter(emulator.sockets.connections))
        await until(lambda: conn.pongs >= 3)
    finally:
        await bounded(feed.stop())

    assert feed.reconnects == 0  # never dropped for a missing pong


async def test_a_client_that_does_not_pong_is_dropped(emulator: GopaxEmulator) -> None:
    emulator.sockets.ping_interval_s = 0.05
    async with aiohttp.ClientSession() as http, http.ws_connect(emulator.ws_url or "") as ws:
        frames = []
        async with asyncio.timeout(TIMEOUT):
            async for msg in ws:
                frames.append(msg.data)

    assert frames and all(f.startswith('"primus::ping::') for f in frames) and ws.closed


async def test_snapshot_and_deltas_keep_the_local_book_equal_to_the_emulators(feed: GopaxFeed, emulator: GopaxEmulator, bus: Bus) -> None:
    seen = Seen(bus)
    await bounded(feed.watch(["BTC-KRW"], books=True))
    await until(lambda: len(seen.quotes) >= 20)  # a good many deltas applied

    await settled_equal(feed, emulator, "BTC-KRW")

    bids, asks = emulator_levels(emulator, "BTC-KRW")
    assert seen.quotes[-1].bid == bids[0][0] and seen.quotes[-1].ask == asks[0][0]
    assert seen.quotes[-1].instrument == "gopax:BTC-KRW"
    assert seen.books[-1].bids[0] == bids[0] and len(seen.books[-1].asks) == feed.book_depth
    assert feed.gaps == 0 and feed.malformed == 0


async def test_public_trades_are_published_with_their_side_and_id(feed: GopaxFeed, emulator: GopaxEmulator, bus: Bus) -> None:
    seen = Seen(bus)
    await bounded(feed.watch(["ETH-KRW"]))
    await until(lambda: len(seen.trades) >= 3)

    known = {t.id: t for t in emulator.exchange.market("ETH-KRW").trades}
    for trade in seen.trades:
        sim = known[int(trade.trade_id or 0)]
        assert (trade.price, trade.aggressor) == (sim.price, sim.side)


async def test_a_lost_delta_is_detected_and_the_book_resynchronised(feed: GopaxFeed, emulator: GopaxEmulator, client: GopaxClient) -> None:
    await bounded(feed.watch(["BTC-KRW"]))
    await until(lambda: feed.books["BTC-KRW"].synced)
    await bounded(emulator.exchange.stop())
    bid = emulator.books["BTC-KRW"].side(True, 1)[0].price
    emulator.sockets.lose_book_deltas = 1  # the delta that adds our order's level never arrives

    placed = await bounded(client.place(w.OrderRequest(
        tradingPairName="BTC-KRW", side="buy", type="limit", amount=Decimal("0.01"), price=Decimal(int(bid - 300_000)),
    )))
    await until(lambda: emulator.sockets.lost_book_deltas == 1)
    await bounded(client.cancel(placed.id))  # its deletion arrives for a level the feed never had

    await until(lambda: feed.resyncs >= 1 and feed.books["BTC-KRW"].synced)
    assert feed.gaps == 1
    assert levels(feed.books["BTC-KRW"]) == emulator_levels(emulator, "BTC-KRW")


async def test_a_dropped_socket_reconnects_resubscribes_and_resyncs_the_book(feed: GopaxFeed, emulator: GopaxEmulator) -> None:
    await bounded(feed.watch(["XRP-KRW"], trades=False))  # SubscribeToOrderBook
    await until(lambda: feed.books["XRP-KRW"].synced)
    conn = next(iter(emulator.sockets.connections))
    emulator.faults.ws_drop_after = conn.sent + 5

    await until(lambda: feed.reconnects >= 1 and feed.connects >= 2)
    emulator.faults.ws_drop_after = None
    await until(lambda: any(c is not conn and "XRP-KRW" in c.books for c in emulator.sockets.connections))

    await settled_equal(feed, emulator, "XRP-KRW")
    assert emulator.faults.injected >= 1


async def test_the_tickers_channel_quotes_the_pairs_asked_for(feed: GopaxFeed, emulator: GopaxEmulator, bus: Bus) -> None:
    seen = Seen(bus)
    await bounded(feed.watch_tickers(["ETH-KRW"]))
    await until(lambda: bool(seen.quotes))

    quote = seen.quotes[0]
    row = {r.tradingPairName: r for r in emulator.ticker_rows()}["ETH-KRW"]
    assert {q.instrument for q in seen.quotes} == {"gopax:ETH-KRW"}
    assert quote.bid < quote.ask and abs(quote.bid - row.highestBid) <= 10 * 1000


async def test_private_events_reach_the_handler_after_a_signed_login(emulator: GopaxEmulator, client: GopaxClient, bus: Bus) -> None:
    private = Private()
    auth = GopaxAuth(emulator.api_key, emulator.secret)
    feed = make_feed(emulator, client, bus, login=auth.ws_params, private=private)
    feed.start()
    try:
        await bounded(feed.subscribe("orders", "trades", "balances"))
        await until(lambda: len(private.balances) >= 4)  # the reply lists every funded asset
        bought = await bounded(client.place(w.OrderRequest(
            tradingPairName="XRP-KRW", side="buy", type="market", amount=Decimal(20000), clientOrderId="mine1",
        )))
        await until(lambda: any(o.status == 3 for o in private.orders) and bool(private.trades))
    finally:
        await bounded(feed.stop())

    assert {o.orderId for o in private.orders} == {int(bought.id)}
    assert all(o.clientOrderId is None for o in private.orders)  # the docs' socket orders carry none
    assert all(t.orderId == int(bought.id) and t.side == 1 for t in private.trades)
    assert {b.isoAlpha3 for b in private.balances} >= {"KRW", "XRP"}
    assert feed.refusals == []


async def test_private_channels_are_refused_without_a_login(feed: GopaxFeed) -> None:
    await bounded(feed.subscribe("orders"))

    await until(lambda: bool(feed.refusals))
    assert feed.refusals == [("orders", 10004, "Not Authorized")]


async def test_a_legacy_key_cannot_log_in_to_the_socket(emulator: GopaxEmulator) -> None:
    params = GopaxAuth(emulator.legacy_api_key, emulator.legacy_secret).ws_params()
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await bounded(http.ws_connect(emulator.ws_url or "", params=params))

    assert caught.value.status == 401


async def test_unknown_subscriptions_and_pairs_are_refused_with_gopaxs_codes(feed: GopaxFeed) -> None:
    await bounded(feed.watch(["NOPE-KRW"]))
    await until(lambda: bool(feed.refusals))
    await bounded(feed.send('{"i":9,"n":"SubscribeToNothing","o":{}}'))
    await until(lambda: bool(feed.unknown))  # GOPAX answers in kind: a frame the union does not know

    assert feed.refusals == [("pair:NOPE-KRW", 10058, "NOPE")]
    assert feed.unknown == {"SubscribeToNothing": 1} and feed.malformed == 0


def test_frames_of_an_unknown_kind_are_counted_not_fatal() -> None:
    feed = GopaxFeed("gopax", "ws://unused", bus=Bus(), clock=RealtimeClock(), client=None)  # type: ignore[arg-type]

    feed.on_message('{"i":-1,"n":"SomethingNew","o":{}}')

    assert feed.unknown == {"SomethingNew": 1}


def test_the_local_book_applies_gopaxs_newest_entry_rule() -> None:
    book = LocalBook("BTC-KRW")
    book.load([w.BookEntry(10, 101.0, 1.0, 5.0)], [w.BookEntry(9, 99.0, 2.0, 5.0)], 10)

    applied = book.apply([w.BookEntry(8, 101.0, 7.0, 6.0)], [])  # at or below maxEntryId: in the snapshot
    stale = book.apply([w.BookEntry(12, 101.0, 3.0, 4.0)], [])  # older updatedAt than the level's
    newer = book.apply([w.BookEntry(13, 101.0, 4.0, 7.0), w.BookEntry(14, 102.0, 1.0, 7.0)], [w.BookEntry(15, 99.0, 0.0, 7.0)])

    assert applied and stale and newer
    assert book.top() == (0.0, 0.0, 101.0, 4.0) and levels(book) == ([], [(101.0, 4.0), (102.0, 1.0)])


@pytest.mark.parametrize(
    ("asks", "bids"),
    [
        ([w.BookEntry(20, 105.0, 0.0, 9.0)], []),  # deleting a level it never had
        ([], [w.BookEntry(20, 101.0, 1.0, 9.0)]),  # a bid at the best ask: crossed
    ],
)
def test_the_local_book_reports_a_delta_that_shows_drift(asks: list[w.BookEntry], bids: list[w.BookEntry]) -> None:
    book = LocalBook("BTC-KRW")
    book.load([w.BookEntry(10, 101.0, 1.0, 5.0)], [w.BookEntry(9, 99.0, 2.0, 5.0)], 10)

    assert book.apply(asks, bids) is False


async def test_the_rest_poller_publishes_quotes_trades_and_books(emulator: GopaxEmulator, client: GopaxClient, bus: Bus) -> None:
    seen = Seen(bus)
    poller = GopaxPoller("gopax", client, bus=bus, clock=RealtimeClock(), interval_s=0.05)
    poller.watch("BTC-KRW", books=True)
    try:
        await until(lambda: len(seen.quotes) >= 3 and len(seen.trades) >= 3 and bool(seen.books))
    finally:
        await bounded(poller.stop())

    assert all(q.instrument == "gopax:BTC-KRW" and 0 < q.bid < q.ask for q in seen.quotes)
    ids = [int(t.trade_id or 0) for t in seen.trades]
    assert ids == sorted(set(ids))  # each trade once, in order
    assert seen.books[0].bids[0][0] < seen.books[0].asks[0][0]
    assert {t.aggressor for t in seen.trades} <= {Side.BUY, Side.SELL}


def test_candles_become_bars_from_gopaxs_low_high_open_close_order() -> None:
    bus = Bus()
    seen: list[Any] = []
    bus.subscribe(Bar, seen.append, name="test.bars")
    poller = GopaxPoller("gopax", None, bus=bus, clock=RealtimeClock())  # type: ignore[arg-type]
    start = 1_521_004_020_000

    poller._bars("gopax:BTC-KRW", [(start, 10.0, 40.0, 20.0, 30.0, 0.5), (start, 10.0, 40.0, 20.0, 30.0, 0.5)])

    assert len(seen) == 1  # a bar once, however often its candle is polled
    bar = seen[0]
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (20.0, 40.0, 10.0, 30.0, 0.5)
    assert (bar.ts_start, bar.interval_s) == (start * 1_000_000, 60)


# --- request ids, resynchronisation, the signed login URL --------------------------------------------


async def test_request_ids_are_integers_and_the_emulator_refuses_any_other_kind(emulator: GopaxEmulator, client: GopaxClient, bus: Bus) -> None:
    feed = make_feed(emulator, client, bus)
    frames = [msgspec.json.decode(f) for f in feed.subscribe_frames(["tickers", "pair:BTC-KRW", "tickers"])]
    async with aiohttp.ClientSession() as http, http.ws_connect(emulator.ws_url or "") as ws:
        await ws.send_str('{"i":"tickers","n":"SubscribeToTickers","o":{}}')
        answer = msgspec.json.decode(await bounded(ws.receive_str()))

    assert [f["i"] for f in frames] == [1, 2, 1]  # one integer per subscription, kept
    assert answer == {"i": "tickers", "n": "SubscribeToTickers", "o": {"result": False, "errCode": 10256, "errData": "i must be an integer"}}


@pytest.mark.parametrize("sequence", ["foreign", "missing"])
async def test_a_book_reloaded_over_rest_follows_the_socket_whatever_rests_sequence_holds(
    emulator: GopaxEmulator, client: GopaxClient, bus: Bus, sequence: str
) -> None:
    statuses: list[FeedStatus] = []
    bus.subscribe(FeedStatus, statuses.append, name="test.status")
    emulator.book_sequence = sequence  # GET /book's sequence on another scale than the socket's ids, or none
    feed = make_feed(emulator, client, bus)
    feed.start()
    try:
        await bounded(feed.watch(["BTC-KRW"]))
        await until(lambda: feed.books["BTC-KRW"].synced)
        await bounded(emulator.exchange.stop())
        bid = emulator.books["BTC-KRW"].side(True, 1)[0].price
        emulator.sockets.lose_book_deltas = 1
        placed = await bounded(client.place(w.OrderRequest(
            tradingPairName="BTC-KRW", side="buy", type="limit", amount=Decimal("0.01"), price=Decimal(int(bid - 300_000)),
        )))
        await until(lambda: emulator.sockets.lost_book_deltas == 1)
        await bounded(client.cancel(placed.id))  # a deletion of a level the feed never had: a gap
        await until(lambda: feed.resyncs >= 1 and feed.books["BTC-KRW"].synced)
        traded = len(emulator.exchange.market("BTC-KRW").trades)
        emulator.exchange.start()  # the market moves on: the deltas after the reload must apply
        await until(lambda: len(emulator.exchange.market("BTC-KRW").trades) >= traded + 5)
        await settled_equal(feed, emulator, "BTC-KRW")
    finally:
        await bounded(feed.stop())

    book_status = [(s.state, s.subscription) for s in statuses if s.subscription == "pair:BTC-KRW"]
    assert book_status[:2] == [(FeedState.STALE, "pair:BTC-KRW"), (FeedState.CONNECTED, "pair:BTC-KRW")]
    assert not feed.out_of_sync


async def test_a_book_resync_keeps_trying_past_many_failures(emulator: GopaxEmulator, bus: Bus) -> None:
    from engine.venue.ratelimit import RateLimiter

    quick = GopaxClient("gopax", emulator.url, retries=0)  # every failure reaches the resync at once
    quick.limiters["book"] = RateLimiter(1000, 1.0)
    await quick.start()
    feed = make_feed(emulator, quick, bus)
    feed.resync_backoff_s = (0.005, 0.01)
    feed.start()
    try:
        await bounded(feed.watch(["XRP-KRW"]))
        await until(lambda: feed.books["XRP-KRW"].synced)
        emulator.faults.burst_5xx = 30  # GET /book fails thirty times in a row
        feed._gap(feed.books["XRP-KRW"])  # as a lost delta would
        await until(lambda: feed.books["XRP-KRW"].synced)
    finally:
        await bounded(feed.stop())
        await quick.close()

    assert emulator.faults.burst_5xx == 0 and quick.statuses[503] == 30 and feed.resyncs == 1


_LEAK_SCRIPT = r"""
import asyncio, base64, json, sys
from pathlib import Path
from engine import log as elog
from adapters.gopax.adapter import GopaxVenue
from adapters.gopax.config import GopaxConfig
from adapters.gopax.emulator import GopaxEmulator
from engine.data.bus import Bus
from engine.clock import RealtimeClock
from engine.venue.contract import VenueContext

class Sink:
    def on_order_report(self, r): pass
    def on_fill(self, f): pass
    def on_balance(self, b): pass

async def main():
    elog.configure("json", "debug")
    emu = GopaxEmulator(seed=3)
    await emu.start()
    key = "f" * 64  # a 64-character key GOPAX does not know: the upgrade is refused
    secret = base64.b64encode(b"not-the-secret-of-any-key-0123456").decode()
    config = GopaxConfig(api_key=key, secret=secret, url=emu.url, ws_url=emu.ws_url, pairs=["BTC-KRW"])
    ctx = VenueContext(name="gopax", bus=Bus(), clock=RealtimeClock(), sink=Sink(), state_dir=Path(sys.argv[1]), mode="live")
    venue = GopaxVenue(ctx, config)
    signatures = []
    await venue.connect()
    venue.feed.backoff.initial_s = venue.feed.backoff.ceiling = 0.05
    sign = venue.auth.ws_params
    def recorded():
        params = sign()
        signatures.append(params["signature"])
        return params
    venue.feed._login = recorded
    for _ in range(400):
        if len(signatures) >= 3:
            break
        await asyncio.sleep(0.01)
    await venue.close()
    await emu.stop()
    print(json.dumps({"key": key, "signatures": signatures}))

asyncio.run(main())
"""


async def test_a_refused_login_leaves_no_key_or_signature_in_the_json_logs(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _LEAK_SCRIPT, str(tmp_path), cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await bounded(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, stderr.decode()[-2000:]
    secrets = json.loads(stdout.decode().strip().splitlines()[-1])
    logs = stderr.decode()
    records = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]

    assert len(secrets["signatures"]) >= 3
    assert any(r["event"] == "feed disconnected" for r in records)  # the refusals were logged
    for secret in (secrets["key"], *secrets["signatures"]):
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            assert form not in logs
