"""Firstock's V2 socket: tick decode, socket frame -> Quote delivered to a strategy (median and p99
per frame, inline and queued bus), both tick shapes (flat and wrapped {"NSE:2885": {...}}), and an
order-update frame -> the sync core -> the order manager -> the strategy's on_fill.

The frames are the emulator's own (ticks with prices in paise; Noren-style order updates with
every value a string). Prints figures; asserts nothing.

    python bench/firstock_stream.py [--ticks N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from adapters.firstock import schemas as w  # noqa: E402
from adapters.firstock import ticks  # noqa: E402
from adapters.firstock.adapter import FirstockConfig, FirstockVenue  # noqa: E402
from adapters.firstock.emulator import FirstockEmulator  # noqa: E402
from adapters.firstock.emulator.market import EmuOrder, order_update  # noqa: E402
from adapters.firstock.feed import FirstockFeed  # noqa: E402
from adapters.india import IST, nse_equity  # noqa: E402
from bench._common import delivery_latencies, loop_name, machine, quiet_logs, run_on_best_loop, show  # noqa: E402
from bench.hot_path import Timed  # noqa: E402
from engine.account.portfolio import Portfolio  # noqa: E402
from engine.account.risk import RiskEngine, RiskLimits  # noqa: E402
from engine.clock import RealtimeClock  # noqa: E402
from engine.data.bus import Bus  # noqa: E402
from engine.events import Fill, Order, OrderReport, OrderStatus, OrderType, Side, TimeInForce  # noqa: E402
from engine.orders.journal import Journal  # noqa: E402
from engine.orders.manager import OrderManager  # noqa: E402
from engine.strategy.base import Strategy, StrategyContext, StrategyHost  # noqa: E402
from engine.venue.contract import VenueContext  # noqa: E402

KEY, IID = "NSE:2885", "firstock:NSE:RELIANCE"
START = datetime(2026, 11, 20, 9, 20, tzinfo=IST)


def emulator_frames(n: int, *, wrapped: bool = False) -> list[bytes]:
    """`n` ticks exactly as the emulator's socket writes them."""
    emu = FirstockEmulator(seed=3, start=START)
    frames = []
    for _ in range(n):
        emu.exchange.step()
        text = emu.tick_text(KEY)
        assert text is not None
        frames.append((f'{{"{KEY}":{text}}}' if wrapped else text).encode())
    return frames


