"""The order manager through its public API: submit / cancel / modify, and what venues report
(on_order_report / on_fill). A scripted venue gives exact answers; the paper broker is the real path."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.account.risk import RiskLimits
from engine.clock import RealtimeClock, SimulatedClock
from engine.data.bus import Bus
from engine.errors import InvalidOrder, OrderNotFound, VenueUnavailable
from engine.events import (
    Fill,
    Instrument,
    Order,
    OrderReport,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Pending,
    Side,
)
from engine.orders.ids import ClientOrderIds
from engine.orders.journal import Journal
from engine.orders.table import can_transition
from tests.engine._order_fixtures import (
    PAPER_INST,
    SIM_INST,
    START_NS,
    TIMEOUT,
    ForwardingSink,
    Parts,
    ScriptedVenue,
    bounded,
    build_parts,
    fill_for,
    journal_path,
    make_paper_broker,
    quote,
    ready_parts,
    report_for,
    settle,
    submit_limit,
)

S = OrderStatus
D = Decimal


async def placed_order(qty: str = "1", price: str = "100", **kw: Any) -> tuple[Parts, ScriptedVenue, Order]:
    """A limit buy the scripted venue has acknowledged (status placed)."""
    parts, venue = await ready_parts(**kw)
    order = submit_limit(parts, qty=qty, price=price)
    await settle(parts)
    order = parts.manager.orders[order.client_order_id]
    assert order.status is S.PLACED
    return parts, venue, order


async def in_flight_order(qty: str = "1") -> tuple[Parts, ScriptedVenue, Order]:
    """A limit buy sent to the venue whose placement is not answered yet (status submitted)."""
    parts, venue = await ready_parts()
    venue.place_gate = asyncio.Event()
    order = submit_limit(parts, qty=qty)
    for _ in range(100):  # bounded: the send task needs a couple of loop turns
        if venue.count("place"):
            break
        await asyncio.sleep(0)
    order = parts.manager.orders[order.client_order_id]
    assert order.status is S.SUBMITTED
    return parts, venue, order


def last_journalled(parts: Parts, coid: str) -> Order:
    return parts.journal.load().orders[coid]


# --- submission ------------------------------------------------------------------------------


async def test_submit_returns_new_then_the_ack_places_the_order_and_teaches_the_venue_id() -> None:
    parts, venue = await ready_parts()
    order = submit_limit(parts)
    assert order.status is S.NEW
    assert parts.manager.stats.submitted == 1
    await settle(parts)
    current = parts.manager.orders[order.client_order_id]
    assert current.status is S.PLACED
    assert current.venue_order_id == f"v-{order.client_order_id}"
    assert venue.calls == [("place", order.client_order_id)]
    assert [(u.previous, u.order.status) for u in parts.updates] == [
        (None, S.NEW),
        (S.NEW, S.SUBMITTED),
        (S.SUBMITTED, S.PLACED),
    ]
    assert parts.manager.open_orders() == [current]


async def test_venue_refusing_a_placement_rejects_the_order_with_the_venue_reason() -> None:
    parts, venue = await ready_parts()
    venue.place_result = InvalidOrder("sim", "price out of band", code="E42")
    order = submit_limit(parts)
    await settle(parts)
    current = parts.manager.orders[order.client_order_id]
    assert current.status is S.REJECTED
    assert current.reason is not None and "price out of band" in current.reason and "E42" in current.reason
    assert venue.count("place") == 1
    assert venue.count("order_status") == 0  # a definite refusal needs no lookup
    assert parts.manager.open_count == 0


async def test_risk_refusal_rejects_with_a_reason_the_strategy_receives() -> None:
    parts, venue = await ready_parts()
    order = submit_limit(parts, qty="0.00005")  # below the lot size of 0.0001
    assert order.status is S.REJECTED
    assert order.reason is not None and "lot size" in order.reason
    assert parts.manager.stats.risk_rejected == 1
    await settle(parts)
    assert venue.calls == []  # never sent
    assert parts.updates[-1].order.status is S.REJECTED
    assert parts.updates[-1].order.reason == order.reason
    assert last_journalled(parts, order.client_order_id).status is S.REJECTED


async def test_risk_limit_refusal_reaches_the_strategy_and_other_strategies_do_not_see_it() -> None:
    parts, venue = await ready_parts(limits=RiskLimits(max_order_value=D(50)))
    other: list[OrderUpdate] = []
    parts.bus.subscribe(OrderUpdate, other.append, keys=["s2"])
    order = submit_limit(parts, qty="1", price="100")
    assert order.status is S.REJECTED
    assert order.reason is not None and "max_order_value" in order.reason
    assert [u.order.status for u in parts.updates] == [S.REJECTED]
    assert other == []


async def test_orders_are_refused_until_the_manager_has_recovered() -> None:
    venue = ScriptedVenue()
    parts = build_parts({venue.name: venue})
    assert parts.manager.ready is False
    order = submit_limit(parts)
    assert order.status is S.REJECTED
    assert order.reason is not None and "not ready" in order.reason
    await bounded(parts.manager.recover())
    assert parts.manager.ready is True
    order = submit_limit(parts)
    assert order.status is S.NEW
    await settle(parts)
    assert venue.count("place") == 1


# --- placement outcome unknown -----------------------------------------------------------------


async def test_unknown_placement_outcome_is_looked_up_not_resent_and_adopted_when_the_venue_has_it() -> None:
    parts, venue = await ready_parts()
    venue.place_result = VenueUnavailable("sim", "gateway timeout", http_status=504)
    venue.status_result = lambda o: report_for(o, S.PLACED, venue_order_id="v-found")
    order = submit_limit(parts)
    await settle(parts)
    current = parts.manager.orders[order.client_order_id]
    assert venue.count("place") == 1
    assert venue.count("order_status") == 1
    assert current.status is S.PLACED
    assert current.venue_order_id == "v-found"
    # the adopted order's venue id routes later fills that carry only the venue id
    parts.manager.on_fill(fill_for(current, "x1", "1", by_client_id=False, venue_order_id="v-found"))
    assert parts.manager.orders[order.client_order_id].status is S.COMPLETED


async def test_unknown_placement_outcome_is_rejected_when_the_venue_never_saw_the_order() -> None:
    parts, venue = await ready_parts()
    venue.place_result = VenueUnavailable("sim", "connection reset")
    venue.status_result = None
    order = submit_limit(parts)
    await settle(parts)
    current = parts.manager.orders[order.client_order_id]
    assert venue.count("place") == 1
    assert venue.count("order_status") == 1
    assert current.status is S.REJECTED
    assert current.reason is not None and "not received by the venue" in current.reason


async def test_unknown_placement_outcome_from_a_broken_connection_is_also_looked_up_once() -> None:
    parts, venue = await ready_parts()
    venue.place_result = ConnectionResetError("peer reset")
    venue.status_result = lambda o: report_for(o, S.UPDATED, venue_order_id="v-9")
    order = submit_limit(parts)
    await settle(parts)
    assert venue.count("place") == 1
    assert parts.manager.orders[order.client_order_id].status is S.UPDATED


# --- reports: refused and stale transitions ----------------------------------------------------


@pytest.mark.parametrize(
    ("reach", "refused"),
    [
        (S.COMPLETED, S.CANCELLED),
        (S.COMPLETED, S.EXPIRED),
        (S.CANCELLED, S.COMPLETED),
        (S.EXPIRED, S.REJECTED),
        (S.UPDATED, S.REJECTED),  # something traded: it can be cancelled, not rejected
    ],
    ids=lambda s: s.value,
)
async def test_a_report_the_table_refuses_is_counted_and_not_applied(
    reach: OrderStatus, refused: OrderStatus
) -> None:
    parts, venue, order = await placed_order()
    manager = parts.manager
    coid = order.client_order_id
    if reach is not S.PLACED:
        manager.on_order_report(report_for(order, reach))
    before = manager.orders[coid]
    assert before.status is reach
    published = len(parts.updates)
    written = parts.journal.written
    manager.on_order_report(report_for(order, refused, reason="late news"))
    after = manager.orders[coid]
    assert after == before
    assert after.status is reach
    assert manager.stats.refused_transitions == 1
    assert len(parts.updates) == published  # nothing announced
    assert parts.journal.written == written  # nothing journalled as if it happened
    assert last_journalled(parts, coid).status is reach


async def test_a_placed_report_after_fills_is_stale_and_does_not_move_the_status_back() -> None:
    parts, venue, order = await in_flight_order(qty="2")
    manager = parts.manager
    coid = order.client_order_id
    manager.on_fill(fill_for(order, "f1", "1"))
    assert manager.orders[coid].status is S.UPDATED
    assert venue.place_gate is not None
    venue.place_gate.set()  # now the placement ack (placed) arrives, after the fill
    await settle(parts)
    current = manager.orders[coid]
    assert current.status is S.UPDATED
    assert current.filled_qty == D(1)
    assert current.venue_order_id == f"v-{coid}"  # the stale ack still taught the venue id
    assert manager.stats.stale_reports == 1
    assert manager.stats.refused_transitions == 0


async def test_a_placed_poll_on_a_cancelled_order_is_stale_and_keeps_it_cancelled() -> None:
    parts, venue, order = await placed_order()
    manager = parts.manager
    manager.on_order_report(report_for(order, S.CANCELLED))
    manager.on_order_report(report_for(order, S.PLACED))
    assert manager.orders[order.client_order_id].status is S.CANCELLED
    assert manager.stats.stale_reports == 1


async def test_filled_qty_comes_from_fills_alone_not_from_what_reports_claim() -> None:
    """Fills are facts; a report's filled_qty is the venue's summary and moves nothing, neither
    down (a lagging poll) nor up (fills not seen yet: reconciliation fetches those)."""
    parts, venue, order = await placed_order(qty="3")
    manager = parts.manager
    manager.on_fill(fill_for(order, "f1", "2"))
    manager.on_order_report(report_for(order, S.UPDATED, filled_qty=D(0)))
    manager.on_order_report(report_for(order, S.UPDATED, filled_qty=D(1)))
    assert manager.orders[order.client_order_id].filled_qty == D(2)
    manager.on_order_report(report_for(order, S.UPDATED, filled_qty=D(3), avg_price=D(99)))
    current = manager.orders[order.client_order_id]
    assert current.filled_qty == D(2) and current.avg_price == D(100)


async def test_a_repeated_report_changes_nothing_and_is_not_journalled() -> None:
    parts, venue, order = await placed_order()
    written = parts.journal.written
    published = len(parts.updates)
    parts.manager.on_order_report(report_for(order, S.PLACED, venue_order_id=order.venue_order_id))
    assert parts.journal.written == written
    assert len(parts.updates) == published


# --- fills ----------------------------------------------------------------------------------


async def test_a_duplicated_fill_id_is_ignored() -> None:
    parts, venue, order = await placed_order(qty="3")
    manager = parts.manager
    fill = fill_for(order, "f1", "1")
    manager.on_fill(fill)
    manager.on_fill(fill)
    manager.on_fill(fill_for(order, "f1", "1", price="101"))  # same venue fill id, other body
    current = manager.orders[order.client_order_id]
    assert current.filled_qty == D(1)
    assert current.status is S.UPDATED
    assert manager.stats.duplicate_fills == 2
    assert manager.stats.fills == 1
    assert parts.portfolio.position(SIM_INST.id).qty == D(1)
    assert len(parts.fills) == 1
    assert len(parts.journal.load().fills) == 1


async def test_fills_out_of_order_all_count_and_reaching_qty_means_completed() -> None:
    parts, venue, order = await placed_order(qty="3")
    manager = parts.manager
    coid = order.client_order_id
    fills = [
        fill_for(order, "f3", "1", price="103", ts_event=START_NS + 3),
        fill_for(order, "f1", "1", price="101", ts_event=START_NS + 1),
        fill_for(order, "f2", "1", price="102", ts_event=START_NS + 2),
    ]
    seen = []
    for fill in fills:
        manager.on_fill(fill)
        seen.append((manager.orders[coid].status, manager.orders[coid].filled_qty))
    assert seen == [(S.UPDATED, D(1)), (S.UPDATED, D(2)), (S.COMPLETED, D(3))]
    assert manager.orders[coid].avg_price == D(102)
    assert manager.open_count == 0


async def test_a_fill_before_the_placement_ack_is_parked_and_applied_when_the_ack_arrives() -> None:
    parts, venue, order = await in_flight_order(qty="2")
    manager = parts.manager
    coid = order.client_order_id
    early = fill_for(order, "f1", "2", by_client_id=False, venue_order_id=f"v-{coid}")
    manager.on_fill(early)  # only the venue id, which the manager has not learned yet
    assert manager.stats.orphans == 1
    assert manager.orders[coid].filled_qty == 0
    assert manager.orders[coid].status is S.SUBMITTED
    assert venue.place_gate is not None
    venue.place_gate.set()
    await settle(parts)
    current = manager.orders[coid]
    assert current.filled_qty == D(2)
    assert current.status is S.COMPLETED
    assert manager.stats.fills == 1
    journalled = parts.journal.load()
    assert [f.fill_id for f in journalled.fills] == ["f1"]
    assert journalled.fills[0].client_order_id == coid
    assert journalled.orders[coid] == current


async def test_a_report_before_the_ack_is_parked_and_applied_after_it() -> None:
    parts, venue, order = await in_flight_order(qty="2")
    manager = parts.manager
    coid = order.client_order_id
    manager.on_order_report(
        OrderReport(venue=order.venue, venue_order_id=f"v-{coid}", status=S.CANCELLED, reason="self-trade")
    )
    assert manager.orders[coid].status is S.SUBMITTED
    assert venue.place_gate is not None
    venue.place_gate.set()
    await settle(parts)
    assert manager.orders[coid].status is S.CANCELLED
    assert manager.orders[coid].reason == "self-trade"


async def test_a_fill_after_a_cancel_is_applied_and_the_order_stays_cancelled() -> None:
    parts, venue, order = await placed_order(qty="3")
    manager = parts.manager
    coid = order.client_order_id
    manager.on_fill(fill_for(order, "f1", "1", price="100"))
    manager.on_order_report(report_for(order, S.CANCELLED))
    assert manager.orders[coid].status is S.CANCELLED
    manager.on_fill(fill_for(order, "f2", "1", price="104"))
    current = manager.orders[coid]
    assert current.status is S.CANCELLED
    assert current.filled_qty == D(2)
    assert current.avg_price == D(102)
    assert parts.portfolio.position(SIM_INST.id).qty == D(2)
    assert [u.order.filled_qty for u in parts.updates if u.order.status is S.CANCELLED] == [D(1), D(2)]


async def test_an_overfill_is_recorded_without_raising() -> None:
    parts, venue, order = await placed_order(qty="2")
    manager = parts.manager
    coid = order.client_order_id
    manager.on_fill(fill_for(order, "f1", "2"))
    assert manager.orders[coid].status is S.COMPLETED
    manager.on_fill(fill_for(order, "f2", "1"))
    current = manager.orders[coid]
    assert current.filled_qty == D(3)
    assert current.status is S.COMPLETED
    assert manager.stats.overfills == 1
    assert current.reason is not None and "overfill" in current.reason
    assert last_journalled(parts, coid) == current


async def test_an_overfill_in_one_fill_completes_the_order_and_is_counted() -> None:
    parts, venue, order = await placed_order(qty="1")
    parts.manager.on_fill(fill_for(order, "f1", "1.5"))
    current = parts.manager.orders[order.client_order_id]
    assert current.status is S.COMPLETED
    assert current.filled_qty == D("1.5")
    assert parts.manager.stats.overfills == 1


async def test_avg_price_is_the_exact_quantity_weighted_average() -> None:
    parts, venue, order = await placed_order(qty="6")
    manager = parts.manager
    coid = order.client_order_id
    legs = [("1", "1"), ("1", "1"), ("1", "2"), ("3", "2")]
    for i, (qty, price) in enumerate(legs):
        manager.on_fill(fill_for(order, f"f{i}", qty, price))
    value = sum((D(q) * D(p) for q, p in legs), D(0))
    current = manager.orders[coid]
    assert current.filled_qty == D(6)
    assert current.avg_price == value / D(6)  # 10/6, one correctly rounded division
    assert current.status is S.COMPLETED


async def test_avg_price_keeps_decimal_exactness_for_decimal_prices() -> None:
    parts, venue, order = await placed_order(qty="0.3", price="100")
    manager = parts.manager
    manager.on_fill(fill_for(order, "a", "0.1", price="100.10"))
    manager.on_fill(fill_for(order, "b", "0.2", price="100.25"))
    current = manager.orders[order.client_order_id]
    assert current.avg_price == D("100.20")
    assert isinstance(current.avg_price, Decimal)


@pytest.mark.parametrize("qty", ["0", "-1"])
async def test_a_fill_without_a_positive_quantity_is_not_applied(qty: str) -> None:
    parts, venue, order = await placed_order(qty="2")
    manager = parts.manager
    coid = order.client_order_id
    manager.on_fill(fill_for(order, "bad", qty))
    current = manager.orders[coid]
    assert current.filled_qty == D(0)
    assert current.status is S.PLACED
    assert current.avg_price is None
    assert manager.stats.fills == 0
    assert manager.stats.bad_fills == 1
    assert parts.portfolio.position(SIM_INST.id).qty == 0


async def test_fees_accumulate_over_fills() -> None:
    parts, venue, order = await placed_order(qty="2")
    parts.manager.on_fill(fill_for(order, "f1", "1", fee="0.05"))
    parts.manager.on_fill(fill_for(order, "f2", "1", fee="0.07"))
    assert parts.manager.orders[order.client_order_id].fees == D("0.12")


async def test_fills_reach_the_strategy_with_its_id_and_the_portfolio() -> None:
    parts, venue, order = await placed_order(qty="2")
    parts.manager.on_fill(fill_for(order, "f1", "2", price="100"))
    assert len(parts.fills) == 1
    assert parts.fills[0].strategy_id == "s1"
    assert parts.fills[0].client_order_id == order.client_order_id
    assert parts.portfolio.position(SIM_INST.id, "s1").qty == D(2)


# --- cancel and modify: pending flags beside the status ------------------------------------


async def test_pending_cancel_is_a_flag_beside_updated_and_is_cleared_when_the_venue_answers() -> None:
    parts, venue, order = await placed_order(qty="3")
    manager = parts.manager
    coid = order.client_order_id
    manager.on_fill(fill_for(order, "f1", "1"))
    venue.cancel_result = lambda o: report_for(o, S.CANCELLED)
    flagged = manager.cancel(coid)
    assert flagged is not None
    assert flagged.status is S.UPDATED
    assert flagged.pending is Pending.CANCEL
    assert manager.orders[coid] == flagged
    assert last_journalled(parts, coid).pending is Pending.CANCEL
    assert manager.cancel(coid) == flagged  # a second cancel while one is pending is not sent
    await settle(parts)
    current = manager.orders[coid]
    assert venue.count("cancel") == 1
    assert current.status is S.CANCELLED
    assert current.pending is None
    assert current.filled_qty == D(1)


async def test_a_cancel_the_venue_does_not_confirm_clears_the_pending_flag() -> None:
    parts, venue, order = await placed_order()
    venue.cancel_result = lambda o: report_for(o, S.PLACED)
    parts.manager.cancel(order.client_order_id)
    await settle(parts)
    current = parts.manager.orders[order.client_order_id]
    assert current.status is S.PLACED
    assert current.pending is None
    assert current.reason is not None and "not confirmed" in current.reason


async def test_a_cancel_the_venue_refuses_clears_the_pending_flag_with_the_reason() -> None:
    parts, venue, order = await placed_order()
    venue.cancel_result = InvalidOrder("sim", "too late to cancel")
    parts.manager.cancel(order.client_order_id)
    await settle(parts)
    current = parts.manager.orders[order.client_order_id]
    assert current.status is S.PLACED
    assert current.pending is None
    assert current.reason is not None and "too late to cancel" in current.reason
    # the strategy may ask again
    venue.cancel_result = lambda o: report_for(o, S.CANCELLED)
    parts.manager.cancel(order.client_order_id)
    await settle(parts)
    assert parts.manager.orders[order.client_order_id].status is S.CANCELLED


async def test_a_cancel_for_an_order_the_venue_does_not_know_does_not_stay_pending_forever() -> None:
    parts, venue, order = await placed_order()
    coid = order.client_order_id
    venue.cancel_result = OrderNotFound("sim", "no such order")
    venue.status_result = None
    parts.manager.cancel(coid)
    await settle(parts)
    assert venue.count("order_status") == 1
    current = parts.manager.orders[coid]
    assert current.pending is None
    assert current.reason is not None and "cancel" in current.reason
    # and the strategy can ask again
    assert parts.manager.cancel(coid).pending is Pending.CANCEL  # type: ignore[union-attr]
    await settle(parts)
    assert venue.count("cancel") == 2


async def test_a_cancel_answered_by_a_completed_status_completes_and_clears_pending() -> None:
    parts, venue, order = await placed_order()
    venue.cancel_result = OrderNotFound("sim", "no such open order")
    venue.status_result = lambda o: report_for(o, S.COMPLETED)
    parts.manager.cancel(order.client_order_id)
    await settle(parts)
    current = parts.manager.orders[order.client_order_id]
    assert current.status is S.COMPLETED
    assert current.pending is None


async def test_a_cancel_asked_before_the_ack_is_sent_once_the_order_is_placed() -> None:
    parts, venue = await ready_parts()
    venue.place_gate = asyncio.Event()
    venue.cancel_result = lambda o: report_for(o, S.CANCELLED)
    order = submit_limit(parts)
    flagged = parts.manager.cancel(order.client_order_id)  # still new: nothing sent yet
    assert flagged is not None and flagged.status is S.NEW and flagged.pending is Pending.CANCEL
    assert venue.count("cancel") == 0
    venue.place_gate.set()
    await settle(parts)
    assert [name for name, _ in venue.calls] == ["place", "cancel"]
    current = parts.manager.orders[order.client_order_id]
    assert current.status is S.CANCELLED
    assert current.pending is None


async def test_cancel_of_a_finished_or_unknown_order_sends_nothing() -> None:
    parts, venue, order = await placed_order()
    parts.manager.on_fill(fill_for(order, "f1", "1"))
    assert parts.manager.cancel(order.client_order_id).status is S.COMPLETED  # type: ignore[union-attr]
    assert parts.manager.cancel("nosuchorder") is None
    await settle(parts)
    assert venue.count("cancel") == 0


async def test_modify_sets_a_pending_flag_and_applies_the_venue_answer() -> None:
    parts, venue, order = await placed_order(qty="2", price="100")
    coid = order.client_order_id
    venue.modify_result = lambda o: report_for(o, S.PLACED, price=D(99), qty=D(3))
    flagged = parts.manager.modify(coid, price=D(99), qty=D(3))
    assert flagged is not None and flagged.pending is Pending.MODIFY and flagged.status is S.PLACED
    assert flagged.price == D(100)  # nothing changes until the venue says so
    await settle(parts)
    current = parts.manager.orders[coid]
    assert current.pending is None
    assert current.price == D(99)
    assert current.qty == D(3)
    assert venue.count("modify") == 1


async def test_a_refused_modify_does_not_clear_a_cancel_asked_meanwhile() -> None:
    parts, venue, order = await placed_order()
    coid = order.client_order_id
    modify_gate = asyncio.Event()
    cancel_gate = asyncio.Event()

    async def slow_modify(o: Order, **kw: Any) -> OrderReport | None:
        venue.calls.append(("modify", o.client_order_id))
        await asyncio.wait_for(modify_gate.wait(), TIMEOUT)
        raise InvalidOrder("sim", "price band")

    async def slow_cancel(o: Order) -> OrderReport | None:
        venue.calls.append(("cancel", o.client_order_id))
        await asyncio.wait_for(cancel_gate.wait(), TIMEOUT)
        return report_for(o, S.CANCELLED)

    venue.modify = slow_modify  # type: ignore[method-assign]
    venue.cancel = slow_cancel  # type: ignore[method-assign]
    parts.manager.modify(coid, price=D(99))
    for _ in range(100):
        if venue.count("modify"):
            break
        await asyncio.sleep(0)
    parts.manager.cancel(coid)
    assert parts.manager.orders[coid].pending is Pending.CANCEL
    modify_gate.set()  # the modify is refused while the cancel is in flight
    for _ in range(10):  # a few loop turns: the modify task handles the refusal and ends
        await asyncio.sleep(0)
    assert parts.manager.orders[coid].reason is not None
    assert "modify refused" in parts.manager.orders[coid].reason  # type: ignore[operator]
    assert parts.manager.orders[coid].pending is Pending.CANCEL
    cancel_gate.set()
    await settle(parts)
    assert parts.manager.orders[coid].status is S.CANCELLED
    assert parts.manager.orders[coid].pending is None


# --- journal before publish, and state before announcements -------------------------------


async def test_every_order_event_is_journalled_before_it_is_published() -> None:
    parts, venue = await ready_parts()
    journal = parts.journal
    checked: list[str] = []

    def on_update(update: OrderUpdate) -> None:
        assert journal.load().orders[update.order.client_order_id] == update.order
        checked.append(update.order.status.value)

    def on_fill(fill: Fill) -> None:
        assert fill.fill_id in {f.fill_id for f in journal.load().fills}
        checked.append("fill")

    parts.bus.subscribe(OrderUpdate, on_update)
    parts.bus.subscribe(Fill, on_fill)
    venue.cancel_result = lambda o: report_for(o, S.CANCELLED)
    order = submit_limit(parts, qty="2")
    await settle(parts)
    parts.manager.on_fill(fill_for(order, "f1", "1"))
    parts.manager.cancel(order.client_order_id)
    await settle(parts)
    parts.manager.on_fill(fill_for(order, "f2", "1"))  # after the cancel
    refused = submit_limit(parts, qty="-1")
    assert refused.status is S.REJECTED
    assert parts.bus.stats.handler_errors == 0
    assert checked == [
        "new", "submitted", "placed", "fill", "updated", "updated", "cancelled", "fill", "cancelled",
        "rejected",
    ]


async def test_a_fill_handler_sees_the_filled_order_and_its_cancel_is_kept_and_journalled() -> None:
    """A strategy reacting to a fill inline (backtests run handlers inside publish) must see the
    order with the fill applied, and what it does must not be overwritten by the fill's snapshot."""
    parts, venue, order = await placed_order(qty="3")
    manager = parts.manager
    coid = order.client_order_id
    seen: list[Order] = []

    def cancel_rest(fill: Fill) -> None:
        seen.append(manager.orders[coid])
        manager.cancel(coid)

    parts.bus.subscribe(Fill, cancel_rest, keys=["s1"])
    venue.cancel_result = None  # the venue answers later, asynchronously
    manager.on_fill(fill_for(order, "f1", "1"))
    assert parts.bus.stats.handler_errors == 0
    assert seen[0].filled_qty == D(1)
    current = manager.orders[coid]
    assert current.filled_qty == D(1)
    assert current.pending is Pending.CANCEL
    assert last_journalled(parts, coid) == current
    assert parts.updates[-1].order == current
    await settle(parts)
    assert venue.count("cancel") == 1


