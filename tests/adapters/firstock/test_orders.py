"""Order lives through the venue and a real order manager: placed -> updated -> completed, cancel,
an RMS rejection, india's pre-trade rules (market hours, lot, tick), after-market orders, stops,
freeze-quantity slices, an unknown outcome found by its remarks, and a restart reconciled."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.firstock.emulator import FirstockEmulator
from adapters.firstock.parsing import find_by_remarks
from engine.errors import InvalidOrder, MarketClosed
from engine.events import Order, OrderStatus, OrderType, Side, TimeInForce
from tests.adapters._india_fixtures import partly_then_wholly_filled, restart_mid_order, statuses, submit

from .conftest import THURSDAY_EVENING, Harness, bounded, start_venue, ticks_away, until

Make = Callable[..., Awaitable[FirstockEmulator]]
S = OrderStatus
RELIANCE = "firstock:NSE:RELIANCE"


@pytest.fixture
async def venue(emulator: FirstockEmulator, tmp_path: Path) -> Any:
    h = await start_venue(emulator, tmp_path)
    yield h
    await h.close()


async def test_a_limit_order_goes_placed_then_updated_then_completed(venue: Harness, emulator: FirstockEmulator) -> None:
    coid, partial = await partly_then_wholly_filled(venue, emulator, "NSE:RELIANCE", restart_market=True)

    seen = statuses(venue, coid)
    assert seen.index(S.PLACED) < seen.index(S.UPDATED) < seen.index(S.COMPLETED)
    assert 0 < partial < 6000
    trades = {t.fillId for t in await bounded(venue.venue.client.trade_book())}  # type: ignore[union-attr]
    assert {f.fill_id for f in venue.journal.load().fills} == trades  # fill ids are Firstock's fillIds
    placed = emulator.orders[venue.order(coid).venue_order_id]
    assert placed.remarks == coid and placed.product == "C" and placed.price_type == "LMT"


async def test_a_cancelled_order_is_cancelled_at_the_venue(venue: Harness, emulator: FirstockEmulator) -> None:
    order = submit(venue, "firstock:NSE:INFY", Side.BUY, 2, ticks_away(emulator, "NSE:INFY", -50))
    await until(lambda: venue.order(order.client_order_id).status is S.PLACED)
    venue.manager.cancel(order.client_order_id)
    await until(lambda: venue.order(order.client_order_id).status is S.CANCELLED)
    assert emulator.orders[venue.order(order.client_order_id).venue_order_id].word() == "CANCELED"


async def test_an_order_beyond_the_margin_is_placed_then_rejected_with_the_rms_reason(venue: Harness, emulator: FirstockEmulator) -> None:
    order = submit(venue, "firstock:NSE:TCS", Side.BUY, 5000, ticks_away(emulator, "NSE:TCS", -10))  # ~1.5 crore
    await until(lambda: venue.order(order.client_order_id).status is S.REJECTED)
    assert "RMS:Margin Exceeds" in (venue.order(order.client_order_id).reason or "")


async def test_outside_market_hours_only_an_after_market_order_is_taken(make_emulator: Make, tmp_path: Path) -> None:
    emulator = await make_emulator(start=THURSDAY_EVENING)
    h = await start_venue(emulator, tmp_path)
    try:
        price = ticks_away(emulator, "NSE:ITC", 30)
        plain = submit(h, "firstock:NSE:ITC", Side.BUY, 2, price)
        await until(lambda: h.order(plain.client_order_id).status is S.REJECTED)
        amo = submit(h, "firstock:NSE:ITC", Side.BUY, 2, price, after_market=True)
        await until(lambda: h.order(amo.client_order_id).status is S.PLACED)
        held = emulator.orders[h.order(amo.client_order_id).venue_order_id].word()
        emulator.clock.set(h.venue.calendar.next_open("NSE", emulator.clock.now_ns()) + 1_000_000_000)
        await until(lambda: h.order(amo.client_order_id).status is S.COMPLETED)
    finally:
        await h.close()
    assert "closed" in (h.order(plain.client_order_id).reason or "")
    assert held == "PENDING" and emulator.requests["POST /V1/placeAMO"] == 1 and emulator.requests["POST /V1/placeOrder"] == 0


def order_of(instrument: str, qty: int, price: str) -> Order:
    return Order(client_order_id="t1", strategy_id="s1", instrument=instrument, venue="firstock", side=Side.BUY,
                 type=OrderType.LIMIT, qty=Decimal(qty), price=Decimal(price), tif=TimeInForce.DAY)


async def test_lot_tick_and_market_hours_are_checked_before_anything_is_sent(venue: Harness, emulator: FirstockEmulator) -> None:
    lot = int(venue.portfolio.instruments["firstock:NFO:NIFTY26NOVFUT"].lot_size)
    with pytest.raises(InvalidOrder, match="lot size"):
        await bounded(venue.venue.place(order_of("firstock:NFO:NIFTY26NOVFUT", lot + 1, "26000.00")))
    with pytest.raises(InvalidOrder, match="tick"):
        await bounded(venue.venue.place(order_of(RELIANCE, 1, "1290.53")))
    emulator.clock.advance(12 * 3600)  # the evening
    with pytest.raises(MarketClosed):
        await bounded(venue.venue.place(order_of(RELIANCE, 1, "1290.50")))
    assert emulator.requests["POST /V1/placeOrder"] == 0


async def test_a_stop_waits_with_its_stop_pending_and_is_told_once_triggered(venue: Harness, emulator: FirstockEmulator) -> None:
    key = "NSE:WIPRO"
    trigger = ticks_away(emulator, key, 100)
    order = submit(venue, "firstock:NSE:WIPRO", Side.BUY, 3, trigger + Decimal("0.50"), type=OrderType.STOP_LIMIT,
                   trigger_price=trigger)
    await until(lambda: venue.order(order.client_order_id).status is S.PLACED and venue.order(order.client_order_id).stop_pending)
    emu_order = emulator.orders[venue.order(order.client_order_id).venue_order_id]
    assert emu_order.word() == "TRIGGER_PENDING" and emu_order.price_type == "SL-LMT"
    emulator.exchange.print_trade(key, trigger + Decimal("0.05"), Decimal(1))  # through the trigger
    await until(lambda: not venue.order(order.client_order_id).stop_pending)


async def test_an_order_above_the_freeze_quantity_reaches_firstock_as_lot_multiple_slices(venue: Harness, emulator: FirstockEmulator) -> None:
    inst = venue.portfolio.instruments["firstock:NFO:NIFTY26NOV26000CE"]
    price = ticks_away(emulator, "NFO:NIFTY26NOV26000CE", -200)
    first = submit(venue, inst.id, Side.BUY, int(inst.lot_size) * 30, price)  # the freeze limit is 1800
    slices = venue.manager.slices(first.client_order_id)
    await until(lambda: all(venue.order(o.client_order_id).status is S.PLACED for o in slices))
    sent = sorted((o.qty for o in emulator.orders.values()), reverse=True)
    assert inst.freeze_qty == Decimal(1800) and len(sent) == 2 and sum(sent) == inst.lot_size * 30
    assert all(q <= 1800 and q % inst.lot_size == 0 for q in sent)
    assert all(o.product == "M" for o in emulator.orders.values())  # CNC means nothing for options: NRML


async def test_a_lost_answer_is_found_by_its_remarks_never_sent_again(venue: Harness, emulator: FirstockEmulator) -> None:
    emulator.faults.lose_write_responses = 1
    order = submit(venue, "firstock:NSE:AXISBANK", Side.BUY, 3, ticks_away(emulator, "NSE:AXISBANK", -40))
    await until(lambda: venue.order(order.client_order_id).status is S.PLACED)
    assert len(emulator.orders) == 1 and emulator.requests["POST /V1/placeOrder"] == 1
    assert venue.order(order.client_order_id).venue_order_id == next(iter(emulator.orders))


async def test_a_restart_mid_order_is_reconciled_with_the_venue(emulator: FirstockEmulator, tmp_path: Path) -> None:
    run = await restart_mid_order(start_venue, emulator, tmp_path, ("NSE:LT", "NSE:SBIN", "NSE:ITC", "NSE:WIPRO"), "COMPLETE")
    got = run.got
    assert got["resting"].status is S.PLACED
    assert got["to_fill"].status is S.COMPLETED and got["to_fill"].filled_qty == 10
    assert got["to_cancel"].status is S.CANCELLED
    assert got["unknown"].status is S.PLACED and got["unknown"].venue_order_id in emulator.orders
    assert len(emulator.orders) == 4  # nothing was sent twice
    rows = [o for o in emulator.orders.values() if o.remarks == got["unknown"].client_order_id]
    assert len(rows) == 1


async def test_a_cancel_that_comes_too_late_reports_the_fill_not_a_refusal(venue: Harness, emulator: FirstockEmulator) -> None:
    order = submit(venue, "firstock:NSE:ITC", Side.BUY, 2, ticks_away(emulator, "NSE:ITC", 40))  # fills at once
    await until(lambda: venue.order(order.client_order_id).venue_order_id is not None)
    await until(lambda: emulator.orders[venue.order(order.client_order_id).venue_order_id].word() == "COMPLETE")
    report = await bounded(venue.venue.cancel(venue.order(order.client_order_id)))
    assert report is not None and report.status is S.COMPLETED
    assert emulator.requests["POST /V1/cancelOrder"] == 1


async def test_an_order_that_fills_while_its_cancel_is_pending_ends_completed(venue: Harness, emulator: FirstockEmulator) -> None:
    emulator.cancel_delay_s = 3600  # the exchange takes its time with the cancel
    key = "NSE:TCS"
    order = submit(venue, "firstock:NSE:TCS", Side.BUY, 2, ticks_away(emulator, key, -50))
    await until(lambda: venue.order(order.client_order_id).status is S.PLACED)
    venue.manager.cancel(order.client_order_id)
    await until(lambda: emulator.requests["POST /V1/cancelOrder"] == 1)
    emulator.fill_resting(venue.order(order.client_order_id).venue_order_id, Decimal(2))
    await until(lambda: venue.order(order.client_order_id).status is S.COMPLETED)
    assert venue.order(order.client_order_id).filled_qty == 2


def test_remarks_find_the_earliest_order_of_a_client_id() -> None:
    from adapters.firstock import schemas as w

    rows = [w.OrderRow(orderNumber="2", remarks="x", orderTime="09:20:02 20-11-2026"),
            w.OrderRow(orderNumber="1", remarks="x", orderTime="09:20:01 20-11-2026"), w.OrderRow(orderNumber="3", remarks="y")]
    found = find_by_remarks(rows, "x")
    assert found is not None and found.orderNumber == "1" and find_by_remarks(rows, "z") is None
