"""The venue behind a real order manager, against the emulator: baskets become transactions, the
statuses and fills come back, and transactions that nobody completes expire."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import aiohttp
import structlog

from adapters.smallcase.adapter import parse_venue_order_id
from adapters.smallcase.emulator import SmallcaseEmulator
from engine.events import OrderStatus, OrderType, Side

from .conftest import SATURDAY_NS, Harness, bounded, start_venue, until, venue_on

S = OrderStatus


async def test_orders_placed_in_one_turn_become_one_transaction_and_fill(emulator: SmallcaseEmulator, harness: Harness) -> None:
    orders = [harness.buy("RELIANCE", 10), harness.buy("TCS", 3), harness.buy("INFY", 7)]

    done = await bounded(harness.settled(*orders))

    assert len(emulator.gateway.transactions) == 1
    (tx,) = emulator.gateway.transactions.values()
    assert sorted((s.ticker, s.quantity, s.type) for s in tx.securities) == [("INFY", 7, "BUY"), ("RELIANCE", 10, "BUY"), ("TCS", 3, "BUY")]
    assert [o.status for o in done] == [S.COMPLETED] * 3
    for order in done:
        assert order.venue_order_id is not None
        txid, ticker, side = parse_venue_order_id(order.venue_order_id)
        assert (txid, side) == (tx.id, "BUY") and order.instrument == f"sim:NSE:{ticker}"
        assert order.filled_qty == order.qty and order.avg_price is not None and order.avg_price > 0
    assert sorted(f.fill_id for f in harness.fills) == sorted(f"{o.venue_order_id}:{o.qty}" for o in done)
    assert harness.manager.stats.duplicate_fills == 0


async def test_the_ack_is_submitted_until_the_transaction_reports(real_emulator: SmallcaseEmulator) -> None:
    async with venue_on(real_emulator) as h:
        order = h.buy("SBIN", 4)
        await until(lambda: h.order(order).venue_order_id is not None)
        assert h.order(order).status is S.SUBMITTED


async def test_an_order_for_a_ticker_and_side_already_in_the_basket_opens_a_second_transaction(emulator: SmallcaseEmulator, harness: Harness) -> None:
    first, again, other_side = harness.buy("ITC", 5), harness.buy("ITC", 2), harness.sell("TCS", 1)

    await bounded(harness.settled(first, again, other_side))

    txids = {parse_venue_order_id(harness.order(o).venue_order_id or "")[0] for o in (first, again)}
    assert len(txids) == 2 and len(emulator.gateway.transactions) == 2
    assert harness.order(first).status is S.COMPLETED and harness.order(again).status is S.COMPLETED


async def test_orders_smallcase_cannot_carry_are_rejected_before_anything_is_sent(emulator: SmallcaseEmulator, harness: Harness) -> None:
    limit = harness.submit("RELIANCE", 1, Side.BUY, type=OrderType.LIMIT, price=Decimal(1200))
    amo = harness.submit("TCS", 1, Side.BUY, after_market=True)
    intraday = harness.submit("INFY", 1, Side.BUY, options={"product": "MIS"})

    done = await bounded(harness.settled(limit, amo, intraday))

    assert [o.status for o in done] == [S.REJECTED] * 3
    assert "market orders only" in (done[0].reason or "") and "delivery" in (done[2].reason or "")
    assert emulator.gateway.transactions == {}


async def test_a_real_account_logs_the_link_and_waits_for_the_user(real_emulator: SmallcaseEmulator) -> None:
    async with venue_on(real_emulator) as h:
        with structlog.testing.capture_logs() as logs:
            order = h.buy("RELIANCE", 2)
            await until(lambda: h.order(order).venue_order_id is not None)
        (tx,) = real_emulator.gateway.transactions.values()
        (line,) = [r for r in logs if r["event"] == "complete this transaction in smallcase's SDK"]
        assert line["transaction_id"] == tx.id and line["log_level"] == "warning"
        assert line["link"] == f"{real_emulator.url}/sdk/{real_emulator.gateway_name}/{tx.id}"
        assert h.order(order).status is S.SUBMITTED and tx.status == "INITIALIZED"

        async with aiohttp.ClientSession() as http, http.post(line["link"], json={"action": "confirm"}) as resp:
            assert resp.status == 200

        (done,) = await bounded(h.settled(order))
        assert done.status is S.COMPLETED and done.filled_qty == 2


async def test_orders_expire_when_their_transaction_outlives_five_minutes(real_emulator: SmallcaseEmulator) -> None:
    async with venue_on(real_emulator, token_ttl_s=900) as h:
        orders = [h.buy("RELIANCE", 1), h.sell("TCS", 1)]
        await until(lambda: all(h.order(o).venue_order_id for o in orders))
        real_emulator.clock.advance(299)
        await until(lambda: h.venue.poller is not None and h.venue.poller.poller.requests >= 4)
        assert all(h.order(o).status is S.SUBMITTED for o in orders)

        real_emulator.clock.advance(2)
        done = await bounded(h.settled(*orders))

        assert [(o.status, o.reason) for o in done] == [(S.EXPIRED, "transaction_expired")] * 2


async def test_a_user_acting_after_the_five_minutes_expires_the_orders_through_the_venue(real_emulator: SmallcaseEmulator) -> None:
    async with venue_on(real_emulator, transaction_ttl_s=3600, token_ttl_s=900) as h:
        order = h.buy("INFY", 1)
        await until(lambda: h.order(order).venue_order_id is not None)
        real_emulator.clock.advance(301)
        (tx,) = real_emulator.gateway.transactions.values()
        assert real_emulator.user_step(tx) is tx and tx.error == "transaction_expired"

        (done,) = await bounded(h.settled(order))

        assert (done.status, done.reason) == (S.EXPIRED, "transaction_expired")


async def test_a_closed_market_rejects_the_orders_with_market_closed(emulator: SmallcaseEmulator, harness: Harness) -> None:
    emulator.clock.set(SATURDAY_NS)

    order = harness.buy("HDFCBANK", 3)
    (done,) = await bounded(harness.settled(order))

    assert (done.status, done.reason, done.filled_qty) == (S.REJECTED, "market_closed", 0)


async def test_a_lost_create_answer_leaves_the_order_rejected_and_the_transaction_unused(emulator: SmallcaseEmulator, harness: Harness) -> None:
    emulator.faults.lose_write_responses = 1
    emulator.complete_delay_s = 3600  # the virtual user never gets to it in this test

    order = harness.buy("SBIN", 2)
    (done,) = await bounded(harness.settled(order))

    assert done.status is S.REJECTED and "not received by the venue" in (done.reason or "")
    (tx,) = emulator.gateway.transactions.values()
    assert tx.status == "INITIALIZED"  # created, never used: it dies on its own after 5 minutes


async def test_order_status_after_a_restart_adopts_the_transaction_and_reports_its_outcome(emulator: SmallcaseEmulator, harness: Harness) -> None:
    order = harness.buy("ICICIBANK", 6)
    await until(lambda: harness.order(order).venue_order_id is not None)
    submitted = harness.order(order)

    async with venue_on(emulator) as fresh:
        await until(lambda: next(iter(emulator.gateway.transactions.values())).status == "COMPLETED")
        report = await bounded(fresh.venue.order_status(submitted))

        assert report is not None and report.status is S.COMPLETED
        assert report.client_order_id == order.client_order_id and report.filled_qty == 6


async def test_a_restart_reconciles_an_unused_transaction_older_than_five_minutes_as_expired(real_emulator: SmallcaseEmulator, tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    async with venue_on(real_emulator, journal_path=journal, token_ttl_s=900) as before:
        order = before.buy("SBIN", 1)
        await until(lambda: before.order(order).venue_order_id is not None)
    real_emulator.clock.advance(301)

    async with venue_on(real_emulator, journal_path=journal, token_ttl_s=900) as after:
        (done,) = await bounded(after.settled(order))

    assert (done.status, done.reason) == (S.EXPIRED, "transaction_expired")


async def test_closing_the_venue_ends_placements_still_waiting_in_a_basket(emulator: SmallcaseEmulator) -> None:
    h = await start_venue(emulator, linger_ms=60_000)
    order = h.buy("TCS", 1)
    await until(lambda: h.venue._basket is not None and len(h.venue._basket.orders) == 1)

    await bounded(h.venue.close())
    await bounded(h.manager.settle())

    assert emulator.gateway.transactions == {}
    assert h.order(order).status is S.SUBMITTED  # never sent: reconciliation settles it next start
    h.journal.close()
