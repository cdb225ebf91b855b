"""Following a transaction to its end against the emulator: a user who has begun is waited for past
the five minutes, a late completion after a local expiry is still seen, one unreadable transaction
does not hold up the others, a 404 that is not the gateway's word does not reject anything, order
details that lag the status are read again, and an order's progress never goes down."""

from __future__ import annotations

from decimal import Decimal

import aiohttp
import msgspec
import pytest
import structlog

from adapters.smallcase import schemas as w
from adapters.smallcase.emulator import SmallcaseEmulator
from adapters.smallcase.emulator.market import Transaction, iso
from adapters.smallcase.parsing import parse_venue_order_id
from engine.events import Order, OrderStatus

from .conftest import Harness, bounded, leprechaun_holdings, until, venue_on

S = OrderStatus


async def placed(h: Harness, emulator: SmallcaseEmulator, order: Order) -> Transaction:
    """The emulator's transaction once the order's ack carries its id."""
    await until(lambda: h.order(order).venue_order_id is not None or not h.order(order).is_open)
    vid = h.order(order).venue_order_id
    assert vid is not None, h.order(order)
    return emulator.gateway.transactions[parse_venue_order_id(vid)[0]]


async def polled(h: Harness, rounds: int = 3) -> None:
    """Until the poller has read the open transactions `rounds` more times."""
    assert h.venue.poller is not None
    poller = h.venue.poller.poller
    target = poller.requests + rounds
    await until(lambda: poller.requests >= target)


@pytest.mark.parametrize("pause_at", ["USED", "ACTION_REQUIRED", "PROCESSING"])
async def test_a_transaction_the_user_has_begun_is_followed_past_five_minutes_until_it_completes(
    real_emulator: SmallcaseEmulator, pause_at: str,
) -> None:
    real_emulator.pause_at = pause_at
    async with venue_on(real_emulator) as h:
        order = h.buy("RELIANCE", 3)
        tx = await placed(h, real_emulator, order)
        assert real_emulator.user_step(tx) is tx and tx.status == pause_at  # begun in time, not finished

        real_emulator.clock.advance(301)
        await polled(h)
        assert h.order(order).status is S.SUBMITTED  # the venue decides, not the local clock

        assert real_emulator.resume(tx) is tx and tx.status == "COMPLETED"
        (done,) = await bounded(h.settled(order))
        position = h.manager.portfolio.position(order.instrument).qty

    assert (done.status, done.filled_qty) == (S.COMPLETED, 3)
    assert position == leprechaun_holdings(real_emulator, "leprechaun")["RELIANCE"] == 3


async def test_a_completion_after_the_local_expiry_is_still_seen_during_the_grace_period(real_emulator: SmallcaseEmulator) -> None:
    """The local clock expired it unused; the user had begun just then and completes later."""
    async with venue_on(real_emulator, transaction_ttl_s=60) as h:
        order = h.buy("TCS", 2)
        tx = await placed(h, real_emulator, order)
        real_emulator.clock.advance(61)
        (expired,) = await bounded(h.settled(order))
        assert (expired.status, expired.reason) == (S.EXPIRED, "transaction_expired")

        assert real_emulator.user_step(tx) is tx and tx.status == "COMPLETED"  # within the venue's 5 minutes
        await until(lambda: h.order(order).filled_qty == 2)
        position = h.manager.portfolio.position(order.instrument).qty

    assert position == leprechaun_holdings(real_emulator, "leprechaun")["TCS"] == 2
    assert len(h.fills) == 1 and h.order(order).status is S.EXPIRED  # the fill is a fact; the status stays


async def test_a_404_that_is_not_the_gateways_answer_does_not_reject_the_orders(real_emulator: SmallcaseEmulator) -> None:
    async with venue_on(real_emulator) as h:
        order = h.buy("INFY", 1)
        tx = await placed(h, real_emulator, order)
        real_emulator.faults.burst_status, real_emulator.faults.burst_5xx = 404, 3  # a proxy's 404s
        await until(lambda: real_emulator.faults.burst_5xx == 0 or not h.order(order).is_open)
        await polled(h, 1)
        assert h.order(order).status is S.SUBMITTED, h.order(order).reason

        real_emulator.user_step(tx)
        (done,) = await bounded(h.settled(order))

    assert (done.status, done.filled_qty) == (S.COMPLETED, 1)


async def test_the_gateways_invalid_transaction_id_still_rejects_the_orders(emulator: SmallcaseEmulator, harness: Harness) -> None:
    order = harness.buy("ITC", 1)
    await until(lambda: harness.order(order).venue_order_id is not None)
    ghost = msgspec.structs.replace(
        harness.order(order), client_order_id="ghost-1", venue_order_id=f"TRX_{'0' * 32}:ITC:BUY", status=S.SUBMITTED,
    )

    report = await bounded(harness.venue.order_status(ghost))

    assert report is not None and (report.status, report.reason) == (S.REJECTED, "invalid_transactionId")


async def test_one_transaction_that_cannot_be_read_does_not_hold_up_the_others(real_emulator: SmallcaseEmulator) -> None:
    async with venue_on(real_emulator) as h:
        stuck = h.buy("SBIN", 1)
        stuck_tx = await placed(h, real_emulator, stuck)
        other = h.buy("ITC", 1)
        other_tx = await placed(h, real_emulator, other)
        real_emulator.broken[stuck_tx.id] = 500  # its record is broken at the gateway

        real_emulator.user_step(other_tx)
        (done,) = await bounded(h.settled(other))

        poller = h.venue.poller
        assert poller is not None
        await until(lambda: poller.failures > 0)  # its reads fail; they are logged, and retried next round
        assert h.order(stuck).status is S.SUBMITTED
    assert (done.status, done.filled_qty) == (S.COMPLETED, 1)


