"""The venue behind a real order manager, against the emulator: baskets become transactions, the
statuses and fills come back, and transactions that nobody completes expire."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import aiohttp
import structlog

from adapters.simulation.exchange import EmulatorClock
from adapters.smallcase.emulator import SmallcaseEmulator
from adapters.smallcase.parsing import parse_venue_order_id
from engine.events import OrderStatus, OrderType, Side
from engine.venue import jwt
from tests.helpers import EmulatorTime

from .conftest import (
    SATURDAY_NS,
    SEED_SECRET,
    Harness,
    bounded,
    leprechaun_holdings,
    start_venue,
    started,
    until,
    venue_on,
)

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


async def test_the_ack_is_submitted_and_stays_so_while_nobody_has_used_the_transaction(real_emulator: SmallcaseEmulator) -> None:
    async with venue_on(real_emulator) as h:
        order = h.buy("SBIN", 4)
        await until(lambda: h.order(order).venue_order_id is not None)
        assert h.venue.poller is not None
        poller = h.venue.poller.poller
        rounds = poller.requests + 3
        await until(lambda: poller.requests >= rounds)  # INITIALIZED, read three more times

        report = await bounded(h.venue.order_status(h.order(order)))

        assert h.order(order).status is S.SUBMITTED and [u.order.status for u in h.updates][-1] is S.SUBMITTED
        assert report is not None and (report.status, report.venue_order_id) == (S.SUBMITTED, h.order(order).venue_order_id)


async def test_only_a_repeated_ticker_and_side_goes_to_a_second_transaction(emulator: SmallcaseEmulator, harness: Harness) -> None:
    first, again, rest = harness.buy("ITC", 5), harness.buy("ITC", 2), harness.buy("TCS", 1)

    await bounded(harness.settled(first, again, rest))

    txid = [parse_venue_order_id(harness.order(o).venue_order_id or "")[0] for o in (first, again, rest)]
    assert txid[0] == txid[2] != txid[1]  # the rest of the rebalance stays with the first
    overflow = emulator.gateway.transactions[txid[1]]
    assert [(s.ticker, s.quantity) for s in overflow.securities] == [("ITC", 2)]
    assert all(harness.order(o).status is S.COMPLETED for o in (first, again, rest))


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


async def test_a_lost_create_answer_leaves_the_transaction_unused_and_the_engine_agrees_with_the_account(emulator: SmallcaseEmulator) -> None:
    """The adapter never learned the transactionId, so it never opened its SDK link: nobody uses it."""
    emulator.faults.lose_write_responses = 1
    async with venue_on(emulator, auth_id="leprechaun") as h:
        lost = h.buy("SBIN", 2)
        (rejected,) = await bounded(h.settled(lost))
        later = h.buy("SBIN", 1)  # its answer arrives: its link is opened and the virtual user fills it
        (filled,) = await bounded(h.settled(later))
        position = h.manager.portfolio.position("sim:NSE:SBIN").qty

    assert rejected.status is S.REJECTED and "not received by the venue" in (rejected.reason or "")
    assert filled.status is S.COMPLETED
    assert position == leprechaun_holdings(emulator, "leprechaun")["SBIN"] == 1
    first = next(iter(emulator.gateway.transactions.values()))
    assert first.status == "INITIALIZED" and not first.opened  # created, never used: it dies unused


async def test_a_gateway_failure_while_restarting_keeps_the_order_submitted_and_it_fills_later(real_emulator: SmallcaseEmulator, tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    real_emulator.pause_at = "USED"
    async with venue_on(real_emulator, journal_path=journal) as before:
        order = before.buy("SBIN", 2)
        await until(lambda: before.order(order).venue_order_id is not None)
        (tx,) = real_emulator.gateway.transactions.values()
        real_emulator.user_step(tx)  # the user has begun, not finished, when the engine stops
    vid = before.order(order).venue_order_id
    real_emulator.broken[tx.id] = 503  # the gateway fails every read of it while the engine restarts

    async with venue_on(real_emulator, journal_path=journal, read_retries=1, idle_poll_interval_s=0.5) as after:
        assert after.order(order).status is S.SUBMITTED  # reconciled without a verdict
        report = await bounded(after.venue.order_status(after.order(order)))
        assert report is not None and (report.status, report.venue_order_id) == (S.SUBMITTED, vid)

        del real_emulator.broken[tx.id]
        assert real_emulator.resume(tx) is tx and tx.status == "COMPLETED"
        (done,) = await bounded(after.settled(order))
        position = after.manager.portfolio.position("sim:NSE:SBIN").qty

    assert (done.status, done.filled_qty) == (S.COMPLETED, 2)
    assert position == leprechaun_holdings(real_emulator, "leprechaun")["SBIN"] == 2


async def test_auth_tokens_live_on_wall_clock_time_when_the_gateway_is_not_emulated() -> None:
    """A live run whose `start:` is a year ago: its engine clock is a year behind the gateway's."""
    gateway = await started(SmallcaseEmulator(seed=12, secret=SEED_SECRET))  # the gateway's clock: wall time
    year_ago = EmulatorTime(EmulatorClock(time.time_ns() - 365 * 86_400 * 10**9))
    try:
        async with venue_on(gateway, clock=year_ago, emulator=False) as h:
            before = time.time()
            order = h.buy("SBIN", 1)
            await until(lambda: h.order(order).venue_order_id is not None or not h.order(order).is_open)
            assert h.venue.client is not None
            exp = jwt.decode(h.venue.client.auth.token(), gateway.secret)["exp"]
            after = time.time()
            assert h.order(order).status is S.SUBMITTED, h.order(order).reason
    finally:
        await bounded(gateway.stop())

    assert int(before + 120) - 1 <= exp <= after + 120


async def test_a_link_that_cannot_be_made_does_not_reject_a_basket_that_exists(real_emulator: SmallcaseEmulator) -> None:
    async with venue_on(real_emulator) as h:
        h.venue.config.link_template = "{nope}"  # set after loading, where the check cannot see it
        order = h.buy("ITC", 3)
        await until(lambda: h.order(order).venue_order_id is not None or not h.order(order).is_open)

        assert h.order(order).status is S.SUBMITTED
        (tx,) = real_emulator.gateway.transactions.values()
        assert parse_venue_order_id(h.order(order).venue_order_id or "")[0] == tx.id


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
    await until(lambda: len(h.venue._baskets) == 1 and len(h.venue._baskets[0].orders) == 1)
    flushes = list(h.venue._tasks)

    await bounded(h.venue.close())

    assert flushes and all(t.done() for t in flushes)  # awaited, not only cancelled
    await bounded(h.manager.settle())
    assert emulator.gateway.transactions == {}
    assert h.order(order).status is S.SUBMITTED  # never sent: reconciliation settles it next start
    h.journal.close()


async def test_closing_takes_a_last_look_so_a_completion_just_before_the_stop_is_not_left_for_the_next_run(
    real_emulator: SmallcaseEmulator,
) -> None:
    h = await start_venue(real_emulator)
    try:
        order = h.buy("SBIN", 2)
        await until(lambda: h.order(order).venue_order_id is not None)
        assert h.venue.poller is not None
        await bounded(h.venue.poller.stop())  # no poll from now on: only the last look can see it
        (tx,) = real_emulator.gateway.transactions.values()
        real_emulator.user_step(tx)
        assert tx.status == "COMPLETED" and h.order(order).status is S.SUBMITTED
    finally:
        await h.close()

    done = h.order(order)
    assert (done.status, done.filled_qty) == (S.COMPLETED, 2)
    assert h.venue.sync.working == set()
