"""engine.venue (retry, ratelimit, poller, websocket): rate limiter, backoff, poller, websocket feed base (over loopback sockets)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import random
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import structlog.testing
from aiohttp import web

from engine.clock import RealtimeClock
from engine.data.bus import Bus
from engine.events import FeedState, FeedStatus, Trade
from engine.venue.poller import Poller
from engine.venue.ratelimit import RateLimiter, clear_shared_limiters, shared_limiter
from engine.venue.retry import Backoff
from engine.venue.websocket import WebSocketFeed

TIMEOUT = 10.0  # upper bound for any single wait; only there so a bug fails instead of hanging


async def until(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Wait until `predicate()` holds, failing after `timeout`."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


class ManualTime:
    """Virtual monotonic time for a RateLimiter: sleepers wake in time order when `run` advances."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self.t

    async def sleep(self, delay: float) -> None:
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.t + delay, next(self._seq), fut))
        await fut

    def limiter(self, limit: int, window_s: float, **kw: Any) -> RateLimiter:
        return RateLimiter(limit, window_s, now=self.now, sleep=self.sleep, **kw)

    async def run(self, until_done: Callable[[], bool], max_wakes: int = 10_000) -> None:
        """Let tasks run, waking the earliest sleeper whenever all are asleep, until `until_done()`."""
        for _ in range(max_wakes):
            for _ in range(5):
                await asyncio.sleep(0)
            if until_done():
                return
            assert self._sleepers, "nothing left to wake, and not done"
            at, _, fut = heapq.heappop(self._sleepers)
            self.t = max(self.t, at)
            fut.set_result(None)
        raise AssertionError(f"not done after {max_wakes} wakes")


# --- RateLimiter -----------------------------------------------------------------------------


async def test_rate_limiter_never_exceeds_the_moving_window() -> None:
    limit, window = 20, 0.2
    clock = ManualTime()
    limiter = clock.limiter(limit, window)
    order: list[int] = []
    times: list[float] = []

    async def call(i: int) -> None:
        await limiter.acquire()
        times.append(clock.now())
        order.append(i)

    tasks = [asyncio.ensure_future(call(i)) for i in range(200)]
    await clock.run(lambda: all(task.done() for task in tasks))

    assert len(times) == 200
    assert limiter.calls == 200
    assert limiter.waited_s > 0
    stamps = sorted(times)
    for i, start in enumerate(stamps):
        in_window = sum(1 for t in stamps[i:] if t < start + window)
        assert in_window <= limit, f"{in_window} calls within {window}s starting at #{i}"
    # FIFO: the k-th batch of `limit` calls is exactly the k-th batch of callers
    for k in range(0, 200, limit):
        assert sorted(order[k : k + limit]) == list(range(k, k + limit))


async def test_rate_limiter_peak_is_the_busiest_window_not_the_queue_of_waiters() -> None:
    clock = ManualTime()
    limiter = clock.limiter(5, 1.0, slack=0.0)
    tasks = [asyncio.ensure_future(limiter.acquire()) for _ in range(30)]  # 25 of them must wait
    await clock.run(lambda: all(task.done() for task in tasks))
    stats = limiter.stats()
    assert (stats["calls"], stats["peak"], stats["limit"]) == (30, 5, 5)
    assert stats["longest_wait_s"] == pytest.approx(5.0)  # the last five waited five windows
    assert limiter.waited_s > 0

    calm = clock.limiter(5, 1.0, slack=0.0)
    for _ in range(3):
        await calm.acquire()
        clock.t += 2.0  # each call alone in its window
    assert calm.peak == 1


async def test_rate_limiter_try_acquire_and_cost() -> None:
    limiter = RateLimiter(3, 60.0)
    assert [limiter.try_acquire() for _ in range(4)] == [True, True, True, False]
    assert limiter.calls == 3
    with pytest.raises(ValueError):
        limiter.try_acquire(cost=4)
    with pytest.raises(ValueError):
        await limiter.acquire(cost=0)

    limiter = RateLimiter(4, 60.0)
    assert limiter.try_acquire(cost=3)
    assert not limiter.try_acquire(cost=2)
    assert limiter.try_acquire(cost=1)


