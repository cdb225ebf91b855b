"""An engine in a process of its own, for the conformance suite to SIGKILL mid-order.

    python -m tests.venues.engine_process VENUE STATE_DIR

Reads one JSON line from stdin to start, {"info": <EmulatorInfo json>, "clock_offset_ns": N,
"config": {...}}, connects the venue to that emulator and recovers from the journal in STATE_DIR.
Then each further stdin line is an order ({"side", "qty", "price", "tif", "wait"}): it submits it and,
once the order reaches what `wait` names ("placed": the venue has it; "sent": the request is on the
wire), prints "@ " and {"client_order_id", "status", "venue_order_id"}. It never stops by itself before
`LIFETIME_S` (the test kills it); an orphan exits then.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.clock import RealtimeClock
from engine.events import OrderStatus, OrderType, Side, TimeInForce
from engine.venue.contract import EmulatorInfo
from tests.venues.conftest import STRATEGY, start_engine, venue_config
from tests.venues.drivers import DRIVERS

LIFETIME_S = 60.0
WAITS = {"placed": (OrderStatus.PLACED, OrderStatus.UPDATED, OrderStatus.COMPLETED), "sent": (OrderStatus.SUBMITTED,)}


ANSWER = "@ "  # what marks an answer among the log lines on stdout


def say(payload: dict[str, Any]) -> None:
    print(ANSWER + json.dumps(payload), flush=True)


async def read_line(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    line = await reader.readline()
    return json.loads(line) if line.strip() else None


async def main(venue: str, state_dir: Path) -> None:
    driver = next(d for d in DRIVERS if d.venue == venue)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    start = await read_line(reader)
    assert start is not None
    info = EmulatorInfo(**start["info"])
    clock = RealtimeClock(start_ns=time.time_ns() + int(start["clock_offset_ns"]))
    engine = await start_engine(driver, venue_config(driver, **start["config"]), info, clock, state_dir)
    await engine.manager.recover()
    say({"ready": True})
    while (terms := await read_line(reader)) is not None:
        price = Decimal(terms["price"]) if terms.get("price") else None
        order = engine.manager.submit(
            strategy_id=STRATEGY, instrument=driver.instrument, venue=venue, side=Side(terms["side"]),
            qty=Decimal(terms["qty"]), price=price, type=OrderType.LIMIT if price is not None else OrderType.MARKET,
            **({"tif": TimeInForce(terms["tif"])} if terms.get("tif") else {}),
        )
        wanted = WAITS[terms["wait"]]
        for _ in range(1000):  # ten seconds at most
            now = engine.manager.orders[order.client_order_id]
            if now.status in wanted:
                break
            await asyncio.sleep(0.01)
        say({"client_order_id": now.client_order_id, "status": now.status.value, "venue_order_id": now.venue_order_id})
    await asyncio.sleep(LIFETIME_S)


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(sys.argv[1], Path(sys.argv[2])), LIFETIME_S * 2))
