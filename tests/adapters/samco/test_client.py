"""The Samco REST client against the emulator: every endpoint, the Failure envelope as typed
errors carrying Samco's message, the static-IP 403, retries for reads only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

import pytest

from adapters.samco import schemas as w
from adapters.samco.client import STATIC_IP, SamcoClient, error_for
from adapters.samco.emulator import SamcoEmulator
from engine.errors import (
    AuthError,
    InsufficientFunds,
    InvalidOrder,
    MarketClosed,
    OrderNotFound,
    VenueError,
    VenueUnavailable,
)

from .conftest import SATURDAY, bounded, ticks_away

Make = Callable[..., Awaitable[SamcoEmulator]]


def limit(symbol: str, qty: str, price: Decimal | str, *, exchange: str = "NSE", side: str = "BUY", **kw: str) -> w.OrderRequest:
    fields = {"orderValidity": "DAY", "productType": "CNC" if exchange == "NSE" else "NRML", **kw}
    return w.OrderRequest(symbolName=symbol, exchange=exchange, transactionType=side, orderType="L", quantity=qty,
                          price=str(price), **fields)


async def client_for(emulator: SamcoEmulator) -> SamcoClient:
    c = SamcoClient("samco", emulator.url, api_key=emulator.api_key, api_secret=emulator.api_secret, now_ns=emulator.clock.now_ns)
    await c.start()
    return c


async def test_market_data_and_account_reads_answer_in_samco_shapes(client: SamcoClient, emulator: SamcoEmulator) -> None:
    quote = await bounded(client.quote("RELIANCE", "NSE"))
    search = await bounded(client.search("NFO", "NIFTY26NOV"))
    limits = await bounded(client.limits())
    holdings = await bounded(client.holdings())
    me = await bounded(client.whoami())
    master = await bounded(client.scrip_master(emulator.url + "/ScripMaster.csv"))
    emulator.clock.advance(120)  # two minutes of trades for the candles
    for _ in range(20):
        emulator.exchange.step()
    intraday = await bounded(client.intraday_candles("RELIANCE", "NSE", from_time="2026-11-20 09:00:00", to_time="2026-11-20 10:00:00"))
    daily = await bounded(client.historical_candles("RELIANCE", "NSE", from_date="2026-11-20", to_date="2026-11-20"))

    assert (quote.tradingSymbol, quote.listingId, quote.tickSize) == ("RELIANCE-EQ", "2885_NSE", "0.05")
    assert len(quote.bestBids) == len(quote.bestAsks) == 5 and w.dec(quote.bestBids[0].price) < w.dec(quote.bestAsks[0].price)
    lots = {r.tradingSymbol: r.lotSize for r in search}
    assert lots == {"NIFTY26NOVFUT": "65", "NIFTY26NOV26000CE": "65", "NIFTY26NOV26000PE": "65",
                    "BANKNIFTY26NOVFUT": "30", "BANKNIFTY26NOV59000CE": "30"}
    assert limits.equityLimit is not None and limits.equityLimit.netAvailableMargin == "10000000.00"
    assert {h.tradingSymbol: h.holdingsQuantity for h in holdings.holdingDetails}["RELIANCE-EQ"] == "100"
    assert (me.source_ip, me.registered) == ("127.0.0.1", True)
    assert master.splitlines()[0].startswith("exchange,exchangeSegment,symbolCode,tradingSymbol")
    assert intraday and all(c.dateTime.startswith("2026-11-20 09:2") and c.dateTime.endswith(".0") for c in intraday)
    assert len(daily) == 1 and daily[0].date == "2026-11-20"
    assert w.dec(daily[0].low) <= w.dec(daily[0].close) <= w.dec(daily[0].high)


async def test_an_order_through_place_status_modify_books_and_cancel(client: SamcoClient, emulator: SamcoEmulator) -> None:
    low = ticks_away(emulator, "NSE:SBIN", -100)

    placed = await bounded(client.place(limit("SBIN", "7", low)))
    status = await bounded(client.order_status(placed.orderNumber))
    modified = await bounded(client.modify(placed.orderNumber, w.ModifyRequest(quantity="9", price=str(low - Decimal("0.05")))))
    book = {r.orderNumber: r for r in await bounded(client.order_book())}
    cancelled = await bounded(client.cancel(placed.orderNumber))
    after = {r.orderNumber: r for r in await bounded(client.order_book())}
    with pytest.raises(InvalidOrder, match="cannot be cancelled"):
        await bounded(client.cancel(placed.orderNumber))
    with pytest.raises(OrderNotFound, match="Invalid order number"):
        await bounded(client.order_status("261120999999999"))

    assert placed.status == "Success" and placed.exchangeOrderStatus == "PENDING"
    assert placed.orderDetails is not None and placed.orderDetails.tradingSymbol == "SBIN-EQ"
    assert status.orderStatus == "Open"
    assert modified.orderDetails is not None and modified.orderDetails.quantity == "9"
    row = book[placed.orderNumber]
    assert (row.totalQuanity, w.dec(row.orderPrice), row.symbol) == ("9", low - Decimal("0.05"), "3045_NSE")
    assert cancelled.orderNumber == placed.orderNumber and after[placed.orderNumber].orderStatus == "Cancelled"


async def test_a_filled_order_shows_in_the_trade_book_and_both_position_views(client: SamcoClient, emulator: SamcoEmulator) -> None:
    high = ticks_away(emulator, "NSE:ITC", 40)

    placed = await bounded(client.place(limit("ITC", "10", high)))
    trades = await bounded(client.trade_book())
    day = await bounded(client.positions("DAY"))
    net = await bounded(client.positions("NET"))

    assert placed.exchangeOrderStatus == "EXECUTED"
    mine = [t for t in trades if t.orderNumber == placed.orderNumber]
    assert sum(t.size or 0 for t in mine) == 10 and all(t.tradeNumber and t.tradeDate == "20NOV2026" for t in mine)
    assert [(p.tradingSymbol, p.netQuantity, p.positionType) for p in day] == [("ITC-EQ", "10", "DAY")]
    assert [(p.tradingSymbol, p.netQuantity, p.positionType) for p in net] == [("ITC-EQ", "10", "NET")]


@pytest.mark.parametrize(
    ("request_", "error", "text"),
    [
        (limit("NIFTY26NOVFUT", "50", "26000.00", exchange="NFO"), InvalidOrder, "multiple of the lot size 65"),
        (limit("INFY", "1", "1500.03"), InvalidOrder, "multiple of the tick size"),
        (limit("NIFTY26NOVFUT", "65", "26000.00", exchange="NFO", productType="CNC"), InvalidOrder, "Invalid product type"),
        (limit("NOSUCH", "1", "10.00"), InvalidOrder, "Invalid symbol name"),
        (limit("INFY", "1", "1500.00", orderValidity="GTC"), InvalidOrder, "Invalid order validity"),
    ],
)
async def test_failure_envelopes_become_typed_errors_with_samcos_message(
    client: SamcoClient, request_: w.OrderRequest, error: type[VenueError], text: str
) -> None:
    with pytest.raises(error, match=text) as caught:
        await bounded(client.place(request_))

    assert caught.value.http_status == 400 and caught.value.venue == "samco"


async def test_an_order_outside_market_hours_without_the_amo_flag_is_market_closed(make_emulator: Make) -> None:
    emulator = await make_emulator(start=SATURDAY)
    client = await client_for(emulator)
    try:
        with pytest.raises(MarketClosed, match="Market is closed"):
            await bounded(client.place(limit("INFY", "1", "1500.00")))
        amo = await bounded(client.place(limit("INFY", "1", "1500.00", afterMarketOrderFlag="YES")))
    finally:
        await client.auth.stop()
        await client.close()

    assert amo.exchangeOrderStatus == "After market order req received"


def test_a_failure_inside_a_2xx_is_an_error_and_a_success_is_not() -> None:
    failed = error_for("samco", 200, b'{"serverTime":"x","status":"Failure","statusMessage":"Insufficient funds to place the order"}')
    fine = error_for("samco", 200, b'{"status":"Success","statusMessage":"Order placed successfully","orderNumber":"1"}')
    gone = error_for("samco", 503, b"<html>bad gateway</html>")

    assert isinstance(failed, InsufficientFunds) and failed.text == "Insufficient funds to place the order"
    assert fine is None
    assert isinstance(gone, VenueUnavailable) and gone.retryable


async def test_the_static_ip_403_is_one_error_saying_what_whoami_reports(make_emulator: Make) -> None:
    emulator = await make_emulator(registered_ips=["203.0.113.7", "198.51.100.2"])
    client = await client_for(emulator)
    try:
        with pytest.raises(AuthError) as caught:
            await bounded(client.place(limit("INFY", "1", "1500.00")))
        book = await bounded(client.order_book())  # reads are not order entry: they work
    finally:
        await client.auth.stop()
        await client.close()

    err = caught.value
    assert err.code == STATIC_IP and err.http_status == 403
    assert "The IP is not the registered static IP" in err.text
    assert "127.0.0.1" in err.text and "203.0.113.7" in err.text and "198.51.100.2" in err.text
    assert emulator.requests["POST /order/placeOrder"] == 1 and emulator.requests["GET /ip/whoami"] == 1
    assert book == [] and not emulator.orders


async def test_reads_are_retried_through_a_5xx_burst_and_writes_never_are(client: SamcoClient, emulator: SamcoEmulator) -> None:
    await bounded(client.auth.start())
    emulator.faults.burst_5xx = 2
    rows = await bounded(client.order_book())
    emulator.faults.burst_5xx = 1
    with pytest.raises(VenueUnavailable):
        await bounded(client.place(limit("INFY", "1", "1500.00")))

    assert rows == [] and client.retried == 2
    assert emulator.requests["POST /order/placeOrder"] == 1 and not emulator.orders


async def test_a_logged_out_token_is_renewed_once_and_the_call_goes_through(client: SamcoClient, emulator: SamcoEmulator) -> None:
    await bounded(client.auth.start())
    await bounded(client.logout())

    limits = await bounded(client.limits())

    assert limits.equityLimit is not None and emulator.logins == 2 and client.auth.rejections == 1


async def test_a_whoami_answered_403_is_one_error_not_a_loop(make_emulator: Make) -> None:
    emulator = await make_emulator(registered_ips=["203.0.113.7"])
    emulator.forbid["/ip/whoami"] = "Access denied for this IP"
    client = await client_for(emulator)
    try:
        with pytest.raises(AuthError) as direct:
            await bounded(client.whoami())
        with pytest.raises(AuthError) as placing:
            await bounded(client.place(limit("INFY", "1", "1500.00")))
    finally:
        await client.auth.stop()
        await client.close()

    assert direct.value.text == "Access denied for this IP" and direct.value.code is None
    assert placing.value.code == STATIC_IP and "The IP is not the registered static IP" in placing.value.text
    assert "GET /ip/whoami failed too: Access denied for this IP" in placing.value.text
    assert emulator.requests["GET /ip/whoami"] == 2 and emulator.requests["POST /order/placeOrder"] == 1


async def test_a_403_on_a_read_that_says_nothing_of_the_ip_is_raised_as_samco_worded_it(make_emulator: Make) -> None:
    emulator = await make_emulator()
    emulator.forbid["/limit/getLimits"] = "Forbidden"
    client = await client_for(emulator)
    try:
        with pytest.raises(AuthError) as caught:
            await bounded(client.limits())
    finally:
        await client.auth.stop()
        await client.close()

    assert (caught.value.text, caught.value.http_status, caught.value.code) == ("Forbidden", 403, None)
    assert emulator.requests["GET /ip/whoami"] == 0


async def test_over_the_rate_limit_samco_answers_429_with_its_envelope_reads_wait_writes_do_not(make_emulator: Make) -> None:
    from engine.errors import RateLimited
    from engine.venue.retry import Backoff

    class Steady(Backoff):
        def next(self) -> float:
            return 0.35

    emulator = await make_emulator()
    client = await client_for(emulator)
    client.backoff = Steady()
    try:
        await bounded(client.auth.start())
        emulator.rate_limit = (1, 0.3)  # one call in any 0.3 s
        first = await bounded(client.limits())
        second = await bounded(client.limits())  # refused, then retried once the window moved
        with pytest.raises(RateLimited) as caught:
            await bounded(client.place(limit("INFY", "1", "1500.00")))
    finally:
        await client.auth.stop()
        await client.close()

    assert first == second or (first.equityLimit is not None and second.equityLimit is not None)
    assert client.statuses[429] == 2 and client.retried == 1
    assert caught.value.http_status == 429 and caught.value.text.startswith("Too many requests")
    assert emulator.requests["POST /order/placeOrder"] == 1 and not emulator.orders