# --- client order ids --------------------------------------------------------------------------


def test_client_order_ids_are_unique_short_and_lowercase_alphanumeric() -> None:
    ids = ClientOrderIds()
    made = [ids.next() for _ in range(50_000)]
    assert len(set(made)) == len(made)
    assert all(re.fullmatch(r"[a-z0-9]{1,20}", coid) for coid in made)
    # another engine started a millisecond later never repeats an id
    first = ClientOrderIds(start_ms=1_700_000_000_000)
    second = ClientOrderIds(start_ms=1_700_000_000_001)
    a = {first.next() for _ in range(2_000)}
    b = {second.next() for _ in range(2_000)}
    assert not a & b


@pytest.mark.parametrize("prefix", ["TB", "tb-", "x" * 12])
def test_client_order_id_prefix_that_would_break_the_id_format_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError):
        ClientOrderIds(prefix=prefix)


async def test_submitted_orders_get_distinct_valid_client_order_ids() -> None:
    parts, venue = await ready_parts()
    coids = [submit_limit(parts).client_order_id for _ in range(30)]
    await settle(parts)
    assert len(set(coids)) == 30
    assert all(re.fullmatch(r"[a-z0-9]{1,20}", c) for c in coids)
    assert sorted(c for _, c in venue.calls) == sorted(coids)


