"""Resident memory of the order manager over a long run: orders placed, filled and finished through
the real manager, risk engine and on-disk journal, against a venue that acknowledges at once.

Prints resident memory every `--every` orders with finished orders retired (the default,
`keep_finished` 10,000) and, for the same number of orders in the same run, with every order kept
in memory (the behaviour before retirement); asserts nothing.

    python bench/order_memory.py [--orders 1000000] [--every 100000] [--kept-orders 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import machine, quiet_logs, run_on_best_loop  # noqa: E402
from engine.account.portfolio import Portfolio  # noqa: E402
from engine.account.risk import RiskEngine, RiskLimits  # noqa: E402
from engine.clock import RealtimeClock  # noqa: E402
from engine.data.bus import Bus  # noqa: E402
from engine.events import Balance, Fill, Instrument, Order, OrderReport, OrderStatus, OrderType, Side  # noqa: E402
from engine.orders.journal import Journal  # noqa: E402
from engine.orders.manager import OrderManager  # noqa: E402
from engine.venue.contract import Venue, VenueConfig, VenueContext  # noqa: E402

INSTRUMENT = Instrument(
    id="sim:BTC-KRW", venue="sim", symbol="BTC-KRW", base="BTC", quote="KRW", exchange="GOPAX",
    tick_size=Decimal("1"), lot_size=Decimal("0.0001"),
)
BATCH = 1_000


class AckingVenue(Venue):
    """Acknowledges every placement at once; fills are handed to the manager by the driver."""

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def instruments(self) -> Sequence[Instrument]:
        return [INSTRUMENT]

    async def place(self, order: Order) -> OrderReport:
        return OrderReport(venue="sim", client_order_id=order.client_order_id,
                           venue_order_id=f"v{order.client_order_id}", status=OrderStatus.PLACED)

    async def cancel(self, order: Order) -> OrderReport | None:
        return None

    async def open_orders(self) -> Sequence[OrderReport]:
        return []

    async def fills_since(self, since_ns: int) -> Sequence[Fill]:
        return []

    async def balances(self) -> Sequence[Balance]:
        return []


def rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


async def run(orders: int, every: int, keep_finished: int, journal_dir: Path) -> list[tuple[int, float, float]]:
    """(orders so far, resident MB, orders/s of the last stretch) every `every` orders."""
    clock = RealtimeClock()
    bus = Bus()
    portfolio = Portfolio({INSTRUMENT.id: INSTRUMENT})
    risk = RiskEngine(RiskLimits(check_balance=False), portfolio)
    journal = Journal(journal_dir / f"journal-{keep_finished}.sqlite")
    venue = AckingVenue(VenueContext(name="sim", bus=bus, clock=clock, sink=None), VenueConfig())  # type: ignore[arg-type]
    manager = OrderManager(bus=bus, clock=clock, journal=journal, portfolio=portfolio, risk=risk,
                           venues={"sim": venue}, keep_finished=keep_finished)
    await manager.recover()
    samples = []
    started = time.perf_counter()
    side = Side.BUY
    for done in range(0, orders, BATCH):
        batch = [manager.submit(strategy_id="s1", instrument=INSTRUMENT.id, venue="sim", side=side,
                                qty=Decimal("0.001"), type=OrderType.LIMIT, price=Decimal("100"))
                 for _ in range(BATCH)]
        await manager.settle()
        now = clock.now_ns()
        for order in batch:
            manager.on_fill(Fill(venue="sim", instrument=INSTRUMENT.id, side=side, qty=Decimal("0.001"),
                                 price=Decimal("100"), fee=Decimal("0"), fill_id=f"f{order.client_order_id}",
                                 ts_event=now, client_order_id=order.client_order_id))
        side = Side.SELL if side is Side.BUY else Side.BUY
        await asyncio.sleep(0)  # the end-of-turn commit, and the retirement after it
        if (done + BATCH) % every == 0:
            gc.collect()
            elapsed = time.perf_counter() - started
            samples.append((done + BATCH, rss_mb(), every / elapsed))
            started = time.perf_counter()
    assert manager.stats.fills == orders
    journal.close()
    return samples


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=100_000)
    parser.add_argument("--kept-orders", type=int, default=200_000, help="orders for the keep-everything run")
    args = parser.parse_args(argv)
    quiet_logs()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, orders, keep in (("retired beyond 10,000 finished", args.orders, 10_000),
                                    ("every order kept in memory", args.kept_orders, 10**12)):
            base = rss_mb()
            samples = await run(orders, args.every, keep, Path(tmp))
            print(f"\n{label} ({orders:,} orders, resident MB at start {base:.0f}):")
            for n, mb, rate in samples:
                print(f"  {n:>9,} orders  {mb:8.1f} MB  {rate:9,.0f} orders/s")
            growth = (samples[-1][1] - samples[0][1]) / max(1, samples[-1][0] - samples[0][0]) * 1e6
            print(f"  growth after the first sample: {growth:,.1f} MB per million orders")


if __name__ == "__main__":
    run_on_best_loop(main())