async def test_try_acquire_does_not_jump_the_queue() -> None:
    limiter = RateLimiter(1, 0.2, slack=0.0)
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)  # the waiter books its slot
    assert not waiter.done()
    assert not limiter.try_acquire()
    await asyncio.wait_for(waiter, TIMEOUT)
    assert limiter.calls == 2


def test_shared_limiter_is_one_instance_per_key() -> None:
    clear_shared_limiters()
    try:
        a = shared_limiter("gopax:public:book", 20, 1.0)
        assert shared_limiter("gopax:public:book", 20, 1.0) is a
        b = shared_limiter("gopax:private:abc", 20, 1.0)
        assert b is not a
        with structlog.testing.capture_logs() as logs:
            assert shared_limiter("gopax:public:book", 10, 1.0) is a
        assert a.limit == 20
        assert [e["log_level"] for e in logs] == ["warning"]
    finally:
        clear_shared_limiters()


# --- Backoff ---------------------------------------------------------------------------------


class TopRng(random.Random):
    """Always picks the top of the range, which exposes the backoff's ceiling."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_backoff_grows_caps_and_resets() -> None:
    backoff = Backoff(initial_s=0.5, maximum_s=5.0, factor=2.0, rng=TopRng())
    assert [backoff.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff.attempts == 6
    backoff.reset()
    assert backoff.attempts == 0
    assert backoff.next() == 0.5


def test_backoff_full_jitter_is_bounded_and_deterministic() -> None:
    a = Backoff(initial_s=0.5, maximum_s=30.0, rng=random.Random(7))
    b = Backoff(initial_s=0.5, maximum_s=30.0, rng=random.Random(7))
    ceilings = [min(30.0, 0.5 * 2**n) for n in range(40)]
    delays = [a.next() for _ in range(40)]
    assert delays == [b.next() for _ in range(40)]
    assert all(0.0 <= d <= cap for d, cap in zip(delays, ceilings, strict=True))
    assert len(set(delays)) > 30  # jittered, not a fixed ladder
    assert max(delays) > 15.0  # it does reach the capped range


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        Backoff(initial_s=0)
    with pytest.raises(ValueError):
        Backoff(initial_s=2, maximum_s=1)


# --- Poller ----------------------------------------------------------------------------------


async def test_poller_publishes_only_changes() -> None:
    script = [1, 1, 2, 2, 2, 3]
    calls = 0

    async def fetch() -> int:
        nonlocal calls
        calls += 1
        return script[min(calls, len(script)) - 1]

    seen: list[int] = []
    poller = Poller("t", fetch, seen.append, interval_s=0.001, jitter=0.0)
    poller.start()
    try:
        await until(lambda: poller.requests >= 10)
    finally:
        await asyncio.wait_for(poller.stop(), TIMEOUT)
    assert seen == [1, 2, 3]
    assert poller.changes == 3
    assert poller.errors == 0
    assert poller.value == 3
    assert not poller.running


async def test_poller_counts_errors_and_keeps_going() -> None:
    calls = 0

    async def fetch() -> int:
        nonlocal calls
        calls += 1
        if calls in (2, 3):
            raise RuntimeError(f"boom {calls}")
        return calls

    seen: list[int] = []
    errors: list[BaseException] = []
    poller = Poller(
        "t",
        fetch,
        seen.append,
        interval_s=0.001,
        on_error=errors.append,
        backoff=Backoff(initial_s=0.001, maximum_s=0.005, rng=random.Random(1)),
        rng=random.Random(2),
    )
    poller.start()
    try:
        await until(lambda: len(seen) >= 3)
    finally:
        await asyncio.wait_for(poller.stop(), TIMEOUT)
    assert seen[:3] == [1, 4, 5]
    assert poller.errors == 2
    assert [str(e) for e in errors] == ["boom 2", "boom 3"]


async def test_poller_logs_errors_without_traceback() -> None:
    calls = 0

    async def fetch() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("down")
        return 1

    seen: list[int] = []
    poller = Poller(
        "venue:orders",
        fetch,
        seen.append,
        interval_s=0.001,
        backoff=Backoff(initial_s=0.001, maximum_s=0.002),
    )
    with structlog.testing.capture_logs() as logs:
        poller.start()
        try:
            await until(lambda: seen == [1])
        finally:
            await asyncio.wait_for(poller.stop(), TIMEOUT)
    warnings = [e for e in logs if e["event"] == "poll failed"]
    assert len(warnings) == 1
    assert warnings[0]["poller"] == "venue:orders"
    assert "down" in warnings[0]["error"]
    assert "exc_info" not in warnings[0]


async def test_poller_poke_set_interval_and_prompt_stop() -> None:
    gate = asyncio.Event()
    gate.set()

    async def fetch() -> int:
        await gate.wait()
        return 0

    poller = Poller("t", fetch, lambda v: None, interval_s=3600.0)
    poller.start()
    try:
        await until(lambda: poller.requests == 1)  # the first fetch is immediate
        poller.poke()
        await until(lambda: poller.requests == 2)

        # a poke during a fetch is not lost: the next poll follows that fetch at once
        gate.clear()
        poller.poke()
        await until(lambda: poller.requests == 3)  # blocked in fetch now
        poller.poke()
        gate.set()
        await until(lambda: poller.requests == 4)

        # a shorter interval cuts the hour-long sleep in progress short
        poller.set_interval(0.001)
        assert poller.interval_s == 0.001
        await until(lambda: poller.requests >= 10)

        poller.set_interval(3600.0)
        before = poller.requests
        poller.poke()
        await until(lambda: poller.requests > before)
    finally:
        # stop during an hour-long sleep must not wait for it
        await asyncio.wait_for(poller.stop(), TIMEOUT)
    assert not poller.running
    with pytest.raises(ValueError):
        poller.set_interval(0)


# --- WebSocketFeed ---------------------------------------------------------------------------


class WsServer:
    """A loopback websocket server that records what clients send and lets a test push frames."""

    def __init__(self) -> None:
        self.url = ""
        self.frames: list[str] = []
        self.connections: list[web.WebSocketResponse] = []
        self.requests: list[dict[str, Any]] = []
        self.refuse = 0  # answer this many upgrade requests with 401

    async def handler(self, request: web.Request) -> web.StreamResponse:
        self.requests.append({"headers": dict(request.headers), "query": dict(request.query)})
        if self.refuse:
            self.refuse -= 1
            return web.Response(status=401, text="bad token")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections.append(ws)
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                self.frames.append(msg.data)
        return ws

    def subscribes(self, key: str) -> int:
        return self.frames.count(json.dumps({"op": "subscribe", "key": key}))

    async def push(self, text: str) -> None:
        await self.connections[-1].send_str(text)

    async def trade(self, key: str, price: float) -> None:
        await self.push(json.dumps({"key": key, "price": price}))


@pytest.fixture
async def server() -> AsyncIterator[WsServer]:
    srv = WsServer()
    app = web.Application()
    app.router.add_get("/ws", srv.handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    srv.url = f"http://{host}:{port}/ws"
    try:
        yield srv
    finally:
        for ws in srv.connections:
            await ws.close()
        await runner.cleanup()


class JsonFeed(WebSocketFeed):
    """A small venue: JSON frames {"key", "price"}, GOPAX-style application pings."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connect_no = 0

    async def headers(self) -> dict[str, str]:
        return {"x-session-token": "token-1"}

    def connect_url(self) -> str:
        self.connect_no += 1
        return f"{self.url}?n={self.connect_no}"

    def subscribe_frames(self, keys: list[str]) -> list[str | bytes]:
        return [json.dumps({"op": "subscribe", "key": key}) for key in keys]

    def unsubscribe_frames(self, keys: list[str]) -> list[str | bytes]:
        return [json.dumps({"op": "unsubscribe", "key": key}) for key in keys]

    def on_message(self, data: str | bytes) -> None:
        if isinstance(data, str) and data.startswith("primus::ping::"):
            self.send_nowait("primus::pong::" + data.removeprefix("primus::ping::"))
            return
        msg = json.loads(data)
        key = msg["key"]
        self.mark(key)
        now = self.clock.now_ns()
        self.bus.publish(Trade(key, float(msg["price"]), 1.0, now, now), key)