async def test_order_details_that_lag_the_status_are_read_again_before_anything_ends(real_emulator: SmallcaseEmulator) -> None:
    real_emulator.gateway.order_details_lag = 2  # the first two reads after completion list no batch
    async with venue_on(real_emulator) as h:
        order = h.buy("HDFCBANK", 2)
        real_emulator.user_step(await placed(h, real_emulator, order))
        (done,) = await bounded(h.settled(order))

    assert (done.status, done.filled_qty, done.reason) == (S.COMPLETED, 2, None)


async def test_an_order_no_batch_lists_ends_after_a_few_reads(real_emulator: SmallcaseEmulator) -> None:
    real_emulator.gateway.order_details_lag = 1000
    async with venue_on(real_emulator, unlisted_polls=2) as h:
        order = h.buy("HDFCBANK", 2)
        real_emulator.user_step(await placed(h, real_emulator, order))
        with structlog.testing.capture_logs() as logs:
            (done,) = await bounded(h.settled(order))

    assert (done.status, done.reason) == (S.REJECTED, "not in the transaction's order batches (batch none)")
    assert any(r["event"].startswith("transaction completed without listing these orders") for r in logs)


async def test_a_tradingsymbol_with_a_series_suffix_matches_its_order(real_emulator: SmallcaseEmulator) -> None:
    real_emulator.gateway.tradingsymbol_suffix = "-EQ"  # the batches say SBIN-EQ, TCS-EQ
    async with venue_on(real_emulator) as h:
        orders = h.buy("SBIN", 2), h.buy("TCS", 1)
        tx = await placed(h, real_emulator, orders[0])
        real_emulator.user_step(tx)
        done = await bounded(h.settled(*orders))

    assert sorted(o.tradingsymbol for o in tx.batches[0].orders) == ["SBIN-EQ", "TCS-EQ"]
    assert [(o.status, o.filled_qty) for o in done] == [(S.COMPLETED, 2), (S.COMPLETED, 1)]


async def test_progress_never_goes_down_and_an_unmatched_batch_order_is_logged(real_emulator: SmallcaseEmulator) -> None:
    """A PROCESSING postback fills 2 of 5; the COMPLETED one then lists the order REJECTED with
    nothing filled (a broker's inconsistent listing) and an order of another ticker."""
    async with venue_on(real_emulator, postback={"enabled": True}) as h:
        order = h.buy("SBIN", 5)
        tx = await placed(h, real_emulator, order)
        assert h.venue.receiver is not None
        url = h.venue.receiver.url

        def sbin(filled: int, status: str) -> w.BatchOrder:
            return w.BatchOrder(tradingsymbol="SBIN", transactionType="BUY", quantity=Decimal(5),
                                filledQuantity=Decimal(filled), averagePrice=Decimal("812.40") if filled else Decimal(0), status=status)

        stray = w.BatchOrder(tradingsymbol="LT", transactionType="BUY", quantity=Decimal(1), status="REJECTED")
        first = w.Postback(transactionId=tx.id, status="PROCESSING", timestamp=iso(real_emulator.clock.now_ns() - 10**9),
                           orderBatches=[w.OrderBatch(batchId="B1", status="PARTIALLYFILLED", orders=[sbin(2, "PARTIAL")])])
        last = w.Postback(transactionId=tx.id, status="COMPLETED", timestamp=iso(real_emulator.clock.now_ns()),
                          orderBatches=[w.OrderBatch(batchId="B1", status="ERROR", orders=[sbin(0, "REJECTED"), stray])])

        assert await bounded(deliver(real_emulator, url, first)) == 200
        await until(lambda: h.order(order).filled_qty == 2)
        assert h.order(order).status is S.UPDATED
        with structlog.testing.capture_logs() as logs:
            assert await bounded(deliver(real_emulator, url, last)) == 200
        (done,) = await bounded(h.settled(order))

    assert (done.status, done.filled_qty) == (S.CANCELLED, 2)
    (warning,) = [r for r in logs if r["event"] == "a batch order matches no order of the transaction"]
    assert (warning["ticker"], warning["side"], warning["log_level"]) == ("LT", "BUY", "warning")


async def deliver(emulator: SmallcaseEmulator, url: str, payload: w.Postback) -> int:
    """POST a postback signed as the emulator signs them."""
    body, headers = emulator.signed(w.encode(payload))
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as resp:
        return resp.status


async def test_an_unknown_status_word_is_counted_and_the_transaction_read_again_until_it_completes(real_emulator: SmallcaseEmulator) -> None:
    async with venue_on(real_emulator, postback={"enabled": True}) as h:
        order = h.buy("SBIN", 2)
        tx = await placed(h, real_emulator, order)
        assert h.venue.receiver is not None
        odd = w.BatchOrder(tradingsymbol="SBIN", transactionType="BUY", quantity=Decimal(2), status="QUEUED")
        payload = w.Postback(transactionId=tx.id, status="PROCESSING", timestamp=iso(real_emulator.clock.now_ns()),
                             orderBatches=[w.OrderBatch(batchId="B1", status="UNFILLED", orders=[odd])])

        assert await bounded(deliver(real_emulator, h.venue.receiver.url, payload)) == 200
        await polled(h)  # still followed: the poller asks again
        assert h.venue.unknown_statuses == {"QUEUED": 1}
        assert h.order(order).status is S.SUBMITTED
        real_emulator.user_step(tx)
        (done,) = await bounded(h.settled(order))

    assert (done.status, done.filled_qty) == (S.COMPLETED, 2)
