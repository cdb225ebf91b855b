"""Firstock's V2 socket: tick decode, socket frame -> Quote delivered to a strategy (median and p99
per frame, inline and queued bus), both tick shapes (flat and wrapped {"NSE:2885": {...}}), and an
order-update frame -> the sync core -> the order manager -> the strategy's on_fill.

The frames are the emulator's own (ticks with prices in paise; Noren-style order updates with
every value a string). Prints figures; asserts nothing.

    python bench/firstock_stream.py [--ticks N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from adapters.firstock import schemas as w  # noqa: E402
from adapters.firstock import ticks  # noqa: E402
from adapters.firstock.adapter import FirstockConfig, FirstockVenue  # noqa: E402
from adapters.firstock.emulator import FirstockEmulator  # noqa: E402
from adapters.firstock.emulator.market import EmuOrder, order_update  # noqa: E402
from adapters.firstock.feed import FirstockFeed  # noqa: E402
from adapters.india import IST, nse_equity  # noqa: E402
from bench._common import delivery_latencies, loop_name, machine, quiet_logs, run_on_best_loop, show  # noqa: E402
from bench.hot_path import feed_latencies, fill_desk  # noqa: E402
from engine.clock import Clock  # noqa: E402
from engine.data.bus import Bus  # noqa: E402
from engine.events import Side  # noqa: E402

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


def firstock_feed(bus: Bus, clock: Clock) -> Callable[[bytes], None]:
    feed = FirstockFeed("firstock", "ws://unused", bus=bus, clock=clock, auth=None, on_order=lambda u: None,  # type: ignore[arg-type]
                        on_opened=lambda: None)
    feed.ids[KEY] = IID
    return feed.on_message


async def delivery_times(frames: list[bytes], inline: bool) -> list[float]:
    """frame bytes -> FirstockFeed.on_message -> bus -> the strategy's on_quote."""
    return await feed_latencies(firstock_feed, frames, inline=inline, iid=IID, venue="firstock")


async def order_update_times(n: int) -> list[float]:
    """An order-update frame (a fill of one share) -> the feed -> the adapter -> the sync core ->
    the order manager (journal in memory) -> the strategy's on_fill, inline bus."""
    number = "26112000000001"
    venue, strategy, host, order = await fill_desk(lambda ctx: FirstockVenue(ctx, FirstockConfig()), nse_equity("firstock", "RELIANCE"),
                                                   number, Decimal(n + 10), Decimal("1290.50"))
    clock = venue.ctx.clock
    feed = FirstockFeed("firstock", "ws://unused", bus=venue.ctx.bus, clock=clock, auth=None,  # type: ignore[arg-type]
                        on_order=venue.on_order_update, on_opened=lambda: None)
    emu = FirstockEmulator(seed=3, start=START)
    spec = emu.scrips["NSE:RELIANCE"]
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
