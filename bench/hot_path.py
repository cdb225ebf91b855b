"""The hot path, per event: quote bytes -> msgspec decode -> bus -> strategy callback, and from that
callback an order -> risk -> journal -> paper broker accepting it. Median and p99 per event.

Two quote-path figures: the strategy's queue drained by its own task (the live arrangement: the
time includes waking that task) and every subscriber inline (the backtest arrangement).
Prints figures; asserts nothing.

    python bench/hot_path.py [--events N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import msgspec  # noqa: E402

from adapters.paper.broker import PaperBroker, PaperConfig  # noqa: E402
from bench._common import delivery_latencies, loop_name, machine, quiet_logs, run_on_best_loop, show, socket_latencies  # noqa: E402
from engine import events as ev  # noqa: E402
from engine.account.portfolio import Portfolio  # noqa: E402
from engine.account.risk import RiskEngine, RiskLimits  # noqa: E402
from engine.clock import Clock, RealtimeClock  # noqa: E402
from engine.data.bus import Bus  # noqa: E402
from engine.events import Instrument, OrderStatus, OrderUpdate, Quote  # noqa: E402
from engine.orders.journal import Journal  # noqa: E402
from engine.orders.manager import OrderManager  # noqa: E402
from engine.strategy.base import Strategy, StrategyContext, StrategyHost  # noqa: E402
from engine.venue.contract import Venue, VenueContext  # noqa: E402

INSTRUMENT = "sim:BTC-KRW"
V = TypeVar("V", bound=Venue[Any])


class WireQuote(msgspec.Struct, frozen=True, gc=False):
    """A compact venue quote frame, the kind a feed receives."""

    s: str
    b: float
    a: float
    bq: float
    aq: float
    t: int


DECODE = msgspec.json.Decoder(WireQuote).decode
NOW = time.time_ns


def frames(n: int) -> list[bytes]:
    encode = msgspec.json.Encoder().encode
    return [encode(WireQuote(INSTRUMENT, 135_000_000.0 + (i % 7) * 1000, 135_001_000.0 + (i % 7) * 1000, 1.5, 2.5, 1_795_000_000_000_000_000 + i)) for i in range(n)]


def on_frame(bus: Bus, frame: bytes) -> None:
    """What a venue feed does per frame: decode into a Struct, map to the engine event, publish."""
    w = DECODE(frame)
    bus.publish(Quote(w.s, w.b, w.a, w.bq, w.aq, w.t, NOW()), w.s)


class Timed(Strategy):
    def on_start(self) -> None:
        self.stamps: list[int] = []
        self.order_every = 0
        self.seen = 0
        self.order_t0: dict[str, int] = {}

    def on_quote(self, quote: Quote) -> None:
        self.stamps.append(time.perf_counter_ns())
        self.seen += 1
        if self.order_every and self.seen % self.order_every == 0:
            t0 = time.perf_counter_ns()
            order = self.buy(quote.instrument, Decimal("0.001"))
            self.order_t0[order.client_order_id] = t0


async def build(inline: bool, journal_path: Path) -> tuple[Bus, Timed, StrategyHost, OrderManager, list[int]]:
    bus = Bus(inline=inline)
    clock = RealtimeClock()
    portfolio = Portfolio()
    inst = Instrument(id=INSTRUMENT, venue="sim", symbol="BTC-KRW", base="BTC", quote="KRW", exchange="SIM", tick_size=Decimal(1000), lot_size=Decimal("0.001"))
    portfolio.instruments[inst.id] = inst
    risk = RiskEngine(RiskLimits(max_order_value=Decimal(10**9), max_open_orders=10_000), portfolio)
    manager = OrderManager(bus=bus, clock=clock, journal=Journal(journal_path), portfolio=portfolio, risk=risk, venues={})
    broker = PaperBroker(VenueContext(name="paper", bus=bus, clock=clock, sink=manager), PaperConfig(balances={"KRW": Decimal(10**12), "BTC": Decimal(10**6)}))
    broker.register_instruments([inst])
    await broker.connect()
    manager.venues = {"paper": broker}
    bus.subscribe(Quote, portfolio.on_quote)
    await manager.recover()
    accepted: list[int] = []
    placed_at: dict[str, int] = {}

    def on_update(update: OrderUpdate) -> None:
        if update.order.status is OrderStatus.PLACED and update.previous is OrderStatus.SUBMITTED:
            placed_at[update.order.client_order_id] = time.perf_counter_ns()

    bus.subscribe(OrderUpdate, on_update)
    ctx = StrategyContext(id="timed", instruments=[INSTRUMENT], bus=bus, clock=clock, orders=manager, portfolio=portfolio, venue_for=lambda i: "paper")
    strategy = Timed(ctx, Strategy.Params())
    host = StrategyHost(strategy)
    await host.start()
    strategy.placed_at = placed_at  # type: ignore[attr-defined]
    return bus, strategy, host, manager, accepted


async def quote_path(n: int, inline: bool, workdir: Path, from_socket: bool = False) -> list[float]:
    bus, strategy, host, manager, _ = await build(inline, workdir / f"q{inline}{from_socket}.sqlite")
    if from_socket:
        latencies = await socket_latencies(lambda frame: on_frame(bus, frame), frames(n), strategy)
    else:
        latencies = await delivery_latencies(lambda frame: on_frame(bus, frame), frames(n), strategy.stamps, inline=inline)
    await host.stop()
    manager.journal.close()
    return latencies


async def order_path(n_orders: int, workdir: Path) -> list[float]:
    bus, strategy, host, manager, _ = await build(False, workdir / "orders.sqlite")
    strategy.order_every = 1
    latencies = []
    data = frames(n_orders)
    for frame in data:
        on_frame(bus, frame)
        for _ in range(1000):
            await asyncio.sleep(0)
            if strategy.order_t0 and all(c in strategy.placed_at for c in strategy.order_t0):  # type: ignore[attr-defined]
                break
        for coid, t0 in strategy.order_t0.items():
            latencies.append((strategy.placed_at[coid] - t0) / 1000)  # type: ignore[attr-defined]
        strategy.order_t0.clear()
    await host.stop()
    manager.journal.close()
    return sorted(latencies[n_orders // 10:])


class _Probe:
    stamps: list[int]  # set by socket_latencies


async def loop_turn_floors(n: int) -> tuple[list[float], list[float]]:
    """What a queued path costs before any decode or strategy, from a socket's `data_received`:
    a bare `call_soon` to a callback that stamps, and a publish to a queued subscriber whose
    handler only stamps."""
    loop = asyncio.get_running_loop()
    probe = _Probe()
    clock = time.perf_counter_ns

    def stamp(*_: Any) -> None:
        probe.stamps.append(clock())

    bare = await socket_latencies(lambda _: loop.call_soon(stamp), list(range(n)), probe)
    bus = Bus()
    sub = bus.queued("probe", stamp)
    sub.subscribe(Quote, keys=["sim:A"])
    sub.start()
    quote = Quote("sim:A", 1.0, 2.0, 1.0, 1.0, 1, 1)
    through_bus = await socket_latencies(lambda _: bus.publish(quote, "sim:A"), list(range(n)), probe)
    sub.unsubscribe()
    return bare, through_bus


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        inline = await quote_path(n, True, workdir)
        queued = await quote_path(n, False, workdir)
        queued_cb = await quote_path(n, False, workdir, from_socket=True)
        bare, through_bus = await loop_turn_floors(n)
        orders = await order_path(max(n // 20, 200), workdir)
    print(f"machine: {machine()}  loop: {loop_name()}  events: {n:,}")
    show("frame -> decode -> bus -> strategy (inline)", inline, "(target: median <= 2 us, p99 <= 10 us)")
    show("frame -> decode -> bus -> strategy (queued)", queued, "(same target; from a task: its own suspension is in it)")
    show("  the same, frames from a socket's callback", queued_cb, "(data_received, as a feed gets them: no task switch)")
    show("    floor: call_soon from data_received", bare, "(the loop's turn and the stamp, nothing of ours)")
    show("    floor: publish -> queue -> stamp", through_bus, "(the bus and the queue, no decode, no strategy)")
    show("strategy buy() -> paper broker placed", orders, "(risk, journal, manager, broker: in process, no commit)")


# --- shared by the venue stream benchmarks (firstock_stream, gopocket_stream) ------------------


class FillTimed(Timed):
    def on_fill(self, fill: ev.Fill) -> None:
        self.stamps.append(time.perf_counter_ns())


async def timed_strategy(manager: OrderManager, iid: str, venue: str, kind: type[Timed] = Timed) -> tuple[Timed, StrategyHost]:
    """A started `kind` strategy on `iid`, trading through `manager`."""
    ctx = StrategyContext(id="timed", instruments=[iid], bus=manager.bus, clock=manager.clock, orders=manager,
                          portfolio=manager.portfolio, venue_for=lambda i: venue)
    strategy = kind(ctx, Strategy.Params())
    host = StrategyHost(strategy)
    await host.start()
    return strategy, host


async def feed_latencies(on_message_of: Callable[[Bus, Clock], Callable[[Any], None]], frames: list[Any], *, inline: bool,
                         iid: str, venue: str) -> list[float]:
    """Frames -> the on_message that `on_message_of` makes on a fresh bus -> the strategy's on_quote."""
    bus, clock, portfolio = Bus(inline=inline), RealtimeClock(), Portfolio()
    deliver = on_message_of(bus, clock)
    manager = OrderManager(bus=bus, clock=clock, journal=Journal(None), portfolio=portfolio,
                           risk=RiskEngine(RiskLimits(), portfolio), venues={})
    strategy, host = await timed_strategy(manager, iid, venue)
    out = await delivery_latencies(deliver, frames, strategy.stamps, inline=inline)
    await host.stop()
    return out


