"""Samco streaming and order polling: tick decode, tick -> Quote delivered to a strategy (median and
p99 per tick), and the order poller's request budget per minute while idle and while orders work.

The ticks are the emulator's own frames (flat `quote` ticks, every value a string). The budget is
measured against the emulator with the poller's intervals scaled down by `--scale` (0.1: a minute
of polling in six seconds) and reported per real minute at the configured intervals.
Prints figures; asserts nothing.

    python bench/samco_stream.py [--ticks N] [--scale 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from adapters.india import IST  # noqa: E402
from adapters.samco import ticks  # noqa: E402
from adapters.samco.adapter import SamcoConfig, SamcoVenue  # noqa: E402
from adapters.samco.emulator import SamcoEmulator  # noqa: E402
from adapters.samco.feed import SamcoFeed  # noqa: E402
from bench._common import delivery_latencies, loop_name, machine, quiet_logs, run_on_best_loop, show  # noqa: E402
from bench.hot_path import Timed  # noqa: E402
from engine.account.portfolio import Portfolio  # noqa: E402
from engine.account.risk import RiskEngine, RiskLimits  # noqa: E402
from engine.clock import RealtimeClock  # noqa: E402
from engine.data.bus import Bus  # noqa: E402
from engine.events import OrderType, Side, TimeInForce  # noqa: E402
from engine.orders.journal import Journal  # noqa: E402
from engine.orders.manager import OrderManager  # noqa: E402
from engine.strategy.base import Strategy, StrategyContext, StrategyHost  # noqa: E402
from engine.venue.contract import EmulatorInfo, VenueContext  # noqa: E402

TOKEN, IID = "2885_NSE", "samco:NSE:RELIANCE"
START = datetime(2026, 11, 20, 9, 20, tzinfo=IST)


async def emulator_frames(n: int) -> list[bytes]:
    """`n` quote ticks exactly as the emulator's streamer writes them."""
    emu = SamcoEmulator(seed=3, start=START)
    frames = []
    for _ in range(n):
        emu.exchange.step()
        text = emu.quote_text(TOKEN)
        assert text is not None
        frames.append(text.encode())
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


async def delivery_times(frames: list[bytes], inline: bool) -> list[float]:
    """tick bytes -> SamcoFeed.on_message -> bus -> the strategy's on_quote."""
    bus, clock, portfolio = Bus(inline=inline), RealtimeClock(), Portfolio()
    feed = SamcoFeed("samco", "ws://unused", bus=bus, clock=clock, auth=None)  # type: ignore[arg-type]
    feed.ids[TOKEN] = IID
    manager = OrderManager(bus=bus, clock=clock, journal=Journal(None), portfolio=portfolio,
                           risk=RiskEngine(RiskLimits(), portfolio), venues={})
    ctx = StrategyContext(id="timed", instruments=[IID], bus=bus, clock=clock, orders=manager, portfolio=portfolio,
                          venue_for=lambda i: "samco")
    strategy = Timed(ctx, Strategy.Params())
    host = StrategyHost(strategy)
    await host.start()
    out = await delivery_latencies(feed.on_message, frames, strategy.stamps, inline=inline)
    await host.stop()
    return out


async def budget(scale: float, workdir: Path) -> dict[str, tuple[int, int]]:
    """Order book and trade book requests in one (scaled) minute: idle, then with an order working."""
    cfg = SamcoConfig()
    emu = SamcoEmulator(seed=3, start=START, tick_interval_s=0.05)
    info = await emu.start()
    bus, portfolio = Bus(), Portfolio()
    clock = RealtimeClock()
    manager = OrderManager(bus=bus, clock=clock, journal=Journal(workdir / "j.sqlite"), portfolio=portfolio,
                           risk=RiskEngine(RiskLimits(check_balance=False), portfolio), venues={})
    scaled = SamcoVenue.with_emulator(
        SamcoConfig(symbols=["NSE:RELIANCE"], poll_fast_s=cfg.poll_fast_s * scale, poll_slow_s=cfg.poll_slow_s * scale,
                    poll_idle_s=cfg.poll_idle_s * scale, fast_window_s=cfg.fast_window_s * scale, requests_per_s=1000),
        EmulatorInfo("samco", info.url, info.ws_url, info.credentials),
    )
    venue = SamcoVenue(VenueContext(name="samco", bus=bus, clock=clock, sink=manager, state_dir=workdir, mode="live"), scaled)
    manager.venues = {"samco": venue}
    await venue.connect()
    for inst in await venue.instruments():
        portfolio.instruments[inst.id] = inst
    await manager.recover()
    poller = venue.orders
    assert poller is not None
    minute = 60 * scale
    out: dict[str, tuple[int, int]] = {}
    books, trades = poller.book_requests, poller.trade_requests
    await asyncio.sleep(minute)
    out["idle"] = (poller.book_requests - books, poller.trade_requests - trades)
    quote = emu.exchange.market("NSE:RELIANCE").quote
    assert quote is not None
    books, trades = poller.book_requests, poller.trade_requests
    manager.submit(strategy_id="b", instrument=IID, venue="samco", side=Side.BUY, qty=Decimal(1), type=OrderType.LIMIT,
                   price=Decimal(repr(quote.bid)) - Decimal(5), tif=TimeInForce.DAY)
    await asyncio.sleep(minute)
    out["one order working (placed at 0 s)"] = (poller.book_requests - books, poller.trade_requests - trades)
    await manager.settle()
    await venue.close()
    manager.journal.close()
    await emu.stop()
    return out


async def main(n: int, scale: float) -> None:
    frames = await emulator_frames(n)
    decoded = decode_times(frames)
    inline = await delivery_times(frames, True)
    queued = await delivery_times(frames, False)
    with tempfile.TemporaryDirectory() as tmp:
        used = await budget(scale, Path(tmp))
    cfg = SamcoConfig()
    print(f"machine: {machine()}  loop: {loop_name()}  ticks: {n:,}  frame: {len(frames[0])} bytes")
    show("tick decode (msgspec, one flat quote frame)", decoded)
    show("tick -> Quote -> strategy on_quote (inline)", inline)
    show("tick -> Quote -> strategy on_quote (queued)", queued)
    print(f"order poller at fast {cfg.poll_fast_s}s for {cfg.fast_window_s}s after an order, slow {cfg.poll_slow_s}s "
          f"while one works, idle {cfg.poll_idle_s}s (measured at x{scale} time):")
    for label, (books, trades) in used.items():
        print(f"  {label:<36}: {books + trades:3d} requests/min  ({books} orderBook + {trades} tradeBook)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--ticks", type=int, default=20_000)
    parser.add_argument("--scale", type=float, default=0.1)
    args = parser.parse_args()
    quiet_logs()
    run_on_best_loop(main(args.ticks, args.scale))
