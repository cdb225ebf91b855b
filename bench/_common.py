"""Shared by the benchmarks: which machine, which event loop, percentiles."""

from __future__ import annotations

import asyncio
import platform
from collections.abc import Coroutine
from typing import Any


def machine() -> str:
    cpu = "unknown cpu"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def run_on_best_loop(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def loop_name() -> str:
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def quiet_logs() -> None:
    """Logging as a real run configures it, at warning: benchmarks measure the engine, not the log."""
    from engine.log import configure

    configure("console", "warning")


async def delivery_latencies(deliver: Any, frames: list[Any], stamps: list[int], *, inline: bool) -> list[float]:
    """Microseconds from handing each frame to `deliver` until the strategy stamped it in `stamps`
    (queued: until its queue has run), sorted, the first tenth left out as warm-up."""
    import time

    out = []
    clock = time.perf_counter_ns
    for frame in frames:
        t0 = clock()
        deliver(frame)
        if not inline:
            for _ in range(100):
                if stamps:
                    break
                await asyncio.sleep(0)
        out.append((stamps.pop() - t0) / 1000)
    return sorted(out[len(out) // 10:])


class _Stamps(list[int]):
    """A strategy's stamp list that wakes a waiter once a stamp is in (the stamp was taken before)."""

    waiter: asyncio.Future[None] | None = None

    def append(self, stamp: int) -> None:
        super().append(stamp)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


async def socket_latencies(deliver: Any, frames: list[Any], strategy: Any) -> list[float]:
    """Microseconds from a loopback socket's `data_received` handing each frame to `deliver` (as a
    venue's feed gets it) until the queued `strategy` stamped it (its `stamps`): the loop's own
    turn is in it, the measuring task's is not. Sorted, the first tenth left out as warm-up."""
    import socket
    import time

    loop = asyncio.get_running_loop()
    clock = time.perf_counter_ns
    stamps = strategy.stamps = _Stamps()
    pending = iter(frames)
    sent = [0]

    class Feed(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            for _ in data:  # one byte a frame
                sent[0] = clock()
                deliver(next(pending))

    reader, writer = socket.socketpair()
    transport, _ = await loop.connect_accepted_socket(Feed, reader)
    out = []
    try:
        for _ in frames:
            stamps.waiter = loop.create_future()
            writer.send(b"x")
            await asyncio.wait_for(stamps.waiter, 10)
            out.append((stamps.pop() - sent[0]) / 1000)
    finally:
        transport.close()
        writer.close()
    return sorted(out[len(out) // 10:])


def show(label: str, values: list[float], target: str = "") -> None:
    print(f"{label:<44}: median {percentile(values, 0.5):6.2f} us   p99 {percentile(values, 0.99):7.2f} us   {target}".rstrip())
