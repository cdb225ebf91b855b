"""The moving-window rate limiter every venue client shares (per key, process-wide)."""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import deque
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger("tickbus.feeds")

class RateLimiter:
    """At most `limit` calls in any moving window of `window_s` seconds; waiters are served FIFO.

    Each acquire reserves its slot synchronously (the loop is single-threaded, so there is no
    await between looking and booking) and then sleeps until that slot: arrival order is service
    order, and no lock is needed, so one limiter can serve any number of tasks and event loops.
    `slack` (seconds, default 5% of the window) widens the window to stay safely under the venue's.

    The venue counts requests when they arrive, which can be later than when they were booked (a
    busy loop, a slow connection): bunched arrivals would then overrun its window. A caller that
    reports `complete(booked_at)` when the answer came moves that request's stamp to the answer's
    time, which is no earlier than the venue saw it: later slots then count from there.

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
        self.waited_s = 0.0
        self._span = window_s + self.slack
        # booked call times, non-decreasing; times in the future belong to sleeping waiters
        self._stamps: deque[float] = deque()

    def _book(self, cost: int) -> float:
        """Book `cost` calls at the earliest time they fit; returns that time."""
        if not 1 <= cost <= self.limit:
            raise ValueError(f"cost must be between 1 and {self.limit}, got {cost}")
        now = self._now()
        stamps = self._stamps
        horizon = now - self._span
        while stamps and stamps[0] <= horizon:
            stamps.popleft()
        at = now
        if stamps:
            at = max(at, stamps[-1])  # never ahead of an earlier waiter
            # the window ending at `at` may hold limit - cost earlier calls at most
            blocker = len(stamps) - (self.limit - cost) - 1
            if blocker >= 0:
                at = max(at, stamps[blocker] + self._span)
        stamps.extend([at] * cost)
        self.calls += cost
        return at - now

    async def acquire(self, cost: int = 1) -> float:
        """Wait until `cost` calls fit in the window (FIFO among waiters); returns the booked time."""
        delay = self._book(cost)
        booked_at = self._stamps[-1]
        while delay > 0:
            self.waited_s += delay
            await self._sleep(delay)
            # calls booked before this one may have been answered late since (see `complete`):
            # counted from their answers, they can still fill the window this one was given
            later = self._earliest(booked_at, cost)
            delay = later - self._now()
            if later > booked_at:
                self._move(booked_at, later, cost)
                booked_at = later
        return booked_at

    def _earliest(self, booked_at: float, cost: int) -> float:
        """The earliest time the `cost` calls booked at `booked_at` fit, given the calls before them."""
        before = list(self._stamps)
        for _ in range(cost):
            before.remove(booked_at)
        before = [t for t in before if t <= booked_at]
        blocker = len(before) - (self.limit - cost) - 1
        return max(booked_at, before[blocker] + self._span) if blocker >= 0 else booked_at

    def _move(self, old: float, new: float, cost: int) -> None:
        stamps = list(self._stamps)
        for _ in range(cost):
            stamps.remove(old)
            bisect.insort(stamps, new)
        self._stamps = deque(stamps)

    def complete(self, booked_at: float, cost: int = 1) -> None:
        """The call booked at `booked_at` has its answer: count it from now, when it surely landed."""
        now = self._now()
        if now <= booked_at or self._stamps.count(booked_at) < cost:
            return  # answered before its slot, or already out of the window
        self._move(booked_at, now, cost)

    def try_acquire(self, cost: int = 1) -> bool:
        """Take `cost` calls now if they fit without waiting (never ahead of a waiter)."""
        if not 1 <= cost <= self.limit:
            raise ValueError(f"cost must be between 1 and {self.limit}, got {cost}")
        now = self._now()
        stamps = self._stamps
        if stamps and stamps[-1] > now:
            return False  # a waiter is booked ahead
        horizon = now - self._span
        if sum(1 for t in stamps if t > horizon) + cost > self.limit:
            return False
        self._book(cost)  # fits now, so it books at once
        return True

    def stats(self) -> dict[str, float]:
        return {"calls": self.calls, "waited_s": self.waited_s}

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