class Harness:
    def __init__(self, server: WsServer) -> None:
        self.server = server
        self.bus = Bus()
        self.statuses: list[FeedStatus] = []
        self.trades: list[Trade] = []
        self.bus.subscribe(FeedStatus, self.statuses.append)
        self.bus.subscribe(Trade, self.trades.append)
        self.feeds: list[JsonFeed] = []

    def feed(self, url: str | None = None, **kwargs: Any) -> JsonFeed:
        kwargs.setdefault("backoff", Backoff(initial_s=0.01, maximum_s=0.05, rng=random.Random(3)))
        feed = JsonFeed(
            "test", url or self.server.url, bus=self.bus, clock=RealtimeClock(), **kwargs
        )
        self.feeds.append(feed)
        return feed

    def states(self, subscription: str | None = None) -> list[FeedState]:
        return [s.state for s in self.statuses if s.subscription == subscription]

    def count(self, state: FeedState, subscription: str | None = None) -> int:
        return self.states(subscription).count(state)


@pytest.fixture
async def h(server: WsServer) -> AsyncIterator[Harness]:
    harness = Harness(server)
    try:
        yield harness
    finally:
        for feed in harness.feeds:
            await asyncio.wait_for(feed.stop(), TIMEOUT)


async def test_feed_subscribes_receives_and_stops(h: Harness, server: WsServer) -> None:
    feed = h.feed()
    await feed.subscribe("test:A")  # before start: sent on connect
    feed.start()
    await until(lambda: server.subscribes("test:A") == 1 and feed.connected)
    assert h.states() == [FeedState.CONNECTED]
    assert server.requests[0]["headers"]["x-session-token"] == "token-1"
    assert server.requests[0]["query"] == {"n": "1"}

    await server.trade("test:A", 101.5)
    await until(lambda: len(h.trades) == 1)
    assert h.trades[0].instrument == "test:A" and h.trades[0].price == 101.5

    await feed.subscribe("test:B")  # while connected: sent at once
    await until(lambda: server.subscribes("test:B") == 1)
    await feed.subscribe("test:B")  # already subscribed: not sent again
    await feed.unsubscribe("test:A")
    await until(lambda: json.dumps({"op": "unsubscribe", "key": "test:A"}) in server.frames)
    assert list(feed.subscriptions) == ["test:B"]

    await server.trade("test:B", 7)
    await until(lambda: len(h.trades) == 2)
    assert feed.messages == 2 and feed.malformed == 0
    assert server.subscribes("test:B") == 1

    await asyncio.wait_for(feed.stop(), TIMEOUT)
    assert h.states()[-1] is FeedState.DISCONNECTED
    assert not feed.connected
    await until(lambda: server.connections[0].closed)
    assert feed.reconnects == 0 and feed.connects == 1


