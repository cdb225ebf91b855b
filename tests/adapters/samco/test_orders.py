"""Order lives through the venue and a real order manager: placed -> updated -> completed, cancel,
margin and market-hours rejections, after-market orders, freeze-quantity slices, an unknown
outcome found by matching, and a restart reconciled with the venue."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.india import IST, to_ns
from adapters.samco.emulator import SamcoEmulator
from engine.errors import MarketClosed, VenueUnavailable
from engine.events import Order, OrderStatus, OrderType, Pending, Side
from tests.adapters._india_fixtures import partly_then_wholly_filled, restart_mid_order, statuses, submit

from .conftest import (
    SATURDAY,
    THURSDAY_EVENING,
    Harness,
    bounded,
    start_venue,
    ticks_away,
    until,
)

Make = Callable[..., Awaitable[SamcoEmulator]]
S = OrderStatus
RELIANCE = "samco:NSE:RELIANCE"


@pytest.fixture
async def venue(emulator: SamcoEmulator, tmp_path: Path) -> Any:
    h = await start_venue(emulator, tmp_path)
    yield h
    await h.close()


async def test_a_limit_order_goes_placed_then_updated_then_completed(venue: Harness, emulator: SamcoEmulator) -> None:
    coid, partial = await partly_then_wholly_filled(venue, emulator, "NSE:RELIANCE", restart_market=False)

    final = venue.order(coid)
    seen = statuses(venue, coid)
    assert seen.index(S.PLACED) < seen.index(S.UPDATED) < seen.index(S.COMPLETED)
    assert 0 < partial < 6000 and final.venue_order_id in emulator.orders
    trades = {t.tradeNumber for t in await bounded(venue.venue.client.trade_book())}  # type: ignore[union-attr]
    assert {f.fill_id for f in venue.journal.load().fills} == trades  # fill ids are Samco's tradeNumbers


async def test_a_cancelled_order_is_cancelled_at_the_venue(venue: Harness, emulator: SamcoEmulator) -> None:
    order = submit(venue, "samco:NSE:TCS", Side.BUY, 2, ticks_away(emulator, "NSE:TCS", -50))
    await until(lambda: venue.order(order.client_order_id).status is S.PLACED)

    venue.manager.cancel(order.client_order_id)
    await until(lambda: venue.order(order.client_order_id).status is S.CANCELLED)

    assert emulator.orders[venue.order(order.client_order_id).venue_order_id].word() == "Cancelled"


async def test_an_order_beyond_the_margin_is_rejected_with_the_rms_reason(venue: Harness, emulator: SamcoEmulator) -> None:
    order = submit(venue, RELIANCE, Side.BUY, 100_000, ticks_away(emulator, "NSE:RELIANCE", 0))

    await until(lambda: venue.order(order.client_order_id).status is S.REJECTED)

    final = venue.order(order.client_order_id)
    assert final.venue_order_id in emulator.orders  # accepted, then refused by the RMS
    assert final.reason is not None and final.reason.startswith("RMS:Margin Exceeds,Required:")


async def test_an_order_outside_market_hours_is_rejected_as_market_closed(make_emulator: Make, tmp_path: Path) -> None:
    emulator = await make_emulator(start=SATURDAY)
    h = await start_venue(emulator, tmp_path)
    try:
        order = submit(h, RELIANCE, Side.BUY, 1, Decimal("1200.00"))
        await until(lambda: h.order(order.client_order_id).status is S.REJECTED)
        with pytest.raises(MarketClosed):
            await bounded(h.venue.place(order))
    finally:
        await h.close()

    assert "Market is closed" in (h.order(order.client_order_id).reason or "") and not emulator.orders
    assert h.venue.market_is_open(h.portfolio.instruments[RELIANCE], emulator.clock.now_ns()) is False


async def test_an_after_market_order_is_accepted_after_hours_and_filled_at_the_open(make_emulator: Make, tmp_path: Path) -> None:
    emulator = await make_emulator(start=THURSDAY_EVENING)
    h = await start_venue(emulator, tmp_path)
    try:
        order = submit(h, RELIANCE, Side.BUY, 5, ticks_away(emulator, "NSE:RELIANCE", 60), after_market=True)
        coid = order.client_order_id
        await until(lambda: h.order(coid).status is S.PLACED)
        held = emulator.orders[h.order(coid).venue_order_id].word()
        emulator.clock.set(to_ns(datetime(2026, 11, 20, 9, 15, 0, 500_000, tzinfo=IST)))
        await until(lambda: h.order(coid).status is S.COMPLETED and h.order(coid).filled_qty == 5)
    finally:
        await h.close()

    assert held == "After market order req received" and h.order(coid).after_market
    fill_ts = emulator.orders[h.order(coid).venue_order_id].fills[0].ts_ns
    assert fill_ts >= to_ns(datetime(2026, 11, 20, 9, 15, tzinfo=IST))  # not before the open


async def test_a_stop_order_waits_with_its_stop_pending(venue: Harness, emulator: SamcoEmulator) -> None:
    trigger = ticks_away(emulator, "NSE:INFY", 100)
    order = submit(venue, "samco:NSE:INFY", Side.BUY, 1, trigger + Decimal("0.50"), type=OrderType.STOP_LIMIT, trigger_price=trigger)

    await until(lambda: venue.order(order.client_order_id).status is S.PLACED)

    assert venue.order(order.client_order_id).stop_pending is True
    assert emulator.orders[venue.order(order.client_order_id).venue_order_id].word() == "Trigger Pending"


async def test_a_stop_that_triggers_is_reported_with_its_stop_no_longer_pending(venue: Harness, emulator: SamcoEmulator) -> None:
    # the limit far below the market: once triggered the order rests (Open), its status and fill unchanged
    limit, trigger = ticks_away(emulator, "NSE:INFY", -100), ticks_away(emulator, "NSE:INFY", 100)
    order = submit(venue, "samco:NSE:INFY", Side.BUY, 1, limit, type=OrderType.STOP_LIMIT, trigger_price=trigger)
    coid = order.client_order_id
    await until(lambda: venue.order(coid).stop_pending is True)
    poller = venue.venue.orders
    assert poller is not None
    seen = poller.book_requests
    await until(lambda: poller.book_requests >= seen + 2)  # the poller has listed it Trigger Pending

    # the market reaches the trigger (as if it had moved): only the order poller can tell
    sim = emulator.orders[venue.order(coid).venue_order_id or ""].sim
    assert sim is not None
    emulator.exchange.modify("DEMO01", sim.id, trigger=ticks_away(emulator, "NSE:INFY", -50))
    await until(lambda: venue.order(coid).stop_pending is False)

    assert venue.order(coid).status is S.PLACED
    assert emulator.orders[venue.order(coid).venue_order_id or ""].word() == "Open"


async def test_an_order_above_the_freeze_quantity_reaches_samco_as_lot_multiple_slices(venue: Harness, emulator: SamcoEmulator) -> None:
    inst = venue.portfolio.instruments["samco:NFO:NIFTY26NOV26000CE"]
    price = ticks_away(emulator, "NFO:NIFTY26NOV26000CE", -200)

    first = submit(venue, inst.id, Side.BUY, 1950, price)  # 30 lots; the freeze limit is 1800
    slices = venue.manager.slices(first.client_order_id)
    await until(lambda: all(venue.order(o.client_order_id).status is S.PLACED for o in slices))

    sent = sorted((o.qty for o in emulator.orders.values()), reverse=True)
    assert (inst.lot_size, inst.freeze_qty) == (Decimal(65), Decimal(1800))
    assert sent == [Decimal(1755), Decimal(195)]  # 27 lots + 3 lots, each under the freeze limit
    assert all(o.product == "NRML" for o in emulator.orders.values())  # CNC means nothing for options


async def test_a_lost_answer_is_resolved_by_matching_the_order_book_never_by_resending(venue: Harness, emulator: SamcoEmulator) -> None:
    emulator.faults.lose_write_responses = 1
    order = submit(venue, "samco:NSE:WIPRO", Side.BUY, 3, ticks_away(emulator, "NSE:WIPRO", -40))

    await until(lambda: venue.order(order.client_order_id).status is S.PLACED)

    assert len(emulator.orders) == 1 and emulator.requests["POST /order/placeOrder"] == 1
    assert venue.order(order.client_order_id).venue_order_id == next(iter(emulator.orders))


async def test_a_restart_mid_order_is_reconciled_with_the_venue(emulator: SamcoEmulator, tmp_path: Path) -> None:
    run = await restart_mid_order(start_venue, emulator, tmp_path, ("NSE:LT", "NSE:NTPC", "NSE:ONGC", "NSE:BEL"), "Complete")
    got = run.got

    assert run.stuck is S.SUBMITTED and got["resting"].status is S.PLACED
    assert got["to_fill"].status is S.COMPLETED and got["to_fill"].filled_qty == 10
    assert got["to_cancel"].status is S.CANCELLED
    assert got["unknown"].status is S.PLACED and got["unknown"].venue_order_id in emulator.orders
    assert len(emulator.orders) == 4  # nothing was sent twice


async def test_a_cancel_that_comes_too_late_reports_the_fill_not_a_refusal(venue: Harness, emulator: SamcoEmulator) -> None:
    order = submit(venue, "samco:NSE:ITC", Side.BUY, 2, ticks_away(emulator, "NSE:ITC", 40))  # fills at once
    await until(lambda: venue.order(order.client_order_id).venue_order_id is not None)

    report = await bounded(venue.venue.cancel(venue.order(order.client_order_id)))

    assert report is not None and report.status is S.COMPLETED
    assert emulator.requests["DELETE /order/cancelOrder"] == 1


async def test_an_order_that_fills_while_its_cancel_is_pending_ends_completed_not_cancelled(venue: Harness, emulator: SamcoEmulator) -> None:
    emulator.cancel_delay_s = 3600  # the exchange takes its time with the cancel
    key = "NSE:TCS"
    order = submit(venue, "samco:NSE:TCS", Side.BUY, 2, ticks_away(emulator, key, -50))
    coid = order.client_order_id
    await until(lambda: venue.order(coid).status is S.PLACED)
    number = venue.order(coid).venue_order_id or ""

    venue.manager.cancel(coid)
    await until(lambda: emulator.orders[number].cancel_at_ns is not None and emulator.requests["GET /order/getOrderStatus"] >= 1)
    await bounded(venue.manager.settle())
    flagged = venue.order(coid)
    await bounded(emulator.exchange.stop())
    quote = emulator.exchange.market(key).quote
    assert quote is not None
    emulator.exchange.modify("DEMO01", emulator.orders[number].sim.id, price=Decimal(repr(quote.ask)) + 5)  # type: ignore[union-attr]
    await until(lambda: venue.order(coid).status is S.COMPLETED and venue.order(coid).filled_qty == 2)
    emulator.clock.advance(7200)  # the cancel reaches the exchange: nothing left to cancel
    await until(lambda: emulator.orders[number].cancel_at_ns is None)

    assert (flagged.status, flagged.pending) == (S.PLACED, Pending.CANCEL)  # accepted, not yet done
    assert S.CANCELLED not in statuses(venue, coid)
    assert venue.order(coid).status is S.COMPLETED and venue.order(coid).pending is None
    assert emulator.orders[number].word() == "Complete"


async def test_an_order_acknowledged_pending_then_refused_by_the_rms_ends_rejected(venue: Harness, emulator: SamcoEmulator) -> None:
    emulator.rms_after_ack = True
    order = submit(venue, RELIANCE, Side.BUY, 100_000, ticks_away(emulator, "NSE:RELIANCE", 0))

    await until(lambda: venue.order(order.client_order_id).status is S.REJECTED)

    final = venue.order(order.client_order_id)
    seen = statuses(venue, order.client_order_id)
    assert seen.index(S.PLACED) < seen.index(S.REJECTED)  # acknowledged first, refused after
    assert final.reason is not None and final.reason.startswith("RMS:Margin Exceeds,Required:")
    assert venue.manager.stats.refused_transitions == 0


async def test_trade_rows_without_trade_numbers_or_sizes_never_add_up_past_the_order(venue: Harness, emulator: SamcoEmulator) -> None:
    emulator.minimal_trade_book = True  # rows carry the order's cumulative filledQuantity only
    key = "NSE:RELIANCE"
    order = submit(venue, RELIANCE, Side.BUY, 6000, ticks_away(emulator, key, -30))
    coid = order.client_order_id
    await until(lambda: venue.order(coid).status is S.PLACED)
    await bounded(emulator.exchange.stop())
    quote = emulator.exchange.market(key).quote
    assert quote is not None and quote.ask_size < 6000
    venue.manager.modify(coid, price=Decimal(repr(quote.ask)))  # takes the touch: a partial fill
    await until(lambda: venue.order(coid).filled_qty > 0)
    venue.manager.modify(coid, price=ticks_away(emulator, key, 200))  # and then the rest
    await until(lambda: venue.order(coid).status is S.COMPLETED and venue.order(coid).filled_qty == 6000)
    await bounded(venue.manager.settle())
    fills = venue.journal.load().fills

    number = venue.order(coid).venue_order_id or ""
    trades = emulator.orders[number].fills
    assert len(trades) >= 2 and venue.order(coid).filled_qty == 6000
    assert sorted(f.qty for f in fills) == sorted(t.qty for t in trades)
    assert venue.manager.stats.overfills == 0


async def test_after_a_restart_matching_never_hands_out_an_order_number_the_journal_owns(emulator: SamcoEmulator, tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    first = await start_venue(emulator, tmp_path, journal=journal)
    price = ticks_away(emulator, "NSE:SBIN", -80)
    known = submit(first, "samco:NSE:SBIN", Side.BUY, 5, price)
    await until(lambda: first.order(known.client_order_id).status is S.PLACED)
    emulator.clock.advance(2)  # the twin is placed a little later: matching would pick the older
    emulator.faults.lose_write_responses = 1

    lookups: list[str] = []

    async def lookup_fails(order: Order) -> None:
        lookups.append(order.client_order_id)
        raise VenueUnavailable("samco", "connection reset")

    first.venue.order_status = lookup_fails  # type: ignore[method-assign]
    twin = submit(first, "samco:NSE:SBIN", Side.BUY, 5, price)  # the same parameters, answer lost
    await until(lambda: len(emulator.orders) == 2 and bool(lookups))
    for task in list(first.manager._tasks):  # the engine dies while it is still asking
        task.cancel()
    await asyncio.sleep(0)
    await bounded(first.venue.close())
    first.journal.close()
    numbers = sorted(emulator.orders)

    second = await start_venue(emulator, tmp_path, journal=journal)
    try:
        got = {o.client_order_id: second.order(o.client_order_id) for o in (known, twin)}
    finally:
        await second.close()

    assert got[known.client_order_id].venue_order_id == numbers[0]
    assert got[twin.client_order_id].venue_order_id == numbers[1]
    assert got[twin.client_order_id].status is S.PLACED and len(emulator.orders) == 2


async def test_a_fill_the_manager_failed_to_take_is_delivered_again(venue: Harness, emulator: SamcoEmulator) -> None:
    taken = venue.manager.on_fill
    failures: list[str] = []

    def flaky(fill: Any) -> None:
        if not failures:
            failures.append(fill.fill_id)
            raise OSError("journal unavailable")
        taken(fill)

    sink = type("Sink", (), {"on_fill": staticmethod(flaky), "on_order_report": venue.manager.on_order_report,
                             "on_balance": venue.manager.on_balance})()
    venue.venue.ctx.sink = venue.venue.sync.sink = sink
    order = submit(venue, "samco:NSE:ITC", Side.BUY, 3, ticks_away(emulator, "NSE:ITC", 40))  # fills at once

    await until(lambda: venue.order(order.client_order_id).filled_qty == 3)

    assert failures and failures[0] in {f.fill_id for f in venue.journal.load().fills}


async def test_a_cancel_or_modify_answered_403_clears_the_flag_with_samcos_reason(venue: Harness, emulator: SamcoEmulator) -> None:
    order = submit(venue, "samco:NSE:INFY", Side.BUY, 1, ticks_away(emulator, "NSE:INFY", -60))
    coid = order.client_order_id
    await until(lambda: venue.order(coid).status is S.PLACED)
    emulator.registered_ips = ["203.0.113.7"]  # the registration changed under us
    emulator.forbid["/ip/whoami"] = "Access denied for this IP"

    venue.manager.cancel(coid)
    await until(lambda: venue.order(coid).pending is None)
    after_cancel = venue.order(coid)
    venue.manager.modify(coid, price=ticks_away(emulator, "NSE:INFY", -61))
    await until(lambda: venue.order(coid).pending is None and venue.order(coid).reason != after_cancel.reason)
    after_modify = venue.order(coid)

    assert after_cancel.status is after_modify.status is S.PLACED
    for reason in (after_cancel.reason, after_modify.reason):
        assert reason is not None and "The IP is not the registered static IP" in reason
        assert "GET /ip/whoami failed too" in reason
    assert emulator.orders[after_modify.venue_order_id or ""].word() == "Open"


async def test_the_scrip_master_is_parsed_off_the_event_loop(emulator: SamcoEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from adapters.samco import scrip

    threads: list[str] = []
    parse = scrip.parse

    def recording(text: str) -> list[scrip.Scrip]:
        threads.append(threading.current_thread().name)
        return parse(text)

    monkeypatch.setattr(scrip, "parse", recording)
    h = await start_venue(emulator, tmp_path, mode="paper")
    await h.close()

    assert threads and threading.current_thread().name not in threads
