"""Conformance, the venue failing: a burst of 5xx, a placement whose answer never comes (its outcome
unknown, resolved by asking, never by sending again), a 429 — nothing sent twice, the engine's view
the venue's, and trading going on after."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.events import OrderStatus as S
from tests.helpers import until
from tests.venues.conftest import Rig, cases, start_rig
from tests.venues.drivers.base import Driver

FINAL = (S.COMPLETED, S.REJECTED, S.CANCELLED, S.EXPIRED)


async def trades_on(rig: Rig, placements: int = 1) -> None:
    """Orders go on being placed, each sent once, until the fault has passed and one fills."""
    for attempt in range(1, 6):
        order = rig.submit(rig.driver.filling(rig.emulator))
        done = await rig.reaches(order.client_order_id, *FINAL)
        assert rig.control.answered(rig.driver.place_route) == placements + attempt  # never sent again
        if done.status is S.COMPLETED:
            break
        assert done.status is S.REJECTED and done.filled_qty == 0  # asked: the venue never had it
    else:
        raise AssertionError("no order filled after the fault")
    await until(lambda: len(rig.fills) == len(rig.fills_at_venue()))


@pytest.mark.parametrize("rig", cases("burst_5xx"), indirect=True)
async def test_a_burst_of_5xx_sends_nothing_twice_and_trading_goes_on(rig: Rig) -> None:
    rig.faults.burst_5xx = 3
    await trades_on(rig, placements=0)
    assert rig.faults.injected == 3


@pytest.mark.parametrize("rig", cases("rate_limited"), indirect=True)
async def test_a_429_sends_nothing_twice_and_trading_goes_on(rig: Rig) -> None:
    rig.faults.burst_status = 429
    rig.faults.burst_5xx = 2
    await trades_on(rig, placements=0)
    assert rig.faults.injected == 2


@pytest.mark.parametrize("driver", cases("timeout_unknown"))
async def test_a_placement_that_times_out_is_resolved_by_asking_never_sent_again(driver: Driver, tmp_path: Path) -> None:
    rig = await start_rig(driver, tmp_path, timeout_s=0.5)
    try:
        rig.faults.lose_write_responses = 1
        rig.faults.lost_answer_stall_s = 2.0  # past the client's timeout: the caller gives up first
        terms = rig.driver.filling(rig.emulator)
        order = rig.submit(terms)
        done = await rig.reaches(order.client_order_id, *FINAL)
        assert rig.faults.lose_write_responses == 0  # the answer was lost
        await until(lambda: rig.control.answered(driver.place_route) == 1)  # counted once the stall ends
        if driver.lost_placement == "asked":
            assert done.status is S.COMPLETED and done.venue_order_id and done.filled_qty == terms.qty
        else:
            assert done.status is S.REJECTED and not rig.fills
        await trades_on(rig, placements=1)
    finally:
        await rig.shutdown()
