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
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import msgspec  # noqa: E402

from adapters.paper.broker import PaperBroker, PaperConfig  # noqa: E402
from bench._common import delivery_latencies, loop_name, machine, quiet_logs, run_on_best_loop, show  # noqa: E402
from engine.account.portfolio import Portfolio  # noqa: E402
from engine.account.risk import RiskEngine, RiskLimits  # noqa: E402
from engine.clock import RealtimeClock  # noqa: E402
from engine.data.bus import Bus  # noqa: E402
from engine.events import Instrument, OrderStatus, OrderUpdate, Quote  # noqa: E402
from engine.orders.journal import Journal  # noqa: E402
from engine.orders.manager import OrderManager  # noqa: E402
from engine.strategy.base import Strategy, StrategyContext, StrategyHost  # noqa: E402
from engine.venue.contract import VenueContext  # noqa: E402

INSTRUMENT = "sim:BTC-KRW"


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


async def quote_path(n: int, inline: bool, workdir: Path) -> list[float]:
    bus, strategy, host, manager, _ = await build(inline, workdir / f"q{inline}.sqlite")
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


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        inline = await quote_path(n, True, workdir)
        queued = await quote_path(n, False, workdir)
        orders = await order_path(max(n // 20, 200), workdir)
    print(f"machine: {machine()}  loop: {loop_name()}  events: {n:,}")
    show("frame -> decode -> bus -> strategy (inline)", inline, "(target: median <= 2 us, p99 <= 10 us)")
    show("frame -> decode -> bus -> strategy (queued)", queued, "(same target; includes waking the strategy's task)")
    show("strategy buy() -> paper broker placed", orders, "(risk, journal commit, manager, broker)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    quiet_logs()
    run_on_best_loop(main(args.events))