# --- the real path: the paper broker -------------------------------------------------------


async def paper_parts(clock: Any = None) -> tuple[Parts, Any]:
    bus = Bus()
    clock = clock or SimulatedClock(START_NS)
    sink = ForwardingSink()
    broker = make_paper_broker(bus, clock, sink, {"KRW": "1000000", "BTC": "0"})
    parts = build_parts({"paper": broker}, instrument=PAPER_INST, bus=bus, clock=clock)
    sink.target = parts.manager
    await bounded(broker.connect())
    await bounded(parts.manager.recover())
    return parts, broker


def publish_quote(parts: Parts, bid: str, ask: str, bid_size: str, ask_size: str) -> None:
    q = quote(PAPER_INST.id, bid, ask, bid_size, ask_size, parts.clock.now_ns())
    parts.bus.publish(q, q.instrument)


async def test_paper_resting_limit_is_partially_then_fully_filled() -> None:
    parts, broker = await paper_parts()
    publish_quote(parts, "100", "102", "5", "5")
    order = submit_limit(parts, qty="2", price="101", instrument=PAPER_INST)
    await settle(parts)
    coid = order.client_order_id
    assert parts.manager.orders[coid].status is S.PLACED
    publish_quote(parts, "99", "100", "5", "0.5")  # ask reaches the limit: 0.5 fills at 101
    current = parts.manager.orders[coid]
    assert current.status is S.UPDATED
    assert current.filled_qty == D("0.5")
    publish_quote(parts, "99", "101", "5", "4")
    current = parts.manager.orders[coid]
    assert current.status is S.COMPLETED
    assert current.filled_qty == D(2)
    assert current.avg_price == D(101)
    assert parts.portfolio.position(PAPER_INST.id).qty == D(2)
    assert [f.qty for f in parts.fills] == [D("0.5"), D("1.5")]
    assert parts.journal.load().orders[coid] == current
    assert parts.portfolio.balance("paper", "BTC").free == D(2)  # type: ignore[union-attr]


