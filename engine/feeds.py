"""Building blocks of venue feeds: moving-window rate limiter, backoff, REST poller, websocket base.

Every venue adapter reuses these, so reconnecting, resubscribing, staleness and rate limits behave
the same everywhere. Nothing here blocks the loop: every wait is an asyncio sleep.
"""

from __future__ import annotations

import abc
import asyncio
import bisect
import contextlib
import random
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar

import aiohttp
import structlog

from engine.bus import Bus
from engine.clock import Clock
from engine.events import FeedState, FeedStatus

log = structlog.get_logger("tickbus.feeds")

T = TypeVar("T")
Frame = str | bytes

_FRAME_REPR_MAX = 200  # characters of a bad frame shown in a log line
# a feed gone bad must not flood the log: the first 10 malformed frames, then one in 1000
_MALFORMED_LOG_FIRST = 10
_MALFORMED_LOG_EVERY = 1000


_QUERY = re.compile(r"\?[^\s'\")]*")


def describe_error(exc: BaseException) -> str:
    """An error for a log line or a FeedStatus, without URL queries or headers: venues put
    signatures and tokens there (aiohttp's repr of a refused upgrade carries both)."""
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"{type(exc).__name__}: HTTP {exc.status} {exc.message}".rstrip()
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    return f"{type(exc).__name__}: {_QUERY.sub('?...', str(exc))}"


