"""GOPAX websocket hot path: an `OrderBookEvent` frame, as read from the socket, to the Quote in a
strategy's `on_quote`: decode (msgspec, one pass), apply to the local book, publish on the bus.

The clock starts where the feed receives the frame's text (`on_message`, right after the socket
read) and stops inside the strategy's callback. Two arrangements: every subscriber inline (the
backtest arrangement: the feed's own cost) and the strategy on its own queue and task (the live
arrangement: includes waking that task). Every frame moves the top of the book, so each one makes
a Quote. Prints figures; asserts nothing.

    python bench/gopax_ws.py [--events N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from adapters.gopax import schemas as w  # noqa: E402
from adapters.gopax.feed import GopaxFeed  # noqa: E402
from bench._common import delivery_latencies, loop_name, machine, quiet_logs, run_on_best_loop, show  # noqa: E402
from engine.clock import RealtimeClock  # noqa: E402
from engine.data.bus import Bus  # noqa: E402
from engine.events import Quote  # noqa: E402
from engine.strategy.base import Strategy, StrategyContext, StrategyHost  # noqa: E402

PAIR = "BTC-KRW"
IID = f"gopax:{PAIR}"
FIRST_ID = 84_563_416
BID, ASK, TICK = 135_000_000, 135_001_000, 1000


def snapshot_frame(levels: int = 50) -> str:
    bids = [w.BookEntry(FIRST_ID - 1 - i, BID - i * TICK, 0.5 + i * 0.01, 1_790_000_000.0) for i in range(levels)]
    asks = [w.BookEntry(FIRST_ID - 1 - levels - i, ASK + i * TICK, 0.4 + i * 0.01, 1_790_000_000.0) for i in range(levels)]
    payload = {"ask": asks, "bid": bids, "tradingPairName": PAIR, "maxEntryId": FIRST_ID - 1}
    return w.encode({"i": f"pair:{PAIR}", "n": "SubscribeToTradingPair", "o": payload}).decode()


def delta_frames(n: int) -> list[str]:
    """One entry a frame, as GOPAX sends them; each changes the size at the best bid or ask."""
    frames = []
    for i in range(n):
        entry = w.BookEntry(FIRST_ID + i, float(BID if i % 2 else ASK), 0.3 + (i % 97) * 0.001, 1_790_000_001.0 + i / 1000)
        side = {"ask": [], "bid": [entry]} if i % 2 else {"ask": [entry], "bid": []}
        frames.append(w.encode({"i": -1, "n": "OrderBookEvent", "o": {**side, "tradingPairName": PAIR}}).decode())
    return frames


class Timed(Strategy):
    def on_start(self) -> None:
        self.stamps: list[int] = []

    def on_quote(self, quote: Quote) -> None:
        self.stamps.append(time.perf_counter_ns())


async def run(n: int, inline: bool) -> list[float]:
    bus = Bus(inline=inline)
    clock = RealtimeClock()
    feed = GopaxFeed("gopax", "ws://unused", bus=bus, clock=clock, client=None)  # type: ignore[arg-type]
    await feed.watch([PAIR])
    feed.on_message(snapshot_frame())
    ctx = StrategyContext(id="timed", instruments=[IID], bus=bus, clock=clock, orders=None, portfolio=None, venue_for=lambda i: "gopax")  # type: ignore[arg-type]
    strategy = Timed(ctx, Strategy.Params())
    host = StrategyHost(strategy)
    await host.start()
    latencies = await delivery_latencies(feed.on_message, delta_frames(n), strategy.stamps, inline=inline)
    await host.stop()
    return latencies


def decode_only_ns(n: int) -> float:
    frames = delta_frames(n)
    decode = w.decode_frame
    started = time.perf_counter_ns()
    for frame in frames:
        decode(frame)
    return (time.perf_counter_ns() - started) / n


async def main(n: int) -> None:
    inline = await run(n, True)
    queued = await run(n, False)
    print(f"machine: {machine()}  loop: {loop_name()}  frames: {n:,}")
    print(f"{'decode of one OrderBookEvent frame':<44}: {decode_only_ns(n):6.0f} ns")
    show("GOPAX frame -> book -> strategy (inline)", inline, "(target: median <= 2 us beyond the socket read)")
    show("GOPAX frame -> book -> strategy (queued)", queued, "(includes waking the strategy's task)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    quiet_logs()
    run_on_best_loop(main(args.events))