async def test_paper_marketable_order_fills_on_placement_and_the_ack_is_not_a_step_back() -> None:
    parts, broker = await paper_parts(RealtimeClock())
    publish_quote(parts, "100", "101", "5", "5")
    order = parts.manager.submit(
        strategy_id="s1", instrument=PAPER_INST.id, venue="paper", side=Side.BUY,
        qty=D(1), type=OrderType.MARKET,
    )
    await settle(parts)
    current = parts.manager.orders[order.client_order_id]
    assert current.status is S.COMPLETED
    assert current.filled_qty == D(1)
    assert current.avg_price == D(101)
    assert parts.manager.stats.refused_transitions == 0
    statuses = [u.order.status for u in parts.updates]
    assert statuses[:3] == [S.NEW, S.SUBMITTED, S.PLACED]
    assert statuses[-1] is S.COMPLETED
    for earlier, later in zip(statuses, statuses[1:], strict=False):
        assert earlier is later or can_transition(earlier, later)


async def test_paper_cancel_of_a_partly_filled_order_keeps_its_filled_qty() -> None:
    parts, broker = await paper_parts()
    publish_quote(parts, "100", "102", "5", "5")
    order = submit_limit(parts, qty="2", price="101", instrument=PAPER_INST)
    await settle(parts)
    publish_quote(parts, "99", "101", "5", "0.5")
    coid = order.client_order_id
    flagged = parts.manager.cancel(coid)
    assert flagged is not None
    assert (flagged.status, flagged.pending) == (S.UPDATED, Pending.CANCEL)
    await settle(parts)
    current = parts.manager.orders[coid]
    assert current.status is S.CANCELLED
    assert current.pending is None
    assert current.filled_qty == D("0.5")
    assert parts.manager.open_count == 0
    assert parts.portfolio.balance("paper", "KRW").locked == 0  # type: ignore[union-attr]