# --- rate limiting ---------------------------------------------------------------------------


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
    """

    def __init__(
        self, limit: int, window_s: float, *, slack: float | None = None, name: str = ""
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        self.limit = limit
        self.window_s = window_s
        self.slack = window_s * 0.05 if slack is None else slack
        self.name = name
        self.calls = 0
        self.waited_s = 0.0
        self._span = window_s + self.slack
        # booked call times, non-decreasing; times in the future belong to sleeping waiters
        self._stamps: deque[float] = deque()

    def _book(self, cost: int) -> float:
        """Book `cost` calls at the earliest time they fit; returns that time."""
        if not 1 <= cost <= self.limit:
            raise ValueError(f"cost must be between 1 and {self.limit}, got {cost}")
        now = time.monotonic()
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
            await asyncio.sleep(delay)
            # calls booked before this one may have been answered late since (see `complete`):
            # counted from their answers, they can still fill the window this one was given
            later = self._earliest(booked_at, cost)
            delay = later - time.monotonic()
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
        now = time.monotonic()
        if now <= booked_at or self._stamps.count(booked_at) < cost:
            return  # answered before its slot, or already out of the window
        self._move(booked_at, now, cost)

    def try_acquire(self, cost: int = 1) -> bool:
        """Take `cost` calls now if they fit without waiting (never ahead of a waiter)."""
        if not 1 <= cost <= self.limit:
            raise ValueError(f"cost must be between 1 and {self.limit}, got {cost}")
        now = time.monotonic()
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


# --- backoff ---------------------------------------------------------------------------------


class Backoff:
    """Exponential backoff, full jitter: delay n is uniform in [0, min(max, initial*factor**n)]."""

    def __init__(
        self,
        initial_s: float = 0.5,
        maximum_s: float = 30.0,
        factor: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        if initial_s <= 0 or maximum_s < initial_s or factor < 1:
            raise ValueError("need 0 < initial_s <= maximum_s and factor >= 1")
        self.initial_s = initial_s
        self.maximum_s = maximum_s
        self.factor = factor
        self._rng = rng or random.Random()
        self.attempts = 0
        self.ceiling = initial_s  # the upper bound of the next delay

    def next(self) -> float:
        delay = self._rng.uniform(0.0, self.ceiling)
        self.attempts += 1
        self.ceiling = min(self.maximum_s, self.ceiling * self.factor)
        return delay

    def reset(self) -> None:
        self.attempts = 0
        self.ceiling = self.initial_s


# --- REST poller -----------------------------------------------------------------------------


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


# --- websocket feed --------------------------------------------------------------------------


def _clip(data: Frame) -> str:
    return repr(data[:_FRAME_REPR_MAX]) + ("..." if len(data) > _FRAME_REPR_MAX else "")


class WebSocketFeed(abc.ABC):
    """A venue websocket feed: connect, subscribe, read, reconnect with backoff, watch staleness.

    Subclasses implement `on_message` (synchronous: decode and publish) and `subscribe_frames`,
    and may override `headers`, `connect_url` and `on_open`. Subscriptions are re-sent after every
    reconnect. State changes are published on the bus as `FeedStatus`, keyed by the venue name.
    """

    def __init__(
        self,
        venue: str,
        url: str,
        *,
        bus: Bus,
        clock: Clock,
        session: aiohttp.ClientSession | None = None,
        heartbeat_s: float | None = 20.0,
        backoff: Backoff | None = None,
        stale_after_s: float | None = None,
        connect_timeout_s: float = 10.0,
        reconnect_when_stale: bool = False,
        stable_after_s: float = 5.0,
        close_timeout_s: float = 2.0,
    ) -> None:
        self.venue = venue
        self.url = url
        self.bus = bus
        self.clock = clock
        self.heartbeat_s = heartbeat_s
        self.backoff = backoff or Backoff()
        self.stale_after_s = stale_after_s
        self.connect_timeout_s = connect_timeout_s
        self.reconnect_when_stale = reconnect_when_stale
        # a connection must stay up this long before the backoff resets, so a server that
        # accepts and drops at once is not hammered
        self.stable_after_s = stable_after_s
        self.close_timeout_s = close_timeout_s
        self.subscriptions: dict[str, None] = {}  # an ordered set
        self.messages = 0
        self.malformed = 0
        self.reconnects = 0
        self.connects = 0
        self._session = session
        self._owns_session = session is None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ready = False  # connected and on_open done
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self._loop_time: Callable[[], float] = time.monotonic
        self._sent: dict[str, float] = {}  # subscription -> when it was sent on this connection
        self._seen: dict[str, float] = {}  # subscription -> when its last message arrived
        self._stale: set[str] = set()
        self._close_reason: str | None = None  # why we closed the connection ourselves

    # --- hooks for subclasses -----------------------------------------------------------------

    async def headers(self) -> dict[str, str]:
        """Headers for the upgrade request, asked for on every connect."""
        return {}

    def connect_url(self) -> str:
        """The URL to connect to, asked for on every connect (e.g. freshly signed)."""
        return self.url

    def on_connect_error(self, exc: BaseException) -> None:
        """A connect or upgrade failed (e.g. aiohttp.WSServerHandshakeError with status 401: the
        venue refused the credentials); the feed retries after its backoff whatever this does."""

    async def on_open(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """After each (re)connect: authenticate, subscribe; unsent subscriptions follow it."""
        await self.send_subscriptions()

    @abc.abstractmethod
    def on_message(self, data: str | bytes) -> None:
        """Decode one frame and publish; synchronous. Raising counts the frame as malformed."""

    def subscribe_frames(self, keys: list[str]) -> list[Frame]:
        """The frames that subscribe `keys` (none for venues that subscribe through the URL)."""
        return []

    def unsubscribe_frames(self, keys: list[str]) -> list[Frame]:
        return []

    # --- public API ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._ready

    def start(self) -> None:
        """Start connecting; must be called inside a running event loop."""
        if self._task is not None and not self._task.done():
            return
        loop = asyncio.get_running_loop()
        self._loop_time = loop.time
        self._stopping = False
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        self._task = loop.create_task(self._run(), name=f"feed:{self.venue}")
        if self.stale_after_s:
            self._watchdog = loop.create_task(self._watch(), name=f"feed-watchdog:{self.venue}")

    async def stop(self) -> None:
        """Close the connection, stop the tasks and publish DISCONNECTED."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        ws = self._ws
        if ws is not None and not ws.closed:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.close_timeout_s):
                    await ws.close()
        tasks = [task, *self._sends]
        if self._watchdog is not None:
            tasks.append(self._watchdog)
            self._watchdog = None
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t
        self._ws = None
        self._ready = False
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None
        self._publish(FeedState.DISCONNECTED, detail="stopped")

    async def subscribe(self, *keys: str) -> None:
        """Add subscriptions; sent now if connected, and after every reconnect."""
        for key in keys:
            self.subscriptions[key] = None
        if self._ready:
            await self.send_subscriptions(keys)

    async def unsubscribe(self, *keys: str) -> None:
        sent = [key for key in keys if key in self._sent]
        for key in keys:
            self.subscriptions.pop(key, None)
            self._sent.pop(key, None)
            self._seen.pop(key, None)
            self._stale.discard(key)
        if self._ready and sent:
            for frame in self.unsubscribe_frames(sent):
                await self.send(frame)

    async def send_subscriptions(self, keys: Iterable[str] | None = None) -> None:
        """Send the subscribe frames of `keys` (default: all) not yet sent on this connection."""
        wanted = self.subscriptions if keys is None else keys
        pending = [k for k in wanted if k in self.subscriptions and k not in self._sent]
        if not pending:
            return
        now = self._loop_time()
        for key in pending:  # booked before the first await so a concurrent call cannot resend
            self._sent[key] = now
        for frame in self.subscribe_frames(pending):
            await self.send(frame)

    async def send(self, frame: Frame) -> None:
        """Send one frame on the current connection."""
        ws = self._ws
        if ws is None or ws.closed:
            raise ConnectionResetError(f"{self.venue}: websocket is not connected")
        if isinstance(frame, str):
            await ws.send_str(frame)
        else:
            await ws.send_bytes(frame)

    def send_nowait(self, frame: Frame) -> None:
        """Send from synchronous code (e.g. a pong from `on_message`); failures are logged."""
        task = asyncio.get_running_loop().create_task(self.send(frame))
        self._sends.add(task)
        task.add_done_callback(self._send_done)

    def mark(self, key: str) -> None:
        """Note that a message for subscription `key` arrived (feeds the staleness watchdog)."""
        self._seen[key] = self._loop_time()
        if self._stale and key in self._stale:
            self._stale.discard(key)
            self._publish(FeedState.CONNECTED, subscription=key, detail="resumed")

    def stats(self) -> dict[str, int]:
        return {
            "messages": self.messages,
            "malformed": self.malformed,
            "reconnects": self.reconnects,
            "connects": self.connects,
        }

    # --- internals ----------------------------------------------------------------------------

    def _send_done(self, task: asyncio.Task[None]) -> None:
        self._sends.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("send failed", venue=self.venue, error=repr(task.exception()))

    def _publish(
        self, state: FeedState, *, subscription: str | None = None, detail: str = ""
    ) -> None:
        status = FeedStatus(
            venue=self.venue,
            state=state,
            subscription=subscription,
            detail=detail,
            ts=self.clock.now_ns(),
        )
        self.bus.publish(status, self.venue)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            started = loop.time()
            try:
                detail = await self._connection()
            except Exception as exc:
                detail = describe_error(exc)
            finally:
                self._ws = None
                self._ready = False
                self._sent.clear()
            if self._stopping:
                break
            if loop.time() - started >= self.stable_after_s:
                self.backoff.reset()
            delay = self.backoff.next()
            self.reconnects += 1
            log.warning(
                "feed disconnected", venue=self.venue, detail=detail, retry_in_s=round(delay, 3)
            )
            self._publish(FeedState.RECONNECTING, detail=detail)
            await asyncio.sleep(delay)

    async def _connection(self) -> str:
        """One connection from connect to close; returns why it ended."""
        session = self._session
        assert session is not None
        url = self.connect_url()
        headers = await self.headers()
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                ws = await session.ws_connect(url, headers=headers, heartbeat=self.heartbeat_s)
        except Exception as exc:
            self.on_connect_error(exc)
            raise
        self._ws = ws
        self._close_reason = None
        try:
            self._sent.clear()
            await self.on_open(ws)
            # ready before the flush: a subscribe() from now on sends its own frames, and the
            # flush sends whatever was added while on_open ran
            self._ready = True
            await self.send_subscriptions()
            self.connects += 1
            self._publish(FeedState.CONNECTED)
            on_message = self.on_message
            detail = "closed"
            async for msg in ws:
                kind = msg.type
                if kind is aiohttp.WSMsgType.TEXT or kind is aiohttp.WSMsgType.BINARY:
                    self.messages += 1
                    try:
                        on_message(msg.data)
                    except Exception as exc:
                        self._malformed(msg.data, exc)
                elif kind is aiohttp.WSMsgType.ERROR:
                    detail = f"error: {ws.exception()!r}"
                    break
            else:
                detail = self._close_reason or f"closed (code {ws.close_code})"
            return detail
        finally:
            self._ready = False
            if not ws.closed:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(self.close_timeout_s):
                        await ws.close()

    def _malformed(self, data: Any, exc: Exception) -> None:
        self.malformed += 1
        n = self.malformed
        if n <= _MALFORMED_LOG_FIRST or n % _MALFORMED_LOG_EVERY == 0:
            log.warning(
                "malformed frame dropped",
                venue=self.venue,
                error=repr(exc),
                frame=_clip(data) if isinstance(data, (str, bytes)) else repr(type(data)),
                malformed=n,
            )

    async def _watch(self) -> None:
        """Publish STALE once for a subscription quiet longer than `stale_after_s`."""
        stale_after = self.stale_after_s
        assert stale_after
        period = stale_after / 4
        while True:
            await asyncio.sleep(period)
            if not self._ready:
                continue  # RECONNECTING already tells the story
            now = self._loop_time()
            went_stale: list[str] = []
            for key, sent_at in list(self._sent.items()):
                if key in self._stale:
                    continue
                quiet = now - max(sent_at, self._seen.get(key, sent_at))
                if quiet > stale_after:
                    self._stale.add(key)
                    went_stale.append(key)
                    self._publish(
                        FeedState.STALE, subscription=key, detail=f"no message for {quiet:.1f}s"
                    )
            if went_stale and self.reconnect_when_stale:
                ws = self._ws
                if ws is not None and not ws.closed:
                    self._close_reason = f"stale: {', '.join(went_stale)}"
                    log.warning(
                        "feed stale, reconnecting", venue=self.venue, subscriptions=went_stale
                    )
                    with contextlib.suppress(Exception):
                        async with asyncio.timeout(self.close_timeout_s):
                            await ws.close()
