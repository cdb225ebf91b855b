"""A million synthetic quotes through the whole engine at unlimited speed (a backtest): the
synthetic venue, the bus, the portfolio marks, the paper broker's matching, and a strategy.
A second run places a market order every 1,000 quotes; the difference between the two runs,
divided by the orders, is the engine's cost per simulated order (risk, journal, manager,
paper broker, fills, portfolio). Prints figures; asserts nothing.

    python bench/replay.py [--quotes N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import loop_name, machine, quiet_logs, run_on_best_loop  # noqa: E402
from engine.config import load_config  # noqa: E402
from engine.runner import Engine  # noqa: E402
from strategies import Quote, Strategy  # noqa: E402

import msgspec  # noqa: E402


class Params(msgspec.Struct):
    order_every: int = 0


class QuoteCounter(Strategy):
    """Counts quotes; with `order_every`, alternates market buys and sells."""

    Params = Params

    def on_start(self) -> None:
        self.seen = 0
        self.side = 0

    def on_quote(self, quote: Quote) -> None:
        self.seen += 1
        every = self.params.order_every
        if every and self.seen % every == 0:
            self.side ^= 1
            if self.side:
                self.buy(quote.instrument, 1)
            else:
                self.sell(quote.instrument, 1)


CONFIG = """
mode: backtest
start: 2026-01-05T00:00:00Z
journal: {journal}
venues:
  sim:
    type: synthetic
    seed: 3
    interval_ms: 10
    instruments:
      - {{symbol: "BTC-KRW", price: 135000000, tick: 1000, size: 5, trade_prob: 0.0}}
paper:
  balances: {{KRW: 100000000000, BTC: 1000}}
  fees: {{bps: 4}}
strategies:
  - name: counter
    plugin: "bench.replay:QuoteCounter"
    instruments: ["sim:BTC-KRW"]
    params: {{order_every: {every}}}
"""


async def run_once(quotes: int, every: int, workdir: Path) -> tuple[float, int, int]:
    path = workdir / f"replay_{every}.yaml"
    journal = workdir / f"journal_{every}_{time.perf_counter_ns()}.sqlite"
    path.write_text(CONFIG.format(journal=journal, every=every))
    plan = load_config(path)
    seconds = quotes * 10 / 1000  # one quote every 10 ms of simulated time
    engine = Engine(plan, duration_s=seconds)
    await engine.start()
    t0 = time.perf_counter()
    await engine.run()
    elapsed = time.perf_counter() - t0
    await engine.stop()
    strategy = engine.hosts[0].strategy
    return elapsed, strategy.seen, engine.manager.stats.fills  # type: ignore[attr-defined]


async def main(quotes: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        await run_once(20_000, 0, workdir)  # warm-up
        plain, seen, _ = await run_once(quotes, 0, workdir)
        with_orders, seen2, fills = await run_once(quotes, 1000, workdir)
    orders = seen2 // 1000
    per_order_us = (with_orders - plain) / max(orders, 1) * 1e6
    print(f"machine: {machine()}  loop: {loop_name()}")
    print(f"quotes through the engine : {seen:,} in {plain:.2f} s = {seen / plain:,.0f} quotes/s (target >= 380,000)")
    print(f"with an order every 1,000 : {seen2:,} quotes, {orders:,} orders, {fills:,} fills in {with_orders:.2f} s = {seen2 / with_orders:,.0f} quotes/s")
    print(f"engine cost per order     : {per_order_us:.1f} us (target <= 50 us)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quotes", type=int, default=1_000_000)
    args = parser.parse_args()
    quiet_logs()
    run_on_best_loop(main(args.quotes))