async def test_paper_refusal_for_insufficient_funds_rejects_with_the_venue_reason() -> None:
    parts, broker = await paper_parts()
    publish_quote(parts, "100", "102", "5", "5")
    parts.risk.limits.check_balance = False  # let the venue be the one that refuses
    order = submit_limit(parts, qty="100000", price="101", instrument=PAPER_INST)
    await settle(parts)
    current = parts.manager.orders[order.client_order_id]
    assert current.status is S.REJECTED
    assert current.reason is not None and "insufficient funds" in current.reason
    assert parts.updates[-1].order.status is S.REJECTED



async def test_a_paper_order_waits_for_the_callers_turn_to_end_then_runs_without_a_task_of_its_own() -> None:
    parts, broker = await paper_parts(RealtimeClock())
    publish_quote(parts, "100", "101", "5", "5")
    order = parts.manager.submit(
        strategy_id="s1", instrument=PAPER_INST.id, venue="paper", side=Side.BUY, qty=D(1), type=OrderType.MARKET,
    )
    assert parts.manager.orders[order.client_order_id].status is S.NEW  # not sent inside the caller
    assert parts.manager.busy and not parts.manager.execution.tasks
    await asyncio.sleep(0)  # one turn of the loop
    assert parts.manager.orders[order.client_order_id].status is S.COMPLETED
    assert not parts.manager.execution.tasks and not parts.manager.busy
    assert order.client_order_id not in parts.manager.book.pinned


