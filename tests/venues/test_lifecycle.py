"""Conformance, the engine's own life: the session or token expiring mid-run, and the engine killed
with SIGKILL mid-order and restarted on its journal (nothing lost, nothing sent twice, every fill
known)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.app.plugins import load_venue
from engine.events import Order
from engine.events import OrderStatus as S
from engine.venue.contract import Venue
from tests.helpers import bounded, until
from tests.venues.conftest import Rig, cases, start_rig, venue_config
from tests.venues.drivers.base import Driver, OrderTerms
from tests.venues.engine_process import ANSWER

FINAL = (S.COMPLETED, S.REJECTED, S.CANCELLED, S.EXPIRED)
ROOT = Path(__file__).resolve().parents[2]


def orders_at_venue(rig: Rig) -> int:
    """How many of our orders reached the venue's exchange (each fill names its order)."""
    return len({f.order_id for f in rig.fills_at_venue()})


@pytest.mark.parametrize("rig", cases("session_expiry"), indirect=True)
async def test_a_session_that_expires_mid_run_is_renewed_and_trading_goes_on(rig: Rig) -> None:
    resting = None
    if rig.driver.rests:
        resting = rig.submit(rig.driver.resting(rig.emulator))
        resting = await rig.reaches(resting.client_order_id, S.PLACED)
    first = rig.submit(rig.driver.filling(rig.emulator))
    await rig.reaches(first.client_order_id, S.COMPLETED)
    assert rig.control.expire_sessions()
    if resting is not None:  # the venue's news of an order it had before the expiry still comes
        rig.control.fill_resting(resting.venue_order_id or "", resting.qty)
        await rig.reaches(resting.client_order_id, S.COMPLETED)
    second = rig.submit(rig.driver.filling(rig.emulator))
    done = await rig.reaches(second.client_order_id, *FINAL)
    assert done.status is S.COMPLETED
    await until(lambda: len(rig.fills) == len(rig.fills_at_venue()))
    assert orders_at_venue(rig) == (3 if resting is not None else 2)  # a refused request was not carried out


class EngineProcess:
    """`tests.venues.engine_process` on a running emulator: orders in, their states out."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, rig_driver: Driver, emulator: Any, state_dir: Path, config: dict[str, Any]) -> EngineProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.venues.engine_process", rig_driver.venue, str(state_dir),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        engine = cls(proc)
        clock = getattr(emulator, "clock", None)
        offset = clock.now_ns() - time.time_ns() if clock is not None else 0
        assert (await engine.ask({"info": emulator.info().as_json(), "clock_offset_ns": offset, "config": config})) == {"ready": True}
        return engine

    async def ask(self, payload: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(payload).encode() + b"\n")
        await self.proc.stdin.drain()
        for _ in range(10_000):  # its log lines, then the answer
            line = (await bounded(self.proc.stdout.readline(), 30)).decode()
            assert line, f"the engine process ended (exit code {self.proc.returncode})"
            if line.startswith(ANSWER):
                answer: dict[str, Any] = json.loads(line.removeprefix(ANSWER))
                return answer
        raise AssertionError("the engine process never answered")

    async def place(self, terms: OrderTerms, wait: str) -> dict[str, Any]:
        return await self.ask({"side": terms.side, "qty": str(terms.qty), "price": None if terms.price is None else str(terms.price),
                               "tif": terms.tif, "wait": wait})

    async def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        assert await bounded(self.proc.wait()) == -signal.SIGKILL


@pytest.mark.parametrize("driver", cases("sigkill_restart"))
async def test_an_engine_killed_mid_order_restarts_on_its_journal_with_nothing_lost_or_sent_twice(driver: Driver, tmp_path: Path) -> None:
    cls: type[Venue[Any]] = load_venue(driver.venue)
    emulator: Any = cls.make_emulator(venue_config(driver), 11)
    await bounded(emulator.start())
    rig: Rig | None = None
    engine: EngineProcess | None = None
    try:
        engine = await EngineProcess.start(driver, emulator, tmp_path, {"timeout_s": 30.0})
        resting = None
        if driver.rests:  # an order working at the venue when the engine dies, filled while it is dead
            resting = await engine.place(driver.resting(emulator), "placed")
            assert resting["status"] == "placed" and resting["venue_order_id"]
        emulator.faults.lose_write_responses = 1  # the next placement is carried out; its answer stalls
        emulator.faults.lost_answer_stall_s = 3.0
        in_flight = await engine.place(driver.filling(emulator), "sent")
        await until(lambda: emulator.faults.lose_write_responses == 0)  # the venue has it, the engine does not know
        await engine.kill()
        if resting is not None:
            emulator.fill_resting(resting["venue_order_id"], Decimal(driver.resting(emulator).qty))
        placed = 2 if resting is not None else 1
        await until(lambda: emulator.answered(driver.place_route) == placed)  # the stalled answer, to no one

        rig = await start_rig(driver, tmp_path, emulator=emulator)
        orders: dict[str, Order] = {}

        def final() -> bool:
            for info in [x for x in (resting, in_flight) if x is not None]:
                order = rig.manager.get(info["client_order_id"]) if rig is not None else None
                if order is None or order.status not in FINAL:
                    return False
                orders[info["client_order_id"]] = order
            return True

        await until(final)
        if resting is not None:
            assert orders[resting["client_order_id"]].status is S.COMPLETED
        lost = orders[in_flight["client_order_id"]]
        if driver.lost_placement == "asked":
            assert lost.status is S.COMPLETED and lost.venue_order_id  # found by asking the venue
        else:
            assert lost.status is S.REJECTED and lost.filled_qty == 0
        at_venue = rig.fills_at_venue()
        assert sum((o.filled_qty for o in orders.values()), Decimal(0)) == sum((f.qty for f in at_venue), Decimal(0))
        assert emulator.answered(driver.place_route) == placed  # nothing sent twice
        assert orders_at_venue(rig) == len([o for o in orders.values() if o.filled_qty])
    finally:
        if engine is not None and engine.proc.returncode is None:
            await engine.kill()
        if rig is not None:
            await rig.shutdown()
        else:
            await bounded(emulator.stop())