async def test_feed_reconnects_and_resubscribes(h: Harness, server: WsServer) -> None:
    feed = h.feed()
    await feed.subscribe("test:A", "test:B")
    feed.start()
    await until(lambda: server.subscribes("test:A") == 1 and server.subscribes("test:B") == 1)
    await until(lambda: feed.connected)

    await server.connections[0].close()  # the venue drops us
    await until(lambda: len(server.connections) == 2)
    await until(lambda: server.subscribes("test:A") == 2 and server.subscribes("test:B") == 2)
    await until(lambda: h.count(FeedState.CONNECTED) == 2)
    assert h.states() == [FeedState.CONNECTED, FeedState.RECONNECTING, FeedState.CONNECTED]
    reconnecting = [s for s in h.statuses if s.state is FeedState.RECONNECTING]
    assert reconnecting[0].venue == "test" and "closed" in reconnecting[0].detail
    assert feed.reconnects == 1 and feed.connects == 2
    assert server.requests[1]["query"] == {"n": "2"}  # connect_url asked again per connect

    await server.trade("test:B", 3.0)  # data flows on the new connection
    await until(lambda: len(h.trades) == 1)
    assert h.trades[0].instrument == "test:B"


async def test_feed_retries_a_refused_handshake(h: Harness, server: WsServer) -> None:
    server.refuse = 2
    feed = h.feed()
    await feed.subscribe("test:A")
    feed.start()
    await until(lambda: server.subscribes("test:A") == 1 and feed.connected)
    assert len(server.requests) == 3
    assert h.states() == [FeedState.RECONNECTING, FeedState.RECONNECTING, FeedState.CONNECTED]
    assert all("401" in s.detail for s in h.statuses[:2])
    assert feed.reconnects == 2 and feed.connects == 1


