"""A REST poller: fetch on an interval with jitter, back off on errors, report changes."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import structlog

from engine.venue.retry import Backoff

log = structlog.get_logger("tickbus.feeds")

T = TypeVar("T")


class Poller(Generic[T]):
    """Polls `fetch` every `interval_s` (± `jitter`, a fraction); `on_change` on a new value.

    The first fetch happens at start. A failed fetch is counted and reported, and the next attempt
    waits the interval plus a backoff delay, so errors never make it poll faster than normal.
    """

    def __init__(
        self,
        name: str,
        fetch: Callable[[], Awaitable[T]],
        on_change: Callable[[T], None],
        *,
        interval_s: float,
        jitter: float = 0.1,
        rng: random.Random | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        if not 0 <= jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        self.name = name
        self.jitter = jitter
        self.requests = 0
        self.changes = 0
        self.errors = 0
        self._fetch = fetch
        self._on_change = on_change
        self._on_error = on_error
        self._interval = interval_s
        self._rng = rng or random.Random()
        self._backoff = backoff or Backoff(rng=self._rng)
        self._last: Any = _UNSET
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._poked = False
        self._rearm = False

    @property
    def interval_s(self) -> float:
        return self._interval

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def value(self) -> T | None:
        """The last value fetched (None before the first success)."""
        return None if self._last is _UNSET else self._last

    def start(self) -> None:
        """Start polling; must be called inside a running event loop."""
        if self.running:
            return
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"poller:{self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def set_interval(self, interval_s: float) -> None:
        """Change the interval; a shorter one also cuts the sleep in progress short."""
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        shorter = interval_s < self._interval
        self._interval = interval_s
        if shorter and self._wake is not None:
            self._rearm = True
            self._wake.set()

    def poke(self) -> None:
        """Poll now; a poke during a fetch makes the next poll follow it at once."""
        self._poked = True
        if self._wake is not None:
            self._wake.set()

    def _next_delay(self) -> float:
        if not self.jitter:
            return self._interval
        return self._interval * (1.0 + self._rng.uniform(-self.jitter, self.jitter))

    async def _run(self) -> None:
        while True:
            self._poked = False
            self.requests += 1
            try:
                value = await self._fetch()
                if value != self._last:
                    self._on_change(value)
                    # remembered only once delivered: a failed on_change is delivered again
                    self._last = value
                    self.changes += 1
            except Exception as exc:
                self.errors += 1
                self._report(exc)
                delay = self._next_delay() + self._backoff.next()
            else:
                self._backoff.reset()
                delay = self._next_delay()
            await self._sleep(delay)

    async def _sleep(self, delay: float) -> None:
        wake = self._wake
        assert wake is not None
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + delay
        while not self._poked:
            if self._rearm:
                self._rearm = False
                deadline = min(deadline, started + self._next_delay())
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            wake.clear()
            try:
                async with asyncio.timeout(remaining):
                    await wake.wait()
            except TimeoutError:
                return

    def _report(self, exc: BaseException) -> None:
        if self._on_error is None:
            log.warning("poll failed", poller=self.name, error=repr(exc), errors=self.errors)
            return
        try:
            self._on_error(exc)
        except Exception as hook_exc:  # the error hook must not stop the poller
            log.warning("poller error hook failed", poller=self.name, error=repr(hook_exc))


_UNSET: Any = object()