async def test_a_paper_order_with_latency_goes_on_as_a_task_and_a_cancel_reaches_it_there() -> None:
    clock = SimulatedClock(START_NS)
    parts, broker = await paper_parts(clock)
    broker._latency_s = 1.0
    publish_quote(parts, "100", "101", "5", "5")
    first = submit_limit(parts, qty="1", price="90", instrument=PAPER_INST)
    parts.manager.execution.run_ready()
    assert len(parts.manager.execution.tasks) == 1  # waiting out its latency on the clock
    clock.advance_to(START_NS + 2_000_000_000)
    await settle(parts)
    assert parts.manager.orders[first.client_order_id].status is S.PLACED
    second = submit_limit(parts, qty="1", price="90", instrument=PAPER_INST)
    parts.manager.execution.run_ready()
    (task,) = parts.manager.execution.tasks
    task.cancel()  # a cancelled request (the engine stopping) ends where it waits
    await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), TIMEOUT)
    assert task.cancelled() and not parts.manager.execution.tasks
    assert second.client_order_id not in parts.manager.book.pinned
    assert parts.manager.orders[second.client_order_id].status is S.SUBMITTED


async def test_the_paper_venue_is_sent_requests_without_a_commit_of_its_own(tmp_path: Path) -> None:
    parts, broker = await paper_parts(RealtimeClock())
    parts.manager.book.journal = journal = Journal(journal_path(tmp_path))
    publish_quote(parts, "100", "101", "5", "5")
    before = journal.commits
    submit_limit(parts, qty="1", price="90", instrument=PAPER_INST)
    parts.manager.execution.run_ready()
    assert journal.commits == before  # its account lives in the process: the turn's group commit covers it
    assert journal.uncommitted
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not journal.uncommitted
    journal.close()


