"""The moving-window rate limiter every venue client shares (per key, process-wide)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger("tickbus.feeds")

class _Waiter:
    __slots__ = ("granted", "cost", "held")

    def __init__(self, granted: asyncio.Future[float], cost: int, held: bool) -> None:
        self.granted = granted
        self.cost = cost
        self.held = held


class Slot:
    """A call in flight: it counts against the window until `release()` (its answer), then a
    whole window from there. Releasing twice is harmless."""

    __slots__ = ("_limiter", "cost", "booked_at")

    def __init__(self, limiter: RateLimiter, cost: int, booked_at: float) -> None:
        self._limiter: RateLimiter | None = limiter
        self.cost = cost
        self.booked_at = booked_at

    def release(self) -> None:
        limiter, self._limiter = self._limiter, None
        if limiter is not None:
            limiter._release(self.cost)


class RateLimiter:
    """At most `limit` calls in any moving window of `window_s` seconds; waiters are served FIFO.

    The venue counts a request when it arrives, and we cannot know when that is: any time between
    sending it and reading its answer. So a call taken with `hold()` counts against every window
    from when it is sent until its `Slot` is released (the answer came, or it failed), and then for
    one whole window more. Whatever the latency, reordering or queueing on the way, the venue then
    never sees more than `limit` arrivals in one of its windows: at any instant inside such a window
    every call that arrived in it is still counted here. `acquire()` is for calls with no answer to
    wait for (a message on an open socket): counted from when they are taken.

    `slack` (seconds, default 5% of the window) widens the window against clock differences.
    `now` and `sleep` are the clock it books and waits on (monotonic seconds and asyncio's sleep
    unless given): tests drive it on a manual clock, so nothing they check depends on timing.
    """

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        slack: float | None = None,
        name: str = "",
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        self.limit = limit
        self.window_s = window_s
        self.slack = window_s * 0.05 if slack is None else slack
        self.name = name
        self._now = now
        self._sleep = sleep
        self.calls = 0
        self.waited_s = 0.0  # summed over every caller that waited
        self.longest_wait_s = 0.0
        self.peak = 0  # most calls that could have landed within one of the venue's windows
        self._span = window_s + self.slack
        self._stamps: deque[float] = deque()  # when finished calls were last possibly seen, non-decreasing
        self._held = 0  # calls in flight: they count against every window until released
        self._queue: deque[_Waiter] = deque()  # FIFO: served in arrival order
        self._timer: asyncio.Task[None] | None = None  # wakes the queue when the head's slot comes

    # --- taking a slot -----------------------------------------------------------------------

    async def hold(self, cost: int = 1) -> Slot:
        """Wait for `cost` calls to fit; they count until the returned slot is released."""
        return Slot(self, cost, await self._take(cost, held=True))

    async def acquire(self, cost: int = 1) -> float:
        """Wait for `cost` calls to fit, counted from now (no answer to wait for); returns the time."""
        return await self._take(cost, held=False)

    def try_acquire(self, cost: int = 1) -> bool:
        """Take `cost` calls now if they fit without waiting (never ahead of a waiter)."""
        self._check(cost)
        if self._queue or self._delay(cost) != 0.0:
            return False
        self._grant(cost, held=False)
        return True

    async def _take(self, cost: int, *, held: bool) -> float:
        self._check(cost)
        if not self._queue and self._delay(cost) == 0.0:
            return self._grant(cost, held=held)
        started = self._now()
        waiter = _Waiter(asyncio.get_running_loop().create_future(), cost, held)
        self._queue.append(waiter)
        self._pump()
        try:
            booked_at = await waiter.granted
        except BaseException:
            if waiter.granted.done() and not waiter.granted.cancelled():
                if held:  # granted, then cancelled before its call: the slot still counts a window
                    self._release(cost)
            else:
                self._queue.remove(waiter)
                self._pump()
            raise
        waited = booked_at - started
        self.waited_s += waited
        self.longest_wait_s = max(self.longest_wait_s, waited)
        return booked_at

    def _pump(self) -> None:
        """Serve the waiters that fit now, in order; set a timer for the first that does not."""
        queue = self._queue
        while queue:
            head = queue[0]
            if head.granted.done() or head.granted.get_loop().is_closed():
                queue.popleft()  # cancelled, or left behind by a finished event loop
                continue
            delay = self._delay(head.cost)
            if delay is None:
                return  # the next release pumps again
            if delay > 0.0:
                timer = self._timer
                if timer is None or timer.done() or timer.get_loop() is not asyncio.get_running_loop():
                    self._timer = asyncio.ensure_future(self._wake_after(delay))
                return
            queue.popleft()
            head.granted.set_result(self._grant(head.cost, held=head.held))

    async def _wake_after(self, delay: float) -> None:
        await self._sleep(delay)
        self._timer = None
        self._pump()

    def _grant(self, cost: int, *, held: bool) -> float:
        now = self._now()
        self.calls += cost
        start = now - self.window_s
        recent = 0
        for t in reversed(self._stamps):  # newest first: stops at the window's start
            if t <= start:
                break
            recent += 1
        self.peak = max(self.peak, self._held + recent + cost)
        if held:
            self._held += cost
        else:
            self._stamps.extend([now] * cost)
        return now

    def _check(self, cost: int) -> None:
        if not 1 <= cost <= self.limit:
            raise ValueError(f"cost must be between 1 and {self.limit}, got {cost}")

    def _delay(self, cost: int) -> float | None:
        """Seconds until `cost` more calls fit (0.0: now; None: not before a call in flight answers)."""
        now = self._now()
        stamps = self._stamps
        horizon = now - self._span
        while stamps and stamps[0] <= horizon:
            stamps.popleft()
        excess = self._held + len(stamps) + cost - self.limit
        if excess <= 0:
            return 0.0
        if excess > len(stamps):
            return None
        return max(stamps[excess - 1] + self._span - now, 1e-6)

    def _release(self, cost: int) -> None:
        self._held -= cost
        self._stamps.extend([self._now()] * cost)
        if self._queue:
            self._pump()

    def stats(self) -> dict[str, float]:
        """Calls made, seconds waited, and the busiest window against the limit (the headroom)."""
        return {"calls": self.calls, "waited_s": round(self.waited_s, 3), "longest_wait_s": round(self.longest_wait_s, 3),
                "peak": self.peak, "limit": self.limit}

    def __repr__(self) -> str:
        return f"RateLimiter({self.name!r}, {self.limit}/{self.window_s}s)"


_SHARED: dict[str, RateLimiter] = {}


def shared_limiter(key: str, limit: int, window_s: float) -> RateLimiter:
    """The process-wide limiter for `key` (e.g. "gopax:public:book"); created on first use.

    The first caller's limit and window win; a later caller asking for others gets a warning.
    """
    limiter = _SHARED.get(key)
    if limiter is None:
        limiter = _SHARED[key] = RateLimiter(limit, window_s, name=key)
    elif (limiter.limit, limiter.window_s) != (limit, window_s):
        log.warning(
            "shared limiter already configured differently",
            key=key,
            limit=limiter.limit,
            window_s=limiter.window_s,
            requested_limit=limit,
            requested_window_s=window_s,
        )
    return limiter


def clear_shared_limiters() -> None:
    """Forget every shared limiter (tests)."""
    _SHARED.clear()
