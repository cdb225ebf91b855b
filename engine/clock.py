"""Clocks: a real-time clock (optionally accelerated) and a simulated clock driven by the data."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Any, Protocol

NS = 1_000_000_000


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """Engine time in integer nanoseconds since the epoch, and timers in that time."""

    def now_ns(self) -> int: ...

    def call_later(self, delay_s: float, fn: Callable[..., Any], *args: Any) -> TimerHandle: ...

    async def sleep(self, delay_s: float) -> None: ...


class RealtimeClock:
    """Wall-clock time; with `speed` > 1 and a `start_ns`, an accelerated replay of a session."""

    def __init__(self, *, speed: float = 1.0, start_ns: int | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._origin_wall = time.time_ns() if start_ns is None else start_ns
        self._origin_mono = time.perf_counter_ns()

    def now_ns(self) -> int:
        if self.speed == 1.0:
            return self._origin_wall + (time.perf_counter_ns() - self._origin_mono)
        return self._origin_wall + int((time.perf_counter_ns() - self._origin_mono) * self.speed)

    def call_later(self, delay_s: float, fn: Callable[..., Any], *args: Any) -> TimerHandle:
        return asyncio.get_running_loop().call_later(max(delay_s, 0.0) / self.speed, fn, *args)

    async def sleep(self, delay_s: float) -> None:
        await asyncio.sleep(max(delay_s, 0.0) / self.speed)


class _SimTimer:
    __slots__ = ("when", "fn", "args", "cancelled")

    def __init__(self, when: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.when = when
        self.fn = fn
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class SimulatedClock:
    """Time moves only when the driver calls `advance_to`; due timers fire in time order."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns
        self._heap: list[tuple[int, int, _SimTimer]] = []
        self._seq = itertools.count()

    def now_ns(self) -> int:
        return self._now

    def reset(self, start_ns: int) -> None:
        """Start at `start_ns` instead (a backtest learns where its data begins); before any timer."""
        if self.next_timer_ns is not None:
            raise RuntimeError("cannot move a simulated clock that has timers set")
        self._now = start_ns

    def call_later(self, delay_s: float, fn: Callable[..., Any], *args: Any) -> TimerHandle:
        return self.call_at(self._now + int(max(delay_s, 0.0) * NS), fn, *args)

    def call_at(self, when_ns: int, fn: Callable[..., Any], *args: Any) -> TimerHandle:
        timer = _SimTimer(max(when_ns, self._now), fn, args)
        heapq.heappush(self._heap, (timer.when, next(self._seq), timer))
        return timer

    async def sleep(self, delay_s: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.call_later(delay_s, _resolve, fut)
        await fut

    @property
    def next_timer_ns(self) -> int | None:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def advance_to(self, ts_ns: int) -> int:
        """Fire every timer due at or before `ts_ns`, then set the time; returns timers fired."""
        fired = 0
        heap = self._heap
        while heap and heap[0][0] <= ts_ns:
            when, _, timer = heapq.heappop(heap)
            if timer.cancelled:
                continue
            self._now = max(self._now, when)
            timer.fn(*timer.args)
            fired += 1
        if ts_ns > self._now:
            self._now = ts_ns
        return fired


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class Repeating:
    """Calls `fn` every `interval_s` of engine time until cancelled."""

    def __init__(self, clock: Clock, interval_s: float, fn: Callable[[], Any]) -> None:
        if interval_s <= 0:
            raise ValueError("interval must be positive")
        self._clock = clock
        self._interval = interval_s
        self._fn = fn
        self._handle: TimerHandle | None = clock.call_later(interval_s, self._tick)

    def _tick(self) -> None:
        if self._handle is None:
            return
        self._handle = self._clock.call_later(self._interval, self._tick)
        self._fn()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