def decode_times(frames: list[bytes]) -> list[float]:
    decode = ticks.decode_tick
    out = []
    clock = time.perf_counter_ns
    for frame in frames:
        t0 = clock()
        decode(frame)
        out.append((clock() - t0) / 1000)
    return sorted(out[len(out) // 10:])


def strategy_on(bus: Bus, manager: OrderManager, portfolio: Portfolio) -> tuple[Timed, StrategyHost]:
    ctx = StrategyContext(id="timed", instruments=[IID], bus=bus, clock=RealtimeClock(), orders=manager, portfolio=portfolio,
                          venue_for=lambda i: "firstock")
    strategy = Timed(ctx, Strategy.Params())
    return strategy, StrategyHost(strategy)


async def delivery_times(frames: list[bytes], inline: bool) -> list[float]:
    """frame bytes -> FirstockFeed.on_message -> bus -> the strategy's on_quote."""
    bus, clock, portfolio = Bus(inline=inline), RealtimeClock(), Portfolio()
    feed = FirstockFeed("firstock", "ws://unused", bus=bus, clock=clock, auth=None, on_order=lambda u: None,  # type: ignore[arg-type]
                        on_opened=lambda: None)
    feed.ids[KEY] = IID
    manager = OrderManager(bus=bus, clock=clock, journal=Journal(None), portfolio=portfolio,
                           risk=RiskEngine(RiskLimits(), portfolio), venues={})
    strategy, host = strategy_on(bus, manager, portfolio)
    await host.start()
    out = await delivery_latencies(feed.on_message, frames, strategy.stamps, inline=inline)
    await host.stop()
    return out


class FillTimed(Timed):
    def on_fill(self, fill: Fill) -> None:
        self.stamps.append(time.perf_counter_ns())


async def order_update_times(n: int) -> list[float]:
    """An order-update frame (a fill of one share) -> the feed -> the adapter -> the sync core ->
    the order manager (journal in memory) -> the strategy's on_fill, inline bus."""
    bus, clock, portfolio = Bus(inline=True), RealtimeClock(), Portfolio()
    inst = nse_equity("firstock", "RELIANCE")
    portfolio.instruments[inst.id] = inst
    manager = OrderManager(bus=bus, clock=clock, journal=Journal(None), portfolio=portfolio,
                           risk=RiskEngine(RiskLimits(check_balance=False), portfolio), venues={})
    venue = FirstockVenue(VenueContext(name="firstock", bus=bus, clock=clock, sink=manager, state_dir=Path("var"), mode="live"),
                          FirstockConfig())
    feed = FirstockFeed("firstock", "ws://unused", bus=bus, clock=clock, auth=None,  # type: ignore[arg-type]
                        on_order=venue.on_order_update, on_opened=lambda: None)
    number = "26112000000001"

    async def placed(order: Order) -> OrderReport:  # the venue's answer, without a venue
        return OrderReport(venue="firstock", status=OrderStatus.PLACED, client_order_id=order.client_order_id,
                           venue_order_id=number, instrument=order.instrument, side=order.side)

    venue.place = placed  # type: ignore[method-assign]
    manager.venues = {"firstock": venue}
    manager.ready = True  # nothing to reconcile: no venue behind it
    ctx = StrategyContext(id="timed", instruments=[IID], bus=bus, clock=clock, orders=manager, portfolio=portfolio,
                          venue_for=lambda i: "firstock")
    strategy = FillTimed(ctx, Strategy.Params())
    host = StrategyHost(strategy)
    await host.start()
    order = manager.submit(strategy_id="timed", instrument=IID, venue="firstock", side=Side.BUY, qty=Decimal(n + 10),
                           type=OrderType.LIMIT, price=Decimal("1290.50"), tif=TimeInForce.DAY)
    emu = FirstockEmulator(seed=3, start=START)
    spec = emu.scrips["NSE:RELIANCE"]
    while manager.orders[order.client_order_id].status is not OrderStatus.PLACED:
        await asyncio.sleep(0)
    shown = EmuOrder(number=number, spec=spec, side=Side.BUY, price_type="LMT", product="C", retention="DAY",
                     qty=Decimal(n + 10), price=Decimal("1290.50"), trigger=None, amo=False, placed_ns=clock.now_ns(),
                     remarks=order.client_order_id)
    frames = _fill_frames(emu, shown, n)
    strategy.stamps.clear()
    out = await delivery_latencies(feed.on_message, frames, strategy.stamps, inline=True)
    await host.stop()
    return out


def _fill_frames(emu: FirstockEmulator, shown: EmuOrder, n: int) -> list[bytes]:
    from adapters.simulation.exchange import FillRecord

    frames = []
    for i in range(1, n + 1):
        fill = FillRecord(id=i, order_id="x", owner="o", instrument=shown.spec.key, side=Side.BUY, qty=Decimal(1),
                          price=Decimal("1290.50"), fee=Decimal(0), fee_asset="INR", liquidity="maker", ts_ns=emu.clock.now_ns())
        shown.fills.append(fill)
        frames.append(w.encode(order_update(shown, "Fill", emu.clock.now_ns(), fill)))
    return frames


async def main(n: int) -> None:
    flat, wrapped = emulator_frames(n), emulator_frames(n, wrapped=True)
    decoded = decode_times(flat)
    inline = await delivery_times(flat, True)
    queued = await delivery_times(flat, False)
    inline_wrapped = await delivery_times(wrapped, True)
    orders = await order_update_times(min(n, 5000))
    print(f"machine: {machine()}  loop: {loop_name()}  ticks: {n:,}  frame: {len(flat[0])} bytes")
    show("tick decode (msgspec, one flat frame)", decoded)
    show("frame -> Quote -> strategy on_quote (inline)", inline)
    show("frame -> Quote -> strategy on_quote (queued)", queued)
    show("wrapped frame -> on_quote (inline)", inline_wrapped)
    show("order fill frame -> strategy on_fill (inline)", orders)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--ticks", type=int, default=20_000)
    args = parser.parse_args()
    quiet_logs()
    run_on_best_loop(main(args.ticks))
