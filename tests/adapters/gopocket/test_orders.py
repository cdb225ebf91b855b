"""Orders on the GoPocket emulator through the venue and a real order manager: place, modify, cancel,
fill, after-market orders, the RMS's refusal, the market closed, and a lost answer found by its tag."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from adapters.gopocket import schemas as w
from adapters.gopocket.client import GopocketClient
from adapters.gopocket.emulator import GopocketEmulator
from engine.errors import InvalidOrder, MarketClosed, OrderNotFound
from engine.events import OrderStatus as S
from engine.events import OrderType, Side, TimeInForce
from tests.helpers import bounded, until

from .conftest import MONDAY_EVENING, Harness, start_venue, ticks_away

SBIN = "gopocket:NSE:SBIN"


def submit(h: Harness, qty: int, price: Decimal | None, **kw: object) -> str:
    order = h.manager.submit(
        strategy_id="s1", instrument=SBIN, venue="gopocket", side=Side.BUY, qty=Decimal(qty), price=price,
        type=OrderType.LIMIT if price is not None else OrderType.MARKET, tif=TimeInForce.DAY, **kw,  # type: ignore[arg-type]
    )
    return order.client_order_id


async def test_an_order_is_placed_modified_and_cancelled(emulator: GopocketEmulator, tmp_path: Path) -> None:
    h = await start_venue(emulator, tmp_path)
    try:
        coid = submit(h, 10, ticks_away(emulator, "NSE:SBIN", -40))
        placed = await h.reaches(coid, S.PLACED)
        number = placed.venue_order_id
        row = emulator.orders[number]
        assert row.tag == coid and row.complexity == "REGULAR" and row.product == "CNC"
        new_price = placed.price - Decimal("0.50")
        h.manager.modify(coid, price=new_price)
        await until(lambda: emulator.orders[number].price == new_price)
        h.manager.cancel(coid)
        done = await h.reaches(coid, S.CANCELLED)
        assert done.filled_qty == 0 and emulator.orders[number].word() == "CANCELLED"
        assert [word for _, word in emulator.orders[number].history] == ["OPEN", "CANCELLED"]
    finally:
        await h.close()


async def test_an_order_that_fills_is_completed_with_its_fills(emulator: GopocketEmulator, tmp_path: Path) -> None:
    h = await start_venue(emulator, tmp_path)
    try:
        coid = submit(h, 4, ticks_away(emulator, "NSE:SBIN", 200))
        done = await h.reaches(coid, S.COMPLETED)
        assert done.filled_qty == 4
        await until(lambda: sum((f.qty for f in h.fills), Decimal(0)) == 4)
        trades = await bounded(h.venue.fills_since(0))
        assert {f.fill_id for f in trades} == {f.fill_id for f in h.fills}
        positions = await bounded(h.venue.positions())
        assert positions and positions[0].instrument == SBIN and positions[0].qty == 4
    finally:
        await h.close()


async def test_a_resting_order_filled_in_parts(emulator: GopocketEmulator, tmp_path: Path) -> None:
    h = await start_venue(emulator, tmp_path)
    try:
        coid = submit(h, 10, ticks_away(emulator, "NSE:SBIN", -40))
        placed = await h.reaches(coid, S.PLACED)
        emulator.fill_resting(placed.venue_order_id, Decimal(4))
        await until(lambda: h.order(coid).filled_qty == 4)
        assert h.order(coid).status is S.UPDATED
        emulator.fill_resting(placed.venue_order_id, Decimal(6))
        done = await h.reaches(coid, S.COMPLETED)
        assert done.filled_qty == 10 and len({f.fill_id for f in h.fills}) == 2
    finally:
        await h.close()


async def test_the_rms_refusal_is_a_rejection_with_its_reason(emulator: GopocketEmulator, tmp_path: Path) -> None:
    h = await start_venue(emulator, tmp_path)
    try:
        coid = submit(h, 100_000, ticks_away(emulator, "NSE:SBIN", 200))
        done = await h.reaches(coid, S.REJECTED)
        assert done.reason and "RMS" in done.reason
    finally:
        await h.close()


async def test_after_the_close_a_regular_order_is_refused_and_an_amo_held_for_the_open(make_emulator: object, tmp_path: Path) -> None:
    emulator: GopocketEmulator = await make_emulator(start=MONDAY_EVENING)  # type: ignore[operator]
    h = await start_venue(emulator, tmp_path)
    try:
        price = ticks_away(emulator, "NSE:SBIN", -40)
        coid = submit(h, 1, price)
        refused = await h.reaches(coid, S.REJECTED)
        assert refused.reason and "market is closed" in refused.reason.lower()
        amo = submit(h, 1, price, after_market=True)
        placed = await h.reaches(amo, S.PLACED)
        row = emulator.orders[placed.venue_order_id]
        assert row.complexity == "AMO" and row.state == "amo" and row.word() == "AFTER MARKET ORDER REQ RECEIVED"
        emulator.clock.set(row.release_ns + 1)  # the next session opens
        await until(lambda: row.sim is not None)
        assert row.word() in ("OPEN", "COMPLETE")
    finally:
        await h.close()


async def test_a_placement_whose_answer_is_lost_is_found_by_its_tag(emulator: GopocketEmulator, tmp_path: Path) -> None:
    h = await start_venue(emulator, tmp_path, timeout_s=0.5)
    try:
        emulator.faults.lose_write_responses = 1
        emulator.faults.lost_answer_stall_s = 1.5
        coid = submit(h, 1, ticks_away(emulator, "NSE:SBIN", 200))
        done = await h.reaches(coid, S.COMPLETED, S.REJECTED)
        assert done.status is S.COMPLETED and done.venue_order_id
        await until(lambda: emulator.answered("POST /open-api/order/v1/orders/placeorder") == 1)  # sent once
    finally:
        await h.close()


async def test_the_venue_refuses_as_it_should(emulator: GopocketEmulator, client: GopocketClient) -> None:
    base = {"instrumentId": "3045", "exchange": "NSE", "transactionType": "BUY", "quantity": "1", "orderComplexity": "REGULAR",
            "product": "CNC", "orderType": "LIMIT", "price": "810.03", "validity": "DAY"}
    with pytest.raises(InvalidOrder, match="tick"):
        await bounded(client.place(w.OrderRequest(**base)))
    with pytest.raises(InvalidOrder, match="instrument"):
        await bounded(client.place(w.OrderRequest(**{**base, "instrumentId": "99999", "price": "810.05"})))
    with pytest.raises(InvalidOrder, match="bracket"):
        await bounded(client.place(w.OrderRequest(**{**base, "price": "810.05", "orderComplexity": "BO"})))
    with pytest.raises(InvalidOrder, match="validity"):
        await bounded(client.place(w.OrderRequest(**{**base, "price": "810.05", "validity": "GTC"})))
    with pytest.raises(OrderNotFound):
        await bounded(client.cancel("26120799999999"))
    with pytest.raises(OrderNotFound):
        await bounded(client.history("26120799999999"))


async def test_every_endpoint_answers_in_the_envelope(emulator: GopocketEmulator, client: GopocketClient) -> None:
    placed = await bounded(client.place(w.OrderRequest(
        instrumentId="3045", exchange="NSE", transactionType="BUY", quantity="2", orderComplexity="BO", product="MIS",
        orderType="LIMIT", price=f"{ticks_away(emulator, 'NSE:SBIN', -40)}", validity="DAY", targetLegPrice="5",
        slLegPrice="3", orderTag="t1")))
    book = await bounded(client.order_book())
    assert book[0].brokerOrderId == placed.brokerOrderId and book[0].orderTag == "t1" and book[0].orderComplexity == "BO"
    history = await bounded(client.history(placed.brokerOrderId))
    assert history[0].orderStatus == "OPEN"
    margin = await bounded(client.margin(w.OrderRequest(instrumentId="3045", exchange="NSE", transactionType="BUY",
                                                        quantity="10", product="MIS", orderType="MARKET")))
    assert w.dec(margin[0].requiredMargin)
    await bounded(client.exit_bracket(placed.brokerOrderId, "BO"))
    assert (await bounded(client.order_book()))[0].orderStatus == "CANCELLED"
    with pytest.raises(InvalidOrder, match="exit"):
        await bounded(client.exit_bracket(placed.brokerOrderId, "REGULAR"))
    holdings = await bounded(client.holdings())
    assert {h.tradingSymbol for h in holdings} == {"SBIN-EQ", "INFY-EQ"}
    assert await bounded(client.holdings("CNC"))
    limits = await bounded(client.limits())
    assert w.dec(limits[0].availableMargin)
    squared = await bounded(client.square_off(w.OrderRequest(
        instrumentId="3045", exchange="NSE", transactionType="SELL", quantity="1", orderComplexity="REGULAR",
        product="CNC", orderType="MARKET", price="0", validity="DAY")))
    assert squared is not None and squared.brokerOrderId
    assert await bounded(client.trade_book())
    assert await bounded(client.positions())


async def test_the_emulator_itself_refuses_a_regular_order_after_the_close(make_emulator: object) -> None:
    from .conftest import make_client

    emulator: GopocketEmulator = await make_emulator(start=MONDAY_EVENING)  # type: ignore[operator]
    client = make_client(emulator)
    await client.start()
    try:
        with pytest.raises(MarketClosed):
            await bounded(client.place(w.OrderRequest(
                instrumentId="3045", exchange="NSE", transactionType="BUY", quantity="1", orderComplexity="REGULAR",
                product="CNC", orderType="MARKET", price="0", validity="DAY")))
    finally:
        await client.close()


async def test_india_rules_refuse_before_anything_is_sent(emulator: GopocketEmulator, tmp_path: Path) -> None:
    h = await start_venue(emulator, tmp_path)
    try:
        before = emulator.answered("POST /open-api/order/v1/orders/placeorder")
        coid = submit(h, 1, ticks_away(emulator, "NSE:SBIN", -40) + Decimal("0.01"))
        refused = await h.reaches(coid, S.REJECTED)
        assert refused.reason and "tick" in refused.reason
        assert emulator.answered("POST /open-api/order/v1/orders/placeorder") == before
    finally:
        await h.close()
