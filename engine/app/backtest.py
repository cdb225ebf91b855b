"""Driving a backtest: where the simulated clock starts and ends, and the replay loop that moves
it event by event through the bus (no per-event await; orders get loop turns only when in flight)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import heapq
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from engine.app.progress import ProgressLine
from engine.clock import SimulatedClock
from engine.errors import UserError
from engine.events import Bar

if TYPE_CHECKING:
    from engine.app.runner import Engine

NS = 1_000_000_000
DEFAULT_S = 3600.0  # a generated (endless) source with no duration, --to or data end
VENUE_BARS = "venue"
DATA_END = 2**62  # no end but the data's


def place_clock(engine: Engine) -> None:
    """Start the simulated clock at `--from`, else the config's `start:`, else where the
    recorded data begins (the earliest first row of the venues that have one)."""
    clock = engine.clock
    assert isinstance(clock, SimulatedClock)
    if engine.from_ns is not None:
        clock.reset(engine.from_ns)
        return
    if engine.plan.start_ns is not None:
        return
    starts = [ts for v in engine.venues.values() if (ts := v.replay_start_ns()) is not None]
    if starts:
        clock.reset(min(starts))


def end_of(engine: Engine, start: int) -> tuple[int, str | None]:
    """The last simulated time, and why it ends there (None: a duration)."""
    if engine.to_ns is not None:
        if engine.to_ns < start:
            raise UserError("--to: before the backtest's start")
        return engine.to_ns, "to --to"
    if engine.duration_s is not None:
        return start + int(engine.duration_s * NS), None
    if any(v.replay_start_ns() is not None for v in engine.venues.values()):
        return DATA_END, "to the data's end"
    return start + int(DEFAULT_S * NS), None


def replay_streams(engine: Engine, start: int, end: int) -> Iterator[Any]:
    streams = []
    for venue in engine.venues.values():
        try:
            streams.append(venue.replay(start, end))
        except UserError:
            raise
        except Exception as exc:
            raise UserError(f"{engine.plan.file}: venues.{venue.name}: cannot replay market data ({exc})") from None
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=lambda e: e.ts_event)


# A replay makes and drops a few objects per event: with the default 700, the collector's young
# generation ran ~360 times a 200,000-quote dense-order run and cost ~10% of it (bench/replay.py)
_GEN0_THRESHOLD = 10_000


@contextlib.contextmanager
def collector_for_throughput() -> Iterator[None]:
    """While a backtest replays: what the engine built before it (long-lived) is kept out of the
    collector's passes, and its young generation is collected 14x less often; restored after."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(_GEN0_THRESHOLD, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


async def run_backtest(engine: Engine) -> None:
    with collector_for_throughput():
        await _replay(engine)


async def _replay(engine: Engine) -> None:
    clock = engine.clock
    assert isinstance(clock, SimulatedClock)
    start = clock.now_ns()
    end, named = end_of(engine, start)
    progress = ProgressLine(sys.stderr, start, None if end == DATA_END else end) if engine.show_progress else None
    publish = engine.bus.publish
    advance = clock.advance_to
    bus = engine.bus
    manager = engine.manager
    stop = engine.stop_event
    # the collections behind bus.has_pending and manager.busy, and the clock's timers: checked
    # per event (a method call each would cost more than the rest of the loop)
    pending = bus._inline_pending
    in_flight = manager._tasks
    ready, run_ready = manager.execution.ready, manager.execution.run_ready
    timers = clock._heap
    book = manager.book
    count = 0
    last = start
    try:
        for event in replay_streams(engine, start, end):
            ts = event.ts_event
            if ts > end:
                break
            if timers and timers[0][0] <= ts:
                advance(ts)
            elif ts > clock._now:
                clock._now = ts
            last = ts
            if event.__class__ is Bar:
                publish(event, (event.instrument, event.interval_s, VENUE_BARS))
            else:
                publish(event, event.instrument)
            if pending:
                await bus.settle()
            if ready:
                run_ready()  # the paper account's requests, at once: no loop turn per order
            if in_flight:
                await engine._let_orders_run()
            count += 1
            if not count & 0xFFFF:
                book.flush()  # the journal commits here and before each request, not every turn
                await asyncio.sleep(0)  # signals and other tasks get a turn
                if progress is not None:
                    progress.update(ts, count)
                if stop.is_set():
                    return
    finally:
        book.flush()
        if progress is not None:
            progress.update(last, count)
            progress.done()
    advance(end if end != DATA_END else last)
    if bus.has_pending:
        await bus.settle()
    # Requests still in flight (waiting out their latency on the simulated clock) finish
    # now, while the strategies still listen: they see the outcome of every order they sent.
    await engine._with_clock(manager.settle())
    covered = (clock.now_ns() - start) / NS
    engine.stop_reason = f"backtest of {covered:g}s simulated" + (f" ({named})" if named else "")