async def test_feed_stops_promptly_when_the_venue_is_unreachable(h: Harness) -> None:
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    feed = h.feed(f"http://127.0.0.1:{port}/ws")
    feed.start()
    await until(lambda: h.count(FeedState.RECONNECTING) >= 3)
    await asyncio.wait_for(feed.stop(), TIMEOUT)
    assert h.states()[-1] is FeedState.DISCONNECTED
    assert FeedState.CONNECTED not in h.states()
    assert feed.connects == 0


async def test_malformed_frames_are_counted_dropped_and_logged(
    h: Harness, server: WsServer
) -> None:
    feed = h.feed()
    await feed.subscribe("test:A")
    feed.start()
    await until(lambda: feed.connected and server.subscribes("test:A") == 1)
    with structlog.testing.capture_logs() as logs:
        await server.push("not json " + "x" * 5000)
        await server.push(json.dumps({"price": 1}))  # no key
        await server.trade("test:A", 2.0)
        await until(lambda: len(h.trades) == 1)
    assert h.trades[0].price == 2.0
    assert feed.malformed == 2 and feed.messages == 3
    assert feed.connects == 1 and feed.reconnects == 0  # the feed kept its connection
    bad = [e for e in logs if e["event"] == "malformed frame dropped"]
    assert len(bad) == 2
    assert all(e["venue"] == "test" and e["log_level"] == "warning" for e in bad)
    assert bad[0]["frame"].startswith("'not json")
    assert len(bad[0]["frame"]) < 220


async def test_application_ping_answered_with_send_nowait(h: Harness, server: WsServer) -> None:
    feed = h.feed()
    feed.start()
    await until(lambda: feed.connected)
    await server.push("primus::ping::1700000000000")
    await until(lambda: "primus::pong::1700000000000" in server.frames)
    assert feed.malformed == 0


async def test_staleness_watchdog(h: Harness, server: WsServer) -> None:
    feed = h.feed(stale_after_s=0.2)
    await feed.subscribe("test:A", "test:B")
    feed.start()
    await until(lambda: feed.connected and server.subscribes("test:B") == 1)
    await server.trade("test:A", 1.0)

    await until(lambda: h.count(FeedState.STALE, "test:A") == 1)
    stale = next(s for s in h.statuses if s.subscription == "test:A")
    assert stale.venue == "test" and stale.ts > 0

    await server.trade("test:A", 2.0)  # A resumes
    await until(lambda: h.count(FeedState.CONNECTED, "test:A") == 1)
    assert h.states("test:A") == [FeedState.STALE, FeedState.CONNECTED]

    # A goes quiet again: a second STALE; B, quiet all along, was reported once only
    await until(lambda: h.count(FeedState.STALE, "test:A") == 2)
    assert h.states("test:B") == [FeedState.STALE]
    assert feed.connects == 1 and feed.reconnects == 0


async def test_stale_subscription_can_force_a_reconnect(h: Harness, server: WsServer) -> None:
    feed = h.feed(stale_after_s=0.2, reconnect_when_stale=True)
    await feed.subscribe("test:A")
    feed.start()
    await until(lambda: server.subscribes("test:A") == 2)
    assert len(server.connections) >= 2
    reconnecting = [s for s in h.statuses if s.state is FeedState.RECONNECTING]
    assert reconnecting and reconnecting[0].detail == "stale: test:A"
    assert h.states("test:A")[0] is FeedState.STALE


async def test_a_held_call_counts_from_its_answer_not_its_booking() -> None:
    """A call answered late (a busy loop, a slow link) may have reached the venue late too:
    the next slot must keep a full window after the answer, not after the booking."""
    clock = ManualTime()
    limiter = clock.limiter(1, 0.2, slack=0.0)
    slot = await limiter.hold()
    clock.t += 0.15  # the answer arrives 150 ms after booking
    slot.release()
    answered = clock.now()
    second = asyncio.ensure_future(limiter.acquire())
    await clock.run(second.done)
    assert second.result() == pytest.approx(answered + 0.2)  # a window after the answer
    assert clock.now() == pytest.approx(answered + 0.2)  # not 50 ms after the booking's window


