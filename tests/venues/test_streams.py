"""Conformance, the venue's updates arriving badly: a fill after the cancel, a fill told twice,
updates out of order, the socket dropped while fills happened — each fill known once, the order's
state the venue's."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.events import Order
from engine.events import OrderStatus as S
from tests.helpers import until
from tests.venues.conftest import Rig, cases


async def resting(rig: Rig) -> Order:
    order = rig.submit(rig.driver.resting(rig.emulator))
    placed = await rig.reaches(order.client_order_id, S.PLACED)
    assert placed.venue_order_id
    await until(lambda: bool(rig.faults.sockets) or not rig.driver.streams)
    return placed


async def fill(rig: Rig, order: Order, qty: Decimal) -> None:
    """Fill `qty` of a resting order at the venue; with pushes held, until the venue has told it."""
    held = rig.faults.held()
    rig.control.fill_resting(order.venue_order_id or "", qty)
    if rig.faults.hold_pushes:
        await until(lambda: rig.faults.held() > held)


async def all_fills_known(rig: Rig, order: Order) -> None:
    """The engine knows every fill the venue made on `order`, each once."""
    order = rig.order(order.client_order_id)  # as the venue's answers left it (its venue id)
    at_venue = [f for f in rig.fills_at_venue() if f.order_id == rig.control.sim_order_id(order.venue_order_id or "")]
    assert at_venue, "the scenario made no fill"
    await until(lambda: len(rig.fills) == len(at_venue))
    assert sorted(f.qty for f in rig.fills) == sorted(f.qty for f in at_venue)
    assert len({f.fill_id for f in rig.fills}) == len(rig.fills)
    assert rig.order(order.client_order_id).filled_qty == sum((f.qty for f in at_venue), Decimal(0))


@pytest.mark.parametrize("rig", cases("fill_after_cancel"), indirect=True)
async def test_a_fill_told_after_the_cancel_is_applied_to_the_cancelled_order(rig: Rig) -> None:
    order = await resting(rig)
    part = order.qty / 5
    rig.faults.hold_pushes = True  # the fill happens now; the venue tells it only after the cancel
    await fill(rig, order, part)
    rig.manager.cancel(order.client_order_id)
    await rig.reaches(order.client_order_id, S.CANCELLED)
    rig.faults.release_pushes()
    await all_fills_known(rig, order)
    final = rig.order(order.client_order_id)
    assert final.status is S.CANCELLED and final.filled_qty == part


@pytest.mark.parametrize("rig", cases("duplicate_fill"), indirect=True)
async def test_a_fill_told_twice_is_counted_once(rig: Rig) -> None:
    rig.faults.duplicate_pushes = 1000  # every frame about the fill goes out twice
    if rig.driver.rests:
        order = await resting(rig)
        await fill(rig, order, order.qty)
    else:
        order = rig.submit(rig.driver.filling(rig.emulator))
    await rig.reaches(order.client_order_id, S.COMPLETED)
    if rig.driver.streams:
        assert rig.faults.duplicate_pushes < 1000
    await until(lambda: rig.driver.told_twice(rig.emulator))
    await all_fills_known(rig, order)


@pytest.mark.parametrize("rig", cases("out_of_order"), indirect=True)
async def test_updates_told_out_of_order_end_in_the_venues_state(rig: Rig) -> None:
    order = await resting(rig)
    rig.faults.hold_pushes = True
    await fill(rig, order, order.qty / 4)
    await fill(rig, order, order.qty - order.qty / 4)
    assert rig.faults.release_pushes(reverse=True) > 1  # the completion told before the first fill
    await rig.reaches(order.client_order_id, S.COMPLETED)
    await all_fills_known(rig, order)


@pytest.mark.parametrize("rig", cases("ws_drop"), indirect=True)
async def test_fills_missed_while_the_socket_was_down_are_caught_up(rig: Rig) -> None:
    order = await resting(rig)
    rig.faults.hold_pushes = True  # the fill's frames are lost with the connection
    await fill(rig, order, order.qty)
    assert await rig.faults.drop_sockets() >= 1
    rig.faults.hold_pushes = False
    await rig.reaches(order.client_order_id, S.COMPLETED)
    await all_fills_known(rig, order)
    await until(lambda: any(not w.ws.closed for w in rig.faults.sockets))  # resubscribed