async def test_the_journal_is_committed_before_a_request_reaches_the_venue(tmp_path: Path) -> None:
    parts, venue = await ready_parts(journal=Journal(journal_path(tmp_path)))
    seen_uncommitted: list[bool] = []

    def answer(order: Order) -> OrderReport:
        seen_uncommitted.append(parts.journal.uncommitted)
        return venue.placed(order)

    venue.place_result = answer
    venue.cancel_result = lambda order: (seen_uncommitted.append(parts.journal.uncommitted), report_for(order, S.CANCELLED))[1]
    order = submit_limit(parts)
    assert parts.journal.uncommitted  # written at once, committed later in the turn
    await settle(parts)
    parts.manager.cancel(order.client_order_id)
    await settle(parts)
    assert seen_uncommitted == [False, False]  # place and cancel each saw everything committed
    await asyncio.sleep(0)
    assert not parts.journal.uncommitted  # and nothing waits past the end of a turn
    assert parts.journal.commits >= 2
    parts.journal.close()


async def test_an_order_above_the_freeze_quantity_goes_out_as_lot_multiple_slices() -> None:
    nifty = Instrument(
        id="sim:NFO:NIFTY26NOVFUT", venue="sim", symbol="NFO:NIFTY26NOVFUT", base="NIFTY26NOVFUT",
        quote="INR", exchange="NFO", tick_size=D("0.05"), lot_size=D(65), freeze_qty=D(1800), kind="future",
    )
    parts, venue = await ready_parts(instrument=nifty)
    venue.place_result = lambda order: venue.placed(order)
    first = submit_limit(parts, qty="3900", price="24000", instrument=nifty)
    await settle(parts)
    slices = parts.manager.slices(first.client_order_id)
    assert [o.qty for o in slices] == [D(1755), D(1755), D(390)]  # 1800 rounded down to 27 lots
    assert sum(o.qty for o in slices) == D(3900)
    assert all(o.qty % nifty.lot_size == 0 and o.qty <= nifty.freeze_qty for o in slices)
    assert [o.parent_id for o in slices[1:]] == [first.client_order_id] * 2
    assert venue.count("place") == 3
    assert {o.status for o in slices} == {S.PLACED}


def test_freeze_slices_of_a_quantity_within_the_limit_is_the_quantity() -> None:
    from engine.orders.manager import freeze_slices

    assert freeze_slices(D(1755), D(1800), D(65)) == [D(1755)]
    assert freeze_slices(D(3600), D(1800), D(1)) == [D(1800), D(1800)]


