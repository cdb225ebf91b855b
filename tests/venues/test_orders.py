"""Conformance, the order life: place and cancel, modify, partial fills, on every venue."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.events import OrderStatus as S
from tests.helpers import until
from tests.venues.conftest import Rig, cases


@pytest.mark.parametrize("rig", cases("place_cancel"), indirect=True)
async def test_an_order_is_placed_then_cancelled_with_nothing_filled(rig: Rig) -> None:
    order = rig.submit(rig.driver.resting(rig.emulator))
    placed = await rig.reaches(order.client_order_id, S.PLACED)
    assert placed.venue_order_id
    rig.manager.cancel(order.client_order_id)
    cancelled = await rig.reaches(order.client_order_id, S.CANCELLED)
    assert cancelled.filled_qty == 0
    assert not rig.fills


@pytest.mark.parametrize("rig", cases("modify"), indirect=True)
async def test_a_placed_order_is_modified_to_a_new_price(rig: Rig) -> None:
    terms = rig.driver.resting(rig.emulator)
    order = rig.submit(terms)
    await rig.reaches(order.client_order_id, S.PLACED)
    assert terms.price is not None
    lower = rig.driver.lower(terms.price)
    rig.manager.modify(order.client_order_id, price=lower)
    await until(lambda: rig.order(order.client_order_id).price == lower and rig.order(order.client_order_id).pending is None)
    assert rig.order(order.client_order_id).is_open


@pytest.mark.parametrize("rig", cases("partial_fills"), indirect=True)
async def test_an_order_that_fills_is_completed_with_every_fill_known(rig: Rig) -> None:
    terms = rig.driver.filling(rig.emulator)
    order = rig.submit(terms)
    done = await rig.reaches(order.client_order_id, S.COMPLETED)
    await until(lambda: sum((f.qty for f in rig.fills), Decimal(0)) == terms.qty)
    assert done.filled_qty == terms.qty
    assert len({f.fill_id for f in rig.fills}) == len(rig.fills)
