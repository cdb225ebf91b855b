"""The GOPAX venue through the engine's order manager, against the emulator: order lives seen over
REST and the websocket, the status table, market buys in KRW, stops, fills, restart recovery."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import pytest

from adapters.gopax import schemas as w
from adapters.gopax.adapter import GopaxVenue
from adapters.gopax.client import GopaxClient
from adapters.gopax.config import GopaxConfig
from adapters.gopax.emulator import GopaxEmulator
from adapters.simulation.matching import SimOrder
from engine.errors import AuthError, OrderNotFound
from engine.events import Fill, Order, OrderStatus, OrderType, Side, TimeInForce
from engine.venue.contract import Channel, EmulatorInfo, VenueContext

from .conftest import Harness, bounded, start_venue, until

S = OrderStatus


@pytest.fixture
async def venue(emulator: GopaxEmulator, tmp_path: Path) -> AsyncIterator[Harness]:
    harness = await start_venue(emulator, tmp_path)
    yield harness
    await harness.close()


def submit(h: Harness, pair: str, side: Side, qty: str, price: Decimal | None = None, **kw: object) -> Order:
    kind = kw.pop("type", OrderType.LIMIT if price is not None else OrderType.MARKET)
    return h.manager.submit(
        strategy_id="s1", instrument=f"gopax:{pair}", venue="gopax", side=side, qty=Decimal(qty),
        type=kind, price=price, **kw,  # type: ignore[arg-type]
    )


def sim(emulator: GopaxEmulator, order: Order) -> SimOrder:
    return emulator.exchange.order("demo", order.venue_order_id or "")


def best(emulator: GopaxEmulator, pair: str, bid: bool) -> Decimal:
    return Decimal(repr(emulator.books[pair].side(bid, 1)[0].price))


async def drive(emulator: GopaxEmulator, done: Callable[[], bool], steps: int = 100_000) -> None:
    """Step the (stopped) price process until `done()`: a count of steps, not a wait."""
    await bounded(emulator.exchange.stop())
    for _ in range(steps):
        if done():
            return
        emulator.exchange.step()
    raise AssertionError("the market never got there")


def statuses(h: Harness, coid: str) -> list[S]:
    seen: list[S] = []
    for update in h.updates:
        if update.order.client_order_id == coid and (not seen or seen[-1] is not update.order.status):
            seen.append(update.order.status)
    return seen


def streamed(h: Harness, vid: str | None) -> list[S]:
    """The statuses the websocket reported for one order, in order."""
    return [r.status for r in h.sink.reports if r.venue_order_id == vid]


# --- order lives -------------------------------------------------------------------------------


async def test_an_order_lives_placed_updated_completed_over_rest_and_the_socket(venue: Harness, emulator: GopaxEmulator, client: GopaxClient) -> None:
    await bounded(emulator.exchange.stop())
    order = submit(venue, "ETH-KRW", Side.BUY, "12", best(emulator, "ETH-KRW", bid=True))  # more than any touch
    await until(lambda: venue.manager.orders[order.client_order_id].status is S.PLACED)
    placed = venue.manager.orders[order.client_order_id]
    rest_seen = [(await bounded(client.order(placed.venue_order_id or ""))).status]

    await drive(emulator, lambda: sim(emulator, placed).status is S.UPDATED)
    await until(lambda: venue.manager.orders[order.client_order_id].status is S.UPDATED)
    rest_seen.append((await bounded(client.order(placed.venue_order_id or ""))).status)
    await drive(emulator, lambda: sim(emulator, placed).status is S.COMPLETED)
    await until(lambda: venue.manager.orders[order.client_order_id].status is S.COMPLETED)
    rest_seen.append((await bounded(client.order(placed.venue_order_id or ""))).status)

    final = venue.manager.orders[order.client_order_id]
    await until(lambda: venue.manager.orders[order.client_order_id].filled_qty == Decimal(12))
    assert statuses(venue, order.client_order_id) == [S.NEW, S.SUBMITTED, S.PLACED, S.UPDATED, S.COMPLETED]
    assert rest_seen == ["placed", "updated", "completed"]
    assert streamed(venue, placed.venue_order_id)[-1] is S.COMPLETED and S.UPDATED in streamed(venue, placed.venue_order_id)
    assert {f.fill_id for f in venue.sink.fills} == {str(f.id) for f in emulator.exchange.fills["demo"]}
    assert final.fees > 0


async def test_an_order_lives_placed_then_cancelled_over_rest_and_the_socket(venue: Harness, emulator: GopaxEmulator, client: GopaxClient) -> None:
    order = submit(venue, "BTC-KRW", Side.BUY, "0.01", best(emulator, "BTC-KRW", bid=True) - 100_000)
    await until(lambda: venue.manager.orders[order.client_order_id].status is S.PLACED)

    venue.manager.cancel(order.client_order_id)
    await until(lambda: venue.manager.orders[order.client_order_id].status is S.CANCELLED)
    vid = venue.manager.orders[order.client_order_id].venue_order_id
    await until(lambda: S.CANCELLED in streamed(venue, vid))

    assert (await bounded(client.order(vid or ""))).status == "cancelled"
    assert statuses(venue, order.client_order_id) == [S.NEW, S.SUBMITTED, S.PLACED, S.CANCELLED]
    assert venue.manager.orders[order.client_order_id].pending is None
    assert emulator.requests["DELETE /orders/{order_id}"] == 1


async def test_a_market_buy_sends_its_amount_in_krw_at_the_best_ask(venue: Harness, emulator: GopaxEmulator) -> None:
    await bounded(emulator.exchange.stop())  # the ask holds still
    ask = best(emulator, "BTC-KRW", bid=False)

    order = submit(venue, "BTC-KRW", Side.BUY, "0.002")
    await until(lambda: venue.manager.orders[order.client_order_id].status is S.COMPLETED)
    await until(lambda: venue.manager.orders[order.client_order_id].filled_qty > 0)

    done = venue.manager.orders[order.client_order_id]
    assert sim(emulator, done).notional == (Decimal("0.002") * ask).quantize(Decimal(1), rounding=ROUND_DOWN)
    assert Decimal("0.00199") <= done.filled_qty <= Decimal("0.002")  # base units actually bought


async def test_a_market_buy_may_name_its_krw_amount(venue: Harness, emulator: GopaxEmulator) -> None:
    order = submit(venue, "XRP-KRW", Side.BUY, "10", options={"quote_amount": "50000"})
    await until(lambda: venue.manager.orders[order.client_order_id].status is S.COMPLETED)

    assert sim(emulator, venue.manager.orders[order.client_order_id]).notional == Decimal(50000)


async def test_a_stop_is_reserved_with_its_stop_pending_until_triggered(venue: Harness, emulator: GopaxEmulator, client: GopaxClient) -> None:
    await bounded(emulator.exchange.stop())
    ask = best(emulator, "BTC-KRW", bid=False)
    order = submit(venue, "BTC-KRW", Side.BUY, "0.001", ask + 3000, type=OrderType.STOP_LIMIT, trigger_price=ask + 2000)
    await until(lambda: venue.manager.orders[order.client_order_id].status is S.PLACED)
    reserved = venue.manager.orders[order.client_order_id]
    rest_word = (await bounded(client.order(reserved.venue_order_id or ""))).status

    await drive(emulator, lambda: sim(emulator, reserved).triggered)
    await until(lambda: not venue.manager.orders[order.client_order_id].stop_pending)

    assert reserved.stop_pending is True and rest_word == "reserved"
    assert emulator.exchange.order("demo", reserved.venue_order_id or "").trigger == ask + 2000


@pytest.mark.parametrize(
    ("tif", "crossing", "status", "reason"),
    [
        (TimeInForce.POST_ONLY, True, S.CANCELLED, "timeInForce"),  # would take liquidity
        (TimeInForce.IOC, False, S.CANCELLED, "timeInForce"),  # nothing to take at once
        (TimeInForce.FOK, False, S.CANCELLED, "timeInForce"),
        (TimeInForce.POST_ONLY, False, S.PLACED, None),
    ],
)
async def test_time_in_force_reaches_gopax_and_its_forced_completion_comes_back(
    venue: Harness, emulator: GopaxEmulator, tif: TimeInForce, crossing: bool, status: S, reason: str | None
) -> None:
    await bounded(emulator.exchange.stop())
    price = best(emulator, "BTC-KRW", bid=False) if crossing else best(emulator, "BTC-KRW", bid=True) - 20_000
    order = submit(venue, "BTC-KRW", Side.BUY, "0.001", price, tif=tif)

    await until(lambda: venue.manager.orders[order.client_order_id].status is status)

    done = venue.manager.orders[order.client_order_id]
    assert done.reason == reason and done.filled_qty == 0
    assert sim(emulator, done).tif is tif


async def test_fills_from_rest_and_the_socket_are_one_fill_per_trade_id(venue: Harness, emulator: GopaxEmulator) -> None:
    order = submit(venue, "XRP-KRW", Side.BUY, "100")
    await until(lambda: venue.manager.orders[order.client_order_id].status is S.COMPLETED and bool(venue.sink.fills))
    await until(lambda: venue.manager.orders[order.client_order_id].filled_qty == Decimal(100))
    before = venue.manager.orders[order.client_order_id]

    again = await bounded(venue.venue.fills_since(0))
    for fill in again:
        venue.manager.on_fill(fill)

    assert {f.fill_id for f in again} == {f.fill_id for f in venue.sink.fills}
    assert venue.manager.stats.duplicate_fills == len(again) > 0
    assert venue.manager.orders[order.client_order_id].filled_qty == before.filled_qty == Decimal(100)


async def test_a_placement_whose_answer_was_lost_is_found_by_client_order_id(venue: Harness, emulator: GopaxEmulator) -> None:
    emulator.faults.lose_write_responses = 1
    order = submit(venue, "BTC-KRW", Side.BUY, "0.001", best(emulator, "BTC-KRW", bid=True) - 50_000)

    await until(lambda: venue.manager.orders[order.client_order_id].status is S.PLACED)

    assert emulator.requests["POST /orders"] == 1
    assert emulator.requests["GET /orders/clientOrderId/{cid}"] == 1
    assert venue.manager.orders[order.client_order_id].venue_order_id is not None


async def test_a_placement_refused_with_429_is_looked_up_and_rejected_not_resent(venue: Harness, emulator: GopaxEmulator) -> None:
    emulator.faults.burst_status = 429
    emulator.faults.burst_5xx = 1
    order = submit(venue, "BTC-KRW", Side.BUY, "0.001", best(emulator, "BTC-KRW", bid=True) - 50_000)

    await until(lambda: venue.manager.orders[order.client_order_id].status is S.REJECTED)

    assert emulator.requests["POST /orders"] == 1 and emulator.exchange.orders("demo") == []
    assert "not received" in (venue.manager.orders[order.client_order_id].reason or "")


@pytest.mark.parametrize(
    ("kind", "tif", "words"),
    [(OrderType.STOP_MARKET, TimeInForce.GTC, "stop_market"), (OrderType.LIMIT, TimeInForce.DAY, "day")],
)
async def test_orders_gopax_cannot_take_are_rejected_before_sending(venue: Harness, emulator: GopaxEmulator, kind: OrderType, tif: TimeInForce, words: str) -> None:
    price = best(emulator, "BTC-KRW", bid=True) - 50_000
    order = submit(venue, "BTC-KRW", Side.BUY, "0.001", price, type=kind, tif=tif, trigger_price=price)

    await until(lambda: venue.manager.orders[order.client_order_id].status is S.REJECTED)

    assert words in (venue.manager.orders[order.client_order_id].reason or "")
    assert emulator.requests["POST /orders"] == 0


async def test_cancelling_an_unknown_order_is_the_typed_not_found_error(venue: Harness) -> None:
    ghost = Order(client_order_id="ghost1", strategy_id="s1", instrument="gopax:BTC-KRW", venue="gopax",
                  side=Side.BUY, type=OrderType.LIMIT, qty=Decimal(1), venue_order_id="424242")

    with pytest.raises(OrderNotFound) as caught:
        await bounded(venue.venue.cancel(ghost))

    assert caught.value.code == 10069
    assert await bounded(venue.venue.order_status(ghost)) is None


async def test_instruments_carry_gopaxs_tick_lot_and_minimum(venue: Harness) -> None:
    by_id = {i.id: i for i in await venue.venue.instruments()}

    btc, xrp = by_id["gopax:BTC-KRW"], by_id["gopax:XRP-KRW"]
    assert (btc.tick_size, btc.lot_size, btc.min_notional, btc.base, btc.quote) == (Decimal(1000), Decimal("1E-8"), Decimal(1000), "BTC", "KRW")
    assert xrp.tick_size == Decimal(1) and btc.exchange == "GOPAX" and btc.kind == "spot"


# --- restarts and other ways of running ----------------------------------------------------------


async def test_a_restart_mid_order_finds_the_orders_and_the_fills_made_meanwhile(emulator: GopaxEmulator, tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    first = await start_venue(emulator, tmp_path, journal=journal)
    await bounded(emulator.exchange.stop())
    working = submit(first, "ETH-KRW", Side.BUY, "12", best(emulator, "ETH-KRW", bid=True))
    finishing = submit(first, "XRP-KRW", Side.BUY, "100", best(emulator, "XRP-KRW", bid=True))
    await until(lambda: all(first.manager.orders[o.client_order_id].status is S.PLACED for o in (working, finishing)))
    vids = {o.client_order_id: first.manager.orders[o.client_order_id].venue_order_id for o in (working, finishing)}
    await first.close()  # the engine goes down with both orders working

    def sim_of(o: Order) -> SimOrder:
        return emulator.exchange.order("demo", vids[o.client_order_id] or "")

    await drive(emulator, lambda: sim_of(working).filled > 0 and sim_of(finishing).status is S.COMPLETED)
    second = await start_venue(emulator, tmp_path, journal=journal)
    try:
        fills = {f.id: f for f in emulator.exchange.fills["demo"]}
        recovered = {coid: second.manager.orders[coid] for coid in vids}

        for order in (working, finishing):
            assert recovered[order.client_order_id].status is sim_of(order).status
            assert recovered[order.client_order_id].filled_qty == sim_of(order).filled > 0
        assert recovered[finishing.client_order_id].status is S.COMPLETED
        assert second.manager.stats.fills == len(fills) and second.manager.stats.duplicate_fills == 0
    finally:
        await second.close()


async def test_without_the_socket_private_state_is_polled(emulator: GopaxEmulator, tmp_path: Path) -> None:
    harness = await start_venue(emulator, tmp_path, private_stream=False, poll_interval_s=0.05)
    try:
        order = submit(harness, "XRP-KRW", Side.BUY, "50")
        await until(lambda: harness.manager.orders[order.client_order_id].filled_qty == Decimal(50))
    finally:
        await harness.close()

    assert harness.venue.feed is None and harness.sink.fills
    assert {f.fill_id for f in harness.sink.fills} == {str(f.id) for f in emulator.exchange.fills["demo"]}


async def test_the_seeds_legacy_signing_trades_and_keeps_its_nonce_state(emulator: GopaxEmulator, tmp_path: Path) -> None:
    harness = await start_venue(emulator, tmp_path, signing="legacy")
    try:
        order = submit(harness, "XRP-KRW", Side.BUY, "10")
        await until(lambda: harness.manager.orders[order.client_order_id].status is S.COMPLETED)
    finally:
        await harness.close()

    assert emulator.gate.nonces[emulator.api_key] > 0
    assert list((tmp_path / "gopax").glob("nonce-*"))


async def test_without_credentials_the_venue_still_gives_market_data(emulator: GopaxEmulator, bus_and_quotes: tuple) -> None:  # type: ignore[type-arg]
    bus, quotes = bus_and_quotes
    info = EmulatorInfo(venue="gopax", url=emulator.url, ws_url=emulator.ws_url, credentials={})
    config = GopaxConfig(url=info.url, ws_url=info.ws_url or "", pairs=["BTC-KRW"])
    from engine.clock import RealtimeClock

    public = GopaxVenue(VenueContext(name="gopax", bus=bus, clock=RealtimeClock(), sink=None), config)  # type: ignore[arg-type]
    await bounded(public.connect())
    try:
        await bounded(public.subscribe(["gopax:BTC-KRW"], [Channel.QUOTES, Channel.TRADES]))
        await until(lambda: len(quotes) >= 3)
        with pytest.raises(AuthError):
            await bounded(public.balances())
    finally:
        await bounded(public.close())

    assert [i.id for i in await public.instruments()] == ["gopax:BTC-KRW"]


@pytest.fixture
def bus_and_quotes() -> tuple:  # type: ignore[type-arg]
    from engine.data.bus import Bus
    from engine.events import Quote

    bus = Bus()
    quotes: list[Quote] = []
    bus.subscribe(Quote, quotes.append, name="test.quotes")
    return bus, quotes


# --- the private stream's gaps, restarts, run modes ------------------------------------------------


async def test_fills_made_while_the_socket_is_down_are_caught_up_though_the_first_look_fails(emulator: GopaxEmulator, tmp_path: Path) -> None:
    h = await start_venue(emulator, tmp_path)
    try:
        await bounded(emulator.exchange.stop())
        bid = best(emulator, "XRP-KRW", bid=True)
        missed = submit(h, "XRP-KRW", Side.BUY, "100", bid)
        later = submit(h, "XRP-KRW", Side.BUY, "50", bid - 20)
        await until(lambda: all(h.manager.orders[o.client_order_id].status is S.PLACED for o in (missed, later)))
        first, second = (h.manager.orders[o.client_order_id] for o in (missed, later))
        feed = h.venue.feed
        assert feed is not None
        feed.backoff.initial_s = feed.backoff.ceiling = 0.5  # stay away a moment
        for conn in list(emulator.sockets.connections):
            await bounded(conn.ws.close())
        await until(lambda: not feed.connected)
        await drive(emulator, lambda: sim(emulator, first).status is S.COMPLETED)  # fills nobody pushes to us
        assert sim(emulator, second).filled == 0
        emulator.faults.burst_5xx = 4  # the catch-up's first look fails (one try and three retries)
        await until(lambda: feed.connected)
        # a fill made after the reconnect reaches us over the socket before the catch-up's retry:
        # it must not carry the catch-up's cursor past the fills missed while away
        emulator.exchange.modify("demo", second.venue_order_id or "", price=best(emulator, "XRP-KRW", bid=False) + 5)
        await until(lambda: h.manager.orders[later.client_order_id].status is S.COMPLETED)
        await until(lambda: h.manager.orders[missed.client_order_id].status is S.COMPLETED, timeout=20)
    finally:
        await h.close()

    got = h.manager.orders[missed.client_order_id]
    assert got.filled_qty == sim(emulator, first).filled == Decimal(100)
    assert h.venue.catch_up_failures >= 1 and h.venue.catch_ups >= 1
    assert {f.fill_id for f in h.sink.fills} == {str(f.id) for f in emulator.exchange.fills["demo"]}


async def test_a_restart_after_an_order_finished_more_than_ten_minutes_ago_reports_it_completed(emulator: GopaxEmulator, tmp_path: Path, client: GopaxClient) -> None:
    journal = tmp_path / "journal.sqlite"
    first = await start_venue(emulator, tmp_path, journal=journal)
    await bounded(emulator.exchange.stop())
    order = submit(first, "XRP-KRW", Side.BUY, "100", best(emulator, "XRP-KRW", bid=True))
    await until(lambda: first.manager.orders[order.client_order_id].status is S.PLACED)
    vid = first.manager.orders[order.client_order_id].venue_order_id or ""
    await first.close()  # the engine goes down with the order working

    await drive(emulator, lambda: emulator.exchange.order("demo", vid).status is S.COMPLETED)
    emulator.clock.advance(11 * 60)  # GOPAX forgets a finished order after 10 minutes
    client.auth._now_ms = lambda: emulator.clock.now_ns() // 1_000_000  # type: ignore[union-attr,method-assign]
    with pytest.raises(OrderNotFound):
        await bounded(client.order(vid))
    second = await start_venue(emulator, tmp_path, journal=journal)
    try:
        got = second.manager.orders[order.client_order_id]
    finally:
        await second.close()

    assert got.status is S.COMPLETED and got.filled_qty == Decimal(100)
    assert second.manager.stats.fills == len(emulator.exchange.fills["demo"])


async def test_an_unknown_status_word_in_the_placement_answer_is_asked_about_not_guessed(venue: Harness, emulator: GopaxEmulator) -> None:
    emulator.placement_status = "accepted"  # a word GOPAX might add; GET /orders/<id> says "placed"
    order = submit(venue, "BTC-KRW", Side.BUY, "0.001", best(emulator, "BTC-KRW", bid=True) - 50_000)

    await until(lambda: venue.manager.orders[order.client_order_id].venue_order_id is not None)

    placed = venue.manager.orders[order.client_order_id]
    assert placed.status is S.PLACED and placed.reason is None
    assert venue.venue.unknown_statuses == {"accepted": 1}
    assert placed.venue_order_id in venue.venue.sync.working
    assert sim(emulator, placed).is_open


async def test_a_socket_order_with_a_side_gopax_does_not_define_is_counted_and_dropped(venue: Harness) -> None:
    before = len(venue.sink.reports)
    bad = w.WsOrder(
        orderId=99, status=1, side=3, type=1, price=Decimal(100), orgAmount=Decimal(1), remainAmount=Decimal(1),
        createdAt=1.0, updatedAt=1.0, tradingPairName="BTC-KRW",
    )

    venue.venue.on_ws_order(bad)

    assert venue.venue.bad_messages == {"OrderEvent": 1}
    assert len(venue.sink.reports) == before and "99" not in venue.venue.sync.working


async def test_a_first_run_reads_one_day_of_own_trades_not_the_whole_history(venue: Harness, emulator: GopaxEmulator) -> None:
    old = submit(venue, "XRP-KRW", Side.BUY, "10")
    await until(lambda: venue.manager.orders[old.client_order_id].status is S.COMPLETED)
    emulator.clock.advance(25 * 3600)  # a day and an hour later
    recent = submit(venue, "XRP-KRW", Side.BUY, "20")
    await until(lambda: venue.manager.orders[recent.client_order_id].status is S.COMPLETED)

    fills = await bounded(venue.venue.fills_since(0))

    recent_id = venue.manager.orders[recent.client_order_id].venue_order_id
    assert fills and {f.venue_order_id for f in fills} == {recent_id}
    assert sum(f.qty for f in fills) == Decimal(20)


async def test_in_paper_mode_the_venue_is_market_data_only(emulator: GopaxEmulator, tmp_path: Path) -> None:
    h = await start_venue(emulator, tmp_path, mode="paper")
    quotes: list = []  # type: ignore[type-arg]
    from engine.events import Quote

    h.bus.subscribe(Quote, quotes.append, name="test.quotes")
    try:
        await bounded(h.venue.subscribe(["gopax:BTC-KRW"], [Channel.QUOTES]))
        await until(lambda: len(quotes) >= 3)
    finally:
        await h.close()

    assert emulator.sockets.logins == 0 and all(not c.channels for c in emulator.sockets.connections)
    assert h.venue.private is None  # no private socket, no private polling


async def test_closing_takes_a_last_look_at_fills_the_poller_had_not_seen(emulator: GopaxEmulator, tmp_path: Path) -> None:
    h = await start_venue(emulator, tmp_path, private_stream=False, poll_interval_s=3600)  # one poll, at the start
    try:
        await until(lambda: emulator.requests["GET /trades"] >= 2)  # the reconciliation's read and the poll's
        await bounded(emulator.exchange.stop())
        order = submit(h, "XRP-KRW", Side.BUY, "100", best(emulator, "XRP-KRW", bid=True))
        await until(lambda: h.manager.orders[order.client_order_id].status is S.PLACED)
        placed = h.manager.orders[order.client_order_id]
        await drive(emulator, lambda: sim(emulator, placed).status is S.COMPLETED)
        assert h.manager.orders[order.client_order_id].filled_qty == 0  # nobody has looked yet
    finally:
        await h.close()

    final = h.manager.orders[order.client_order_id]
    assert final.status is S.COMPLETED and final.filled_qty == Decimal(100)


async def test_a_quiet_book_is_reported_stale_and_the_socket_reconnected(emulator: GopaxEmulator, tmp_path: Path) -> None:
    from engine.events import FeedState, FeedStatus

    emulator.sockets.ping_interval_s = 0.05  # the pings vouch for the quiet private channels
    h = await start_venue(emulator, tmp_path, stale_after_s=0.4)
    status: list[FeedStatus] = []
    h.bus.subscribe(FeedStatus, status.append, name="test.status")
    try:
        await bounded(h.venue.subscribe(["gopax:ETH-KRW"], [Channel.QUOTES]))
        feed = h.venue.feed
        assert feed is not None
        await until(lambda: feed.books["ETH-KRW"].synced)
        await bounded(emulator.exchange.stop())  # the market goes quiet
        await until(lambda: any(s.state is FeedState.STALE for s in status))
        await until(lambda: feed.connects >= 2)
    finally:
        await h.close()

    stale = {s.subscription for s in status if s.state is FeedState.STALE}
    assert stale == {"book:ETH-KRW"}  # not the private channels: the pings vouch for them


async def test_quotes_may_come_from_the_tickers_channel(emulator: GopaxEmulator, tmp_path: Path) -> None:
    from engine.events import Quote

    h = await start_venue(emulator, tmp_path, mode="paper", quotes="tickers")
    quotes: list[Quote] = []
    h.bus.subscribe(Quote, quotes.append, name="test.quotes")
    try:
        await bounded(h.venue.subscribe(["gopax:ETH-KRW", "gopax:XRP-KRW"], [Channel.QUOTES]))
        await until(lambda: {q.instrument for q in quotes} == {"gopax:ETH-KRW", "gopax:XRP-KRW"})
    finally:
        await h.close()

    assert all(0 < q.bid < q.ask for q in quotes)
    assert [c.channels for c in emulator.sockets.connections] in ([], [{"tickers"}])
    assert emulator.requests["GET /trading-pairs/{pair}/book"] == 0


async def test_a_socket_fill_the_manager_failed_to_take_is_read_again_over_rest(venue: Harness, emulator: GopaxEmulator) -> None:
    await bounded(emulator.exchange.stop())
    order = submit(venue, "XRP-KRW", Side.BUY, "100", best(emulator, "XRP-KRW", bid=True))
    await until(lambda: venue.manager.orders[order.client_order_id].status is S.PLACED)
    placed = venue.manager.orders[order.client_order_id]
    failed: list[str] = []
    on_fill = venue.sink.on_fill

    def flaky(fill: Fill) -> None:
        if not failed:
            failed.append(fill.fill_id)
            raise OSError("journal unavailable")
        on_fill(fill)

    venue.sink.on_fill = flaky  # type: ignore[method-assign]
    await drive(emulator, lambda: sim(emulator, placed).status is S.COMPLETED)

    await until(lambda: venue.manager.orders[order.client_order_id].filled_qty == Decimal(100))
    assert failed and failed[0] in {f.fill_id for f in venue.sink.fills}
    assert venue.manager.orders[order.client_order_id].status is S.COMPLETED