async def test_a_venue_may_reject_an_order_it_had_acknowledged() -> None:
    """Indian brokers acknowledge first (PENDING) and then the exchange or the RMS refuses."""
    parts, venue, order = await placed_order()
    coid = order.client_order_id
    parts.manager.on_order_report(report_for(order, S.REJECTED, reason="RMS: insufficient margin"))
    rejected = parts.manager.orders[coid]
    assert rejected.status is S.REJECTED
    assert rejected.reason == "RMS: insufficient margin"
    assert parts.manager.stats.refused_transitions == 0
    assert parts.updates[-1].previous is S.PLACED


async def test_a_placement_whose_outcome_cannot_be_asked_is_asked_again_until_the_venue_answers() -> None:
    parts, venue = await ready_parts(clock=RealtimeClock(speed=1000.0))  # backoff in milliseconds
    venue.place_result = VenueUnavailable("sim", "connection reset")
    answers = [VenueUnavailable("sim", "down"), VenueUnavailable("sim", "still down")]

    def status(order: Order) -> OrderReport:
        if answers:
            raise answers.pop(0)
        return report_for(order, S.PLACED, venue_order_id="v-late")

    venue.status_result = status
    order = submit_limit(parts)
    await settle(parts)
    current = parts.manager.orders[order.client_order_id]
    assert current.status is S.PLACED and current.venue_order_id == "v-late"
    assert venue.count("place") == 1  # asked three times, sent once
    assert venue.count("order_status") == 3


async def test_a_cancel_the_adapter_fails_on_unexpectedly_frees_the_flag_with_a_reason() -> None:
    parts, venue, order = await placed_order()
    venue.cancel_result = RuntimeError("adapter bug")
    parts.manager.cancel(order.client_order_id)
    await settle(parts)
    current = parts.manager.orders[order.client_order_id]
    assert current.pending is None and current.status is S.PLACED
    assert current.reason is not None and "cancel outcome unknown" in current.reason
    venue.cancel_result = lambda o: report_for(o, S.CANCELLED)
    parts.manager.cancel(order.client_order_id)  # the strategy may ask again
    await settle(parts)
    assert parts.manager.orders[order.client_order_id].status is S.CANCELLED


async def test_a_modify_the_adapter_fails_on_unexpectedly_frees_the_flag_with_a_reason() -> None:
    parts, venue, order = await placed_order()
    venue.modify_result = KeyError("price")
    parts.manager.modify(order.client_order_id, price=D(99))
    await settle(parts)
    current = parts.manager.orders[order.client_order_id]
    assert current.pending is None
    assert current.reason is not None and "modify outcome unknown" in current.reason


async def test_a_cancel_asked_while_the_placement_is_in_flight_goes_out_after_the_answer() -> None:
    parts, venue, order = await in_flight_order()
    venue.cancel_result = lambda o: report_for(o, S.CANCELLED)
    parts.manager.cancel(order.client_order_id)
    await asyncio.sleep(0)
    assert parts.manager.orders[order.client_order_id].status is S.SUBMITTED
    assert venue.count("cancel") == 0  # not before the venue answered the placement
    assert venue.place_gate is not None
    venue.place_gate.set()
    await settle(parts)
    assert [kind for kind, _ in venue.calls if kind in ("place", "cancel")] == ["place", "cancel"]
    assert parts.manager.orders[order.client_order_id].status is S.CANCELLED


def _nifty() -> Instrument:
    return Instrument(
        id="sim:NFO:NIFTY26NOVFUT", venue="sim", symbol="NFO:NIFTY26NOVFUT", base="NIFTY26NOVFUT",
        quote="INR", exchange="NFO", tick_size=D("0.05"), lot_size=D(65), freeze_qty=D(1800), kind="future",
    )


async def test_the_slices_of_a_split_order_are_one_request_to_the_rate_limit() -> None:
    parts, venue = await ready_parts(instrument=_nifty(), limits=RiskLimits(max_orders_per_second=2))
    venue.place_result = lambda order: venue.placed(order)
    first = submit_limit(parts, qty="9750", price="24000", instrument=_nifty())  # 6 slices of 1755 or less
    await settle(parts)
    slices = parts.manager.slices(first.client_order_id)
    assert len(slices) == 6 and {o.status for o in slices} == {S.PLACED}
    second = submit_limit(parts, qty="65", price="24000", instrument=_nifty())
    assert second.status is S.NEW  # the split order used one of the two requests a second


async def test_a_split_order_refused_as_a_whole_sends_no_slice() -> None:
    parts, venue = await ready_parts(instrument=_nifty(), limits=RiskLimits(max_position=D(3000)))
    first = submit_limit(parts, qty="3900", price="24000", instrument=_nifty())
    await settle(parts)
    assert first.status is S.REJECTED and "position would reach 3900" in (first.reason or "")
    assert parts.manager.slices(first.client_order_id) == [first]
    assert venue.count("place") == 0


async def test_a_modify_that_grows_an_order_past_the_position_limit_is_refused() -> None:
    parts, venue, order = await placed_order(qty="5", limits=RiskLimits(max_position=D(8)))
    refused = parts.manager.modify(order.client_order_id, qty=D(9))
    assert refused is not None and refused.pending is None
    assert "position would reach 9" in (refused.reason or "")
    allowed = parts.manager.modify(order.client_order_id, qty=D(8))
    assert allowed is not None and allowed.pending is Pending.MODIFY
