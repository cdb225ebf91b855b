"""The Firstock REST client against the emulator: every endpoint the public client has, in
Firstock's shapes; refusals typed; reads retried through a 5xx burst, writes never; 429s."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

import pytest

from adapters.firstock import schemas as w
from adapters.firstock.client import FirstockClient
from adapters.firstock.emulator import FirstockEmulator
from engine.errors import InvalidOrder, MarketClosed, OrderNotFound, RateLimited, VenueUnavailable

from .conftest import THURSDAY_EVENING, bounded, credentials, ticks_away

Make = Callable[..., Awaitable[FirstockEmulator]]


def place_body(emulator: FirstockEmulator, price: Decimal, qty: str = "2", symbol: str = "SBIN-EQ") -> w.PlaceOrderRequest:
    return w.PlaceOrderRequest(userId="", jKey="", exchange="NSE", tradingSymbol=symbol, quantity=qty, price=str(price),
                               product="C", transactionType="B", priceType="LMT", retention="DAY", triggerPrice="0",
                               remarks="t1")


async def test_market_data_reads_answer_in_firstocks_shapes(client: FirstockClient, emulator: FirstockEmulator) -> None:
    quote = await bounded(client.quote("NSE", "RELIANCE-EQ"))
    ltp = await bounded(client.ltp("NSE", "RELIANCE-EQ"))
    many = await bounded(client.multi_quote([("NSE", "RELIANCE-EQ"), ("NSE", "NOSUCH-EQ")]))
    found = await bounded(client.search("RELI"))
    info = await bounded(client.security_info("NFO", "NIFTY26NOVFUT"))
    candles = await bounded(client.time_price_series("NSE", "RELIANCE-EQ", start="09:00:00 20-11-2026",
                                                     end="15:30:00 20-11-2026", interval="1mi"))
    assert quote.token == "2885" and Decimal(quote.bestBuyPrice1) < Decimal(quote.bestSellPrice1) and Decimal(ltp.lastTradedPrice) > 0
    assert [q.status for q in many] == ["", "failed"] and many[1].error is not None
    assert [r.tradingSymbol for r in found] == ["RELIANCE-EQ"]
    assert (info.token, info.instrumentName, info.freezeQuantity) == ("52168", "FUTIDX", "1800")
    assert all(c.open > 0 and c.epochTime > 0 for c in candles)


async def test_account_reads_answer_in_firstocks_shapes(client: FirstockClient, emulator: FirstockEmulator) -> None:
    user = await bounded(client.user_details())
    limits = await bounded(client.limits())
    holdings = await bounded(client.holdings())
    margin = await bounded(client.order_margin(exchange="NSE", tradingSymbol="SBIN-EQ", quantity="10", price="950",
                                               product="C", transactionType="B", priceType="LMT"))
    assert user.data is not None and user.data.actid == emulator.user_id
    assert Decimal(limits.cash) == Decimal(10_000_000) and Decimal(limits.marginused) == 0
    assert {h.exchangeTradingSymbol[0].tradingSymbol for h in holdings} == {"RELIANCE-EQ", "INFY-EQ", "SBIN-EQ"}
    assert Decimal(margin.requiredMargin) == Decimal(9500)


async def test_an_order_through_place_history_modify_books_and_cancel(client: FirstockClient, emulator: FirstockEmulator) -> None:
    price = ticks_away(emulator, "NSE:SBIN", -40)
    number = (await bounded(client.place(place_body(emulator, price)))).orderNumber
    book = await bounded(client.order_book())
    modify = w.ModifyOrderRequest(userId="", jKey="", orderNumber=number, quantity="3", price=str(price - 1), triggerPrice="0",
                                  tradingSymbol="SBIN-EQ", priceType="LMT", retention="DAY", product="C")
    await bounded(client.modify(modify))
    await bounded(client.cancel(number))
    history = await bounded(client.order_history(number))
    assert [(r.orderNumber, r.status, r.remarks) for r in book] == [(number, "OPEN", "t1")]
    assert [r.status for r in history] == ["CANCELED", "OPEN", "OPEN"]  # newest first
    assert [r.reportType for r in history] == ["Canceled", "Replaced", "New"] and history[0].quantity == "3"
    with pytest.raises(InvalidOrder, match="cancelled"):
        await bounded(client.cancel(number))
    with pytest.raises(OrderNotFound):
        await bounded(client.order_history("999"))


async def test_a_fill_shows_in_the_trade_book_and_positions_and_converts(client: FirstockClient, emulator: FirstockEmulator) -> None:
    number = (await bounded(client.place(place_body(emulator, ticks_away(emulator, "NSE:SBIN", 40), qty="4")))).orderNumber
    trades = await bounded(client.trade_book())
    positions = await bounded(client.positions())
    converted = await bounded(client.product_conversion(exchange="NSE", tradingSymbol="SBIN-EQ", quantity="4", product="I",
                                                        previousProduct="C", transactionType="B", positionType="DAY"))
    assert sum(Decimal(t.fillQuantity) for t in trades if t.orderNumber == number) == 4
    assert [(p.tradingSymbol, p.netQuantity, p.product) for p in positions] == [("SBIN-EQ", "4", "C")]
    assert converted.status == "success" and [p.product for p in await bounded(client.positions())] == ["I"]


async def test_after_hours_placeOrder_is_market_closed_and_an_amo_is_held_and_modified(make_emulator: Make) -> None:
    emulator = await make_emulator(start=THURSDAY_EVENING)
    c = FirstockClient("firstock", emulator.url, credentials=credentials(emulator), now_ns=emulator.clock.now_ns)
    await c.start()
    try:
        with pytest.raises(MarketClosed):
            await bounded(c.place(place_body(emulator, Decimal("950.00"))))
        number = (await bounded(c.place(place_body(emulator, Decimal("950.00")), amo=True))).orderNumber
        await bounded(c.modify_amo(w.ModifyAmoRequest(userId="", jKey="", orderNumber=number, quantity="5", price="951.00",
                                                      priceType="LMT", product="C", triggerPrice="0")))
        row = (await bounded(c.order_history(number)))[0]
    finally:
        await c.close()
    assert (row.status, row.quantity, row.price) == ("PENDING", "5", "951.00")


async def test_reads_are_retried_through_a_5xx_burst_and_writes_never_are(client: FirstockClient, emulator: FirstockEmulator) -> None:
    await bounded(client.auth.start())
    emulator.faults.burst_5xx = 2
    assert await bounded(client.order_book()) == []
    emulator.faults.burst_5xx = 1
    with pytest.raises(VenueUnavailable):
        await bounded(client.place(place_body(emulator, ticks_away(emulator, "NSE:SBIN", -40))))
    assert emulator.requests["POST /V1/orderBook"] == 3 and emulator.requests["POST /V1/placeOrder"] == 1 and not emulator.orders


async def test_over_the_rate_limit_firstock_answers_429_reads_wait_writes_do_not(client: FirstockClient, emulator: FirstockEmulator) -> None:
    await bounded(client.auth.start())
    emulator.rate_limit = (2, 0.05)  # on the emulator's clock, which runs with the wall's: shorter than the backoff
    for _ in range(4):
        await bounded(client.order_book())  # a 429 read is retried after its backoff
    emulator.faults.burst_status, emulator.faults.burst_5xx = 429, 1
    with pytest.raises(RateLimited):
        await bounded(client.cancel("1"))
    assert emulator.rate_limited >= 1