async def fill_desk(make_venue: Callable[[VenueContext], V], inst: Instrument, number: str, qty: Decimal,
                    price: Decimal) -> tuple[V, Timed, StrategyHost, ev.Order]:
    """An order manager (journal in memory, inline bus) with `make_venue`'s venue behind it, whose
    place() answers PLACED as `number` without a venue; a started FillTimed strategy on `inst`; and a
    buy LIMIT of `qty` at `price` placed through them, for order updates to fill."""
    bus, clock, portfolio = Bus(inline=True), RealtimeClock(), Portfolio()
    portfolio.instruments[inst.id] = inst
    manager = OrderManager(bus=bus, clock=clock, journal=Journal(None), portfolio=portfolio,
                           risk=RiskEngine(RiskLimits(check_balance=False), portfolio), venues={})
    venue = make_venue(VenueContext(name=inst.venue, bus=bus, clock=clock, sink=manager, state_dir=Path("var"), mode="live"))

    async def placed(order: ev.Order) -> ev.OrderReport:  # the venue's answer, without a venue
        return ev.OrderReport(venue=inst.venue, status=OrderStatus.PLACED, client_order_id=order.client_order_id,
                              venue_order_id=number, instrument=order.instrument, side=order.side)

    venue.place = placed  # type: ignore[method-assign]
    manager.venues = {inst.venue: venue}
    manager.ready = True  # nothing to reconcile: no venue behind it
    strategy, host = await timed_strategy(manager, inst.id, inst.venue, FillTimed)
    order = manager.submit(strategy_id="timed", instrument=inst.id, venue=inst.venue, side=ev.Side.BUY, qty=qty,
                           type=ev.OrderType.LIMIT, price=price, tif=ev.TimeInForce.DAY)
    for _ in range(1000):
        if manager.orders[order.client_order_id].status is OrderStatus.PLACED:
            break
        await asyncio.sleep(0)
    return venue, strategy, host, order


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    quiet_logs()
    run_on_best_loop(main(args.events))
