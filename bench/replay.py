"""A million synthetic quotes through the whole engine at unlimited speed (a backtest): the
synthetic venue, the bus, the portfolio marks, the paper broker's matching, and a strategy.
A second run places a market order every 1,000 quotes; the difference between the two runs,
divided by the orders, is the engine's cost per simulated order (risk, journal, manager,
paper broker, fills, portfolio). Prints figures; asserts nothing.

    python bench/replay.py [--quotes N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import msgspec  # noqa: E402

from bench._common import loop_name, machine, quiet_logs, run_on_best_loop  # noqa: E402
from engine.app.config import load_config  # noqa: E402
from engine.app.runner import Engine  # noqa: E402
from strategies import Quote, Strategy  # noqa: E402


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


async def run_once(quotes: int, every: int, workdir: Path, journal: str = "null", *,
                   preload: bool = False) -> tuple[float, int, int]:
    """Seconds to replay `quotes` quotes, quotes the strategy saw, fills. `preload`: the quotes are
    made before the clock starts (as NautilusTrader's `add_data` has them), not by the walk as
    they are replayed."""
    path = workdir / f"replay_{every}.yaml"
    if journal == "file":
        journal = str(workdir / f"journal_{every}_{time.perf_counter_ns()}.sqlite")
    path.write_text(CONFIG.format(journal=journal, every=every))
    plan = load_config(path)
    seconds = quotes * 10 / 1000  # one quote every 10 ms of simulated time
    engine = Engine(plan, duration_s=seconds)
    await engine.start()
    if preload:
        venue = engine.venues["sim"]
        start = engine.clock.now_ns()
        made = list(venue.replay(start, start + int(seconds * 1e9)))
        venue.replay = lambda start_ns, end_ns: iter(made)  # type: ignore[method-assign]
    t0 = time.perf_counter()
    await engine.run()
    elapsed = time.perf_counter() - t0
    await engine.stop()
    strategy = engine.hosts[0].strategy
    return elapsed, strategy.seen, engine.manager.stats.fills  # type: ignore[attr-defined]


async def best(quotes: int, every: int, workdir: Path, journal: str = "null", runs: int = 3) -> tuple[float, int, int]:
    results = [await run_once(quotes, every, workdir, journal) for _ in range(runs)]
    return min(results)


def per_order_us(with_orders: tuple[float, int, int], per_quote_s: float, every: int) -> float:
    elapsed, seen, _ = with_orders
    orders = seen // every
    return (elapsed - seen * per_quote_s) / orders * 1e6


async def main(quotes: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        await run_once(20_000, 0, workdir)  # warm-up
        plain = await best(quotes, 0, workdir)
        sparse = await best(quotes, 1000, workdir)
        dense_quotes = max(quotes // 5, 20_000)
        dense = await best(dense_quotes, 10, workdir)
        dense_file = await best(dense_quotes, 10, workdir, journal="file")
    per_quote = plain[0] / plain[1]
    print(f"machine: {machine()}  loop: {loop_name()}  (best of 3 runs each)")
    print(f"quotes through the engine        : {plain[1]:,} in {plain[0]:.2f} s = {plain[1] / plain[0]:,.0f} quotes/s (target >= 380,000)")
    print(f"with a market order every 1,000  : {sparse[1]:,} quotes, {sparse[2]:,} fills in {sparse[0]:.2f} s = {sparse[1] / sparse[0]:,.0f} quotes/s")
    print(f"engine cost per order, every 1000: {per_order_us(sparse, per_quote, 1000):6.1f} us (target <= 50 us; journal in memory, the backtest default)")
    print(f"engine cost per order, every 10  : {per_order_us(dense, per_quote, 10):6.1f} us ({dense[2]:,} fills: the steadier figure)")
    print(f"  the same with a file journal   : {per_order_us(dense_file, per_quote, 10):6.1f} us (SQLite WAL on disk, as in paper and live runs)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quotes", type=int, default=1_000_000)
    args = parser.parse_args()
    quiet_logs()
    run_on_best_loop(main(args.quotes))


