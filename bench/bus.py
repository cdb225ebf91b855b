"""Bus throughput: one direct subscriber, four queued subscribers, and a plain asyncio.Queue fan-out
measured in the same run for the ratio. Prints figures; asserts nothing.

    python bench/bus.py [--events N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import loop_name, machine, quiet_logs, run_on_best_loop  # noqa: E402
from engine.data.bus import Bus  # noqa: E402
from engine.events import Quote  # noqa: E402

SUBSCRIBERS = 4
BATCH = 4096  # events published between yields, as a feed publishing a burst of frames would


def make_quotes(n: int) -> list[Quote]:
    instruments = [f"sim:I{i}" for i in range(8)]
    return [Quote(instruments[i % 8], 100.0, 100.5, 1.0, 1.0, i, i) for i in range(n)]


def bench_direct(quotes: list[Quote]) -> float:
    bus = Bus()
    seen = [0]

    def handler(q: Quote) -> None:
        seen[0] += 1

    bus.subscribe(Quote, handler)
    publish = bus.publish
    t0 = time.perf_counter()
    for q in quotes:
        publish(q, q.instrument)
    elapsed = time.perf_counter() - t0
    assert seen[0] == len(quotes)
    return len(quotes) / elapsed


async def bench_queued(quotes: list[Quote]) -> float:
    bus = Bus(default_maxsize=len(quotes) + 1)
    counts = [0] * SUBSCRIBERS
    subs = []
    for i in range(SUBSCRIBERS):
        def handler(q: Quote, i: int = i) -> None:
            counts[i] += 1
        sub = bus.queued(f"s{i}", handler)
        sub.subscribe(Quote)
        sub.start()
        subs.append(sub)
    await asyncio.sleep(0)
    publish = bus.publish
    n = len(quotes)
    t0 = time.perf_counter()
    for start in range(0, n, BATCH):
        for q in quotes[start:start + BATCH]:
            publish(q, q.instrument)
        await asyncio.sleep(0)
    while min(counts) < n:
        await asyncio.sleep(0)
    elapsed = time.perf_counter() - t0
    for sub in subs:
        await sub.stop(drain=False)
    return n * SUBSCRIBERS / elapsed


async def bench_asyncio_queue(quotes: list[Quote]) -> float:
    queues: list[asyncio.Queue[Quote]] = [asyncio.Queue() for _ in range(SUBSCRIBERS)]
    counts = [0] * SUBSCRIBERS
    n = len(quotes)

    async def consume(i: int) -> None:
        q = queues[i]
        while counts[i] < n:
            await q.get()
            counts[i] += 1

    tasks = [asyncio.create_task(consume(i)) for i in range(SUBSCRIBERS)]
    await asyncio.sleep(0)
    t0 = time.perf_counter()
    for start in range(0, n, BATCH):
        for q in quotes[start:start + BATCH]:
            for queue in queues:
                queue.put_nowait(q)
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    return n * SUBSCRIBERS / elapsed


async def main(n: int) -> None:
    quotes = make_quotes(n)
    bench_direct(quotes[:10_000])  # warm-up
    direct = max(bench_direct(quotes) for _ in range(3))
    queued = max([await bench_queued(quotes) for _ in range(3)])
    baseline = max([await bench_asyncio_queue(quotes) for _ in range(3)])
    print(f"machine: {machine()}  loop: {loop_name()}  events: {n:,}")
    print(f"direct, 1 subscriber      : {direct:>13,.0f} events/s   (target >= 5,000,000)")
    print(f"queued, {SUBSCRIBERS} subscribers     : {queued:>13,.0f} deliveries/s (target >= 1,000,000)")
    print(f"asyncio.Queue fan-out, {SUBSCRIBERS}  : {baseline:>13,.0f} deliveries/s")
    print(f"queued bus / asyncio.Queue : {queued / baseline:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    quiet_logs()
    run_on_best_loop(main(args.events))
