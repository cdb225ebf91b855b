"""The websocket feed base: connect, subscribe, read, reconnect with backoff, watch staleness.

Every venue feed reuses it, so reconnecting, resubscribing and staleness behave the same
everywhere. Nothing here blocks the loop: every wait is an asyncio sleep.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp
import structlog

from engine.clock import Clock
from engine.data.bus import Bus
from engine.events import FeedState, FeedStatus
from engine.venue.retry import Backoff, describe_error

log = structlog.get_logger("tickbus.feeds")

Frame = str | bytes

_FRAME_REPR_MAX = 200  # characters of a bad frame shown in a log line
# a feed gone bad must not flood the log: the first 10 malformed frames, then one in 1000
_MALFORMED_LOG_FIRST = 10
_MALFORMED_LOG_EVERY = 1000


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

    def on_connect_error(self, exc: BaseException) -> None:  # noqa: B027 - an optional hook
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
