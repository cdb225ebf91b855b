"""Core's two outbound pumps: market data (conflated, at most once) and order events (every one,
in order, on JetStream)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

import structlog

from engine.bridge.subjects import KIND_OF, Subjects
from engine.bridge.wire import OrderEvent, encode
from engine.data.bus import Bus
from engine.events import BookSnapshot, Fill, OrderUpdate, Quote, Trade

log = structlog.get_logger("tickbus.bridge")


class MarketOut:
    """Market data from core's bus to NATS subjects. The bus handler only keeps the latest event
    per (kind, instrument) and wakes the pump: a slow connection conflates, never backs up."""

    def __init__(self, nc: Any, subjects: Subjects, bus: Bus) -> None:
        self.nc = nc
        self.subjects = subjects
        self._latest: dict[tuple[type, str], Quote | Trade | BookSnapshot] = {}
        self._wake = asyncio.Event()
        self.published = 0
        self.conflated = 0
        self.failed = 0
        self._subscription = bus.subscribe((Quote, Trade, BookSnapshot), self.on_event, name="bridge.market")
        self._task = asyncio.get_running_loop().create_task(self._pump())

    def on_event(self, event: Quote | Trade | BookSnapshot) -> None:
        key = (event.__class__, event.instrument)
        if key in self._latest:
            self.conflated += 1
        self._latest[key] = event
        self._wake.set()

    async def _pump(self) -> None:
        market = self.subjects.market
        publish = self.nc.publish
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._latest = self._latest, {}
            for (cls, instrument), event in batch.items():
                try:
                    await publish(market(KIND_OF[cls], instrument), encode(event))
                    self.published += 1
                except Exception:  # noqa: BLE001 - at most once: a quote lost to a reconnect is replaced by the next
                    self.failed += 1

    async def close(self) -> None:
        self._subscription.cancel()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


class EventsOut:
    """Order updates and fills from core's bus to `<stem>.evt.<strategy>` on JetStream, in the
    order announced, each retried (same message id) until the stream has it."""

    def __init__(self, js: Any, subjects: Subjects, bus: Bus, session: str, timeout_s: float) -> None:
        self.js = js
        self.subjects = subjects
        self.session = session
        self.timeout_s = timeout_s
        self._queue: deque[tuple[str, bytes]] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.last_seq = 0
        self.published = 0
        self.retries = 0
        self._n = 0
        # this process's events only: a core started again on the same session (a journalled
        # account) numbers from 1 again, and the stream would drop those as repeats of the last life's
        self._life = f"{session}:{time.time_ns():x}"
        self._subscriptions = [
            bus.subscribe(OrderUpdate, self.on_update, name="bridge.events"),
            bus.subscribe(Fill, self.on_fill, name="bridge.events"),
        ]
        self._task = asyncio.get_running_loop().create_task(self._pump())

    def on_update(self, update: OrderUpdate) -> None:
        self._put(update.order.strategy_id, OrderEvent(update=update))

    def on_fill(self, fill: Fill) -> None:
        if fill.strategy_id is not None:
            self._put(fill.strategy_id, OrderEvent(fill=fill))

    def _put(self, strategy_id: str, event: OrderEvent) -> None:
        self._queue.append((self.subjects.events(strategy_id), encode(event)))
        self._idle.clear()
        self._wake.set()

    @property
    def backlog(self) -> int:
        return len(self._queue)

    async def idle(self) -> None:
        """Until every event announced so far is in the stream."""
        await self._idle.wait()

    async def _pump(self) -> None:
        queue = self._queue
        while True:
            await self._wake.wait()
            self._wake.clear()
            while queue:
                subject, data = queue[0]
                self._n += 1
                await self._publish(subject, data, f"{self._life}:{self._n}")
                queue.popleft()
            self._idle.set()

    async def _publish(self, subject: str, data: bytes, msg_id: str) -> None:
        delay = 0.05
        while True:
            try:
                ack = await self.js.publish(subject, data, timeout=self.timeout_s, headers={"Nats-Msg-Id": msg_id})
            except Exception as exc:  # noqa: BLE001 - NATS down or slow: the same message again, order kept
                self.retries += 1
                if self.retries == 1 or self.retries % 100 == 0:
                    log.warning("order event not yet in the stream, retrying", error=repr(exc), retries=self.retries)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            self.last_seq = ack.seq
            self.published += 1
            return

    async def close(self, timeout_s: float = 10.0) -> None:
        """Publish what is queued (bounded), then stop."""
        for sub in self._subscriptions:
            sub.cancel()
        try:
            await asyncio.wait_for(self.idle(), timeout_s)
        except TimeoutError:
            log.error("order events not published at stop", left=len(self._queue))
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
