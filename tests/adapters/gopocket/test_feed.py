"""GoPocket order updates and market data: the webhook receiver (authentication, no delivery applied
twice, end to end from the emulator), the Noren socket (session check, touchline, depth, `om`), and
order-book polling alone when neither push is there."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import aiohttp

from adapters.gopocket import schemas as w
from adapters.gopocket.emulator import GopocketEmulator
from adapters.gopocket.feed import WebhookReceiver, susertoken
from engine.events import BookSnapshot, Quote, Trade
from engine.events import OrderStatus as S
from engine.venue.contract import Channel
from tests.helpers import bounded, until

from .conftest import make_client, start_venue, ticks_away
from .test_orders import submit

UPDATE = {"norenordno": "26120700000001", "status": "OPEN", "exch": "NSE", "tsym": "SBIN-EQ", "token": "3045",
          "qty": "1", "prc": "800.00", "prctyp": "LMT", "trantype": "B", "fillshares": "0", "reporttype": "New"}


async def receiver_with(emulator: GopocketEmulator) -> tuple[WebhookReceiver, list[w.NorenOrder], str]:
    client = make_client(emulator)
    await client.start()
    assert client.auth is not None
    token = await bounded(client.auth.token())
    await client.close()
    got: list[w.NorenOrder] = []
    receiver = WebhookReceiver("gopocket", key="k3y", auth=client.auth, on_update=got.append)
    await bounded(receiver.start())
    return receiver, got, token


async def test_the_webhook_refuses_what_does_not_authenticate_and_applies_a_delivery_once(emulator: GopocketEmulator) -> None:
    receiver, got, token = await receiver_with(emulator)
    try:
        async with aiohttp.ClientSession() as http:
            async def post(url: str, body: object, **headers: str) -> int:
                async with http.post(url, data=w.encode(body), headers=headers) as resp:
                    return resp.status

            assert await post(receiver.url, UPDATE) == 401  # no key
            assert await post(receiver.url + "?key=wrong", UPDATE) == 401
            good = receiver.callback_url()
            assert await post(good, UPDATE, Authorization="Bearer not-our-session") == 401
            assert await post(good, UPDATE, Authorization=f"Bearer {token}") == 200
            assert await post(good, UPDATE, Authorization=f"Bearer {token}") == 200  # told twice
            assert await post(good, {**UPDATE, "status": "CANCELLED"}) == 200  # no header: the key suffices
            assert await post(good, {"not": "an order"}) == 400
            assert await post(good, "[[") == 400
        assert [m.status for m in got] == ["OPEN", "CANCELLED"]
        assert (receiver.refused, receiver.duplicates, receiver.malformed, receiver.applied) == (3, 1, 2, 2)
    finally:
        await receiver.stop()


async def test_webhook_deliveries_from_the_emulator_drive_the_order_and_a_repeat_changes_nothing(
    emulator: GopocketEmulator, tmp_path: Path,
) -> None:
    emulator.webhook_duplicates = True  # every delivery is made twice
    h = await start_venue(emulator, tmp_path, ws_url="", poll_idle_s=30.0, poll_slow_s=30.0, poll_fast_s=30.0,
                          webhook={"enabled": True})
    try:
        assert emulator.webhooks[emulator.user_id], "the venue subscribed its callback"
        coid = submit(h, 5, ticks_away(emulator, "NSE:SBIN", -40))
        placed = await h.reaches(coid, S.PLACED)
        emulator.fill_resting(placed.venue_order_id, Decimal(5))
        done = await h.reaches(coid, S.COMPLETED)
        assert done.filled_qty == 5
        receiver = h.venue.webhook
        assert receiver is not None
        await until(lambda: receiver.duplicates >= 2)
        assert receiver.refused == 0 and h.venue.pushed == receiver.applied
        assert sum((f.qty for f in h.fills), Decimal(0)) == 5  # each fill once
        assert all(status == 200 for _, status in emulator.deliveries)
    finally:
        await h.close()
    assert not emulator.webhooks[emulator.user_id]  # unsubscribed at close


async def test_the_socket_refuses_a_bad_session_and_streams_touchline_depth_and_orders(
    emulator: GopocketEmulator, tmp_path: Path,
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(emulator.ws_url or "") as ws:
            await ws.send_str('{"t":"c","uid":"GP10001","actid":"GP10001","susertoken":"nope","source":"API"}')
            refusal = await bounded(ws.receive_json())
            assert refusal["t"] == "ck" and refusal["s"] == "NOT_OK"
    h = await start_venue(emulator, tmp_path, poll_idle_s=30.0, poll_slow_s=30.0, poll_fast_s=30.0)
    quotes: list[Quote] = []
    books: list[BookSnapshot] = []
    trades: list[Trade] = []
    h.bus.subscribe(Quote, quotes.append, keys=["gopocket:NSE:SBIN"], name="t.q")
    h.bus.subscribe(BookSnapshot, books.append, keys=["gopocket:NSE:SBIN"], name="t.b")
    h.bus.subscribe(Trade, trades.append, keys=["gopocket:NSE:SBIN"], name="t.t")
    try:
        await bounded(h.venue.subscribe(["gopocket:NSE:SBIN"], [Channel.QUOTES, Channel.BOOK]))
        await until(lambda: len(quotes) > 3 and len(books) > 3)
        assert 0 < quotes[-1].bid <= quotes[-1].ask and len(books[-1].bids) == 5
        coid = submit(h, 5, ticks_away(emulator, "NSE:SBIN", -40))
        placed = await h.reaches(coid, S.PLACED)
        emulator.fill_resting(placed.venue_order_id, Decimal(5))
        await h.reaches(coid, S.COMPLETED)  # by the socket's om: the poller sleeps for 30 s
        assert h.venue.pushed >= 2
        assert emulator.socket.refused == 1
        token = h.venue.client.auth.current if h.venue.client and h.venue.client.auth else ""
        assert token and susertoken(token) != token
    finally:
        await h.close()


async def test_with_neither_push_the_order_book_is_polled(emulator: GopocketEmulator, tmp_path: Path) -> None:
    h = await start_venue(emulator, tmp_path, ws_url="")
    try:
        coid = submit(h, 5, ticks_away(emulator, "NSE:SBIN", -40))
        placed = await h.reaches(coid, S.PLACED)
        emulator.fill_resting(placed.venue_order_id, Decimal(2))
        await until(lambda: h.order(coid).filled_qty == 2)
        h.manager.cancel(coid)
        done = await h.reaches(coid, S.CANCELLED)
        assert done.filled_qty == 2 and h.venue.pushed == 0 and h.venue.feed is None
        poller = h.venue.orders
        assert poller is not None and poller.book_requests > 0 and poller.trade_requests <= poller.book_requests
    finally:
        await h.close()


async def test_a_malformed_socket_frame_is_counted_and_dropped(emulator: GopocketEmulator, tmp_path: Path) -> None:
    h = await start_venue(emulator, tmp_path)
    try:
        await bounded(h.venue.subscribe(["gopocket:NSE:SBIN"], [Channel.QUOTES]))
        feed = h.venue.feed
        assert feed is not None
        await until(lambda: feed.connected and bool(emulator.socket.clients))
        before, messages = feed.malformed, feed.messages
        for client in emulator.socket.clients:  # the venue's socket sends what it should not
            client.writer.push("{not json")
            client.writer.push('{"t":"tf","e":"NSE","tk":"3045","lp":[1]}')
            client.writer.push('{"t":"tf","e":"NSE","tk":"99999","lp":"1.00"}')
        await until(lambda: feed.malformed == before + 2 and feed.unknown >= 1)
        await until(lambda: feed.messages > messages + 3)  # and the socket reads on
        assert feed.connected
    finally:
        await h.close()