async def test_a_call_in_flight_holds_its_slot_however_long_it_takes() -> None:
    """Until its answer, a call may reach the venue at any moment: no window may be given away."""
    clock = ManualTime()
    limiter = clock.limiter(2, 0.2, slack=0.0)
    slow = await limiter.hold()
    await limiter.acquire()  # counted from now: it leaves the window after 0.2 s
    clock.t += 0.5
    assert limiter.try_acquire()  # the acquired call has left the window, the held one has not
    assert not limiter.try_acquire()
    clock.t += 10.0  # far beyond every window: the held call is still unanswered
    assert limiter.try_acquire()  # one slot free again, never two
    assert not limiter.try_acquire()
    clock.t += 0.1
    slow.release()
    slow.release()  # twice is harmless
    released = clock.now()
    waiting = asyncio.ensure_future(limiter.acquire())
    await clock.run(waiting.done)
    assert waiting.result() == pytest.approx(released + 0.1)  # when the try_acquire's call leaves
    third = asyncio.ensure_future(limiter.acquire())
    await clock.run(third.done)
    assert third.result() == pytest.approx(released + 0.2)  # a window after the late answer
    assert limiter.peak == 2


async def test_a_waiter_behind_a_late_answer_never_shares_its_window() -> None:
    """Many callers, each call answered at a random delay: the venue's view (any moment between
    sending and answer) never has more than `limit` calls within one window."""
    import random

    rng = random.Random(5)
    clock = ManualTime()
    limit, window = 4, 1.0
    limiter = clock.limiter(limit, window, slack=0.0)
    spans: list[tuple[float, float]] = []

    async def call() -> None:
        slot = await limiter.hold()
        sent = clock.now()
        await clock.sleep(rng.uniform(0.0, 0.8))
        spans.append((sent, clock.now()))
        slot.release()

    tasks = [asyncio.ensure_future(call()) for _ in range(60)]
    await clock.run(lambda: all(task.done() for task in tasks))
    assert len(spans) == 60
    # worst case for us: every call lands at the venue at its latest possible moment
    for arrivals in ([a for _, a in spans], [s for s, _ in spans]):
        arrivals.sort()
        for i, start in enumerate(arrivals):
            assert sum(1 for t in arrivals[i:] if t < start + window) <= limit
    assert limiter.peak <= limit


async def test_a_cancelled_waiter_gives_its_turn_to_the_next() -> None:
    clock = ManualTime()
    limiter = clock.limiter(1, 0.2, slack=0.0)
    await limiter.acquire()
    first = asyncio.ensure_future(limiter.acquire())
    second = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0)
    first.cancel()
    await clock.run(second.done)
    assert first.cancelled() and limiter.calls == 2


def test_a_refused_upgrade_is_described_without_its_url_query_or_headers() -> None:
    import aiohttp
    from yarl import URL

    from engine.venue.retry import describe_error

    info = aiohttp.RequestInfo(
        URL("wss://venue.example/ws?apiKey=k123&signature=s3cr3t"), "GET",
        {"x-session-token": "tok-987"}, URL("wss://venue.example/ws?apiKey=k123&signature=s3cr3t"),
    )
    exc = aiohttp.WSServerHandshakeError(info, (), status=401, message="Invalid response status")
    assert "s3cr3t" in repr(exc) or "tok-987" in repr(exc)  # what the old log line carried
    text = describe_error(exc)
    assert "s3cr3t" not in text and "tok-987" not in text and "k123" not in text
    assert "401" in text
    assert "signature" not in describe_error(OSError("failed GET /ws?signature=s3cr3t"))


async def test_a_poll_whose_delivery_failed_is_delivered_again() -> None:
    delivered: list[int] = []
    fail = [True]

    def on_change(value: int) -> None:
        if fail[0]:
            fail[0] = False
            raise RuntimeError("the sink could not take it")
        delivered.append(value)

    async def fetch() -> int:
        return 7  # the venue's answer does not change

    poller = Poller("p", fetch, on_change, interval_s=0.01, jitter=0.0, on_error=lambda exc: None)
    poller.start()
    try:
        async with asyncio.timeout(5):
            while not delivered:
                await asyncio.sleep(0.005)
    finally:
        await poller.stop()
    assert delivered[0] == 7
