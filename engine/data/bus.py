"""The event bus: synchronous publish, routing by (event type, key), direct and queued subscribers.

Direct subscribers run inline inside `publish` and must not block. Queued subscribers (strategies)
get a bounded queue and a task of their own; the task drains everything queued before it awaits
again, so there is no await per event while the queue has items. Under backpressure, market data
for a queued subscriber is conflated to the latest event per (type, instrument) and counted; order
updates and fills are always queued. In `inline` mode (backtests) every subscriber runs inside
`publish`, which makes a run deterministic.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import structlog

from engine.events import MARKET_DATA

Handler = Callable[[Any], Any]
ANY_KEY: Any = object()
_MARKET_DATA = frozenset(MARKET_DATA)
_DRAIN_SLICE = 2048  # events a queued subscriber handles before letting other tasks run

log = structlog.get_logger("tickbus.bus")


class BusStats:
    __slots__ = ("_bus", "handler_errors")

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self.handler_errors = 0

    @property
    def conflated(self) -> int:
        """Market data conflated so far, by every queued subscriber (each counts its own)."""
        return sum(sub.conflated for sub in self._bus._queues)

    @property
    def conflated_by_type(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for sub in self._bus._queues:
            for cls, n in sub.conflated_by_type.items():
                totals[cls.__name__] = totals.get(cls.__name__, 0) + n
        return totals

    @property
    def published(self) -> int:
        return sum(self._bus.published_by_type().values())

    def as_dict(self) -> dict[str, int]:
        return {
            "published": self.published,
            "conflated": self.conflated,
            "handler_errors": self.handler_errors,
        }


class Subscription:
    """A handle to undo a subscribe."""

    def __init__(self, bus: Bus, entries: list[tuple[type, Any, Handler]]) -> None:
        self._bus = bus
        self._entries = entries

    def cancel(self) -> None:
        self._bus._remove(self._entries)
        self._entries = []


class _Route:
    """The handlers of one (type, key) or of one type's wildcard, and the events routed through it:
    counting here, not in a dict per type, keeps the count to one slot increment per publish."""

    __slots__ = ("handlers", "count")

    def __init__(self, handlers: tuple[Handler, ...]) -> None:
        self.handlers = handlers
        self.count = 0


class Bus:
    def __init__(self, *, inline: bool = False, default_maxsize: int = 10_000) -> None:
        self.inline = inline
        self.default_maxsize = default_maxsize
        self.stats = BusStats(self)
        # (type, key) -> handlers, wildcard subscribers of that type included
        self._routes: dict[tuple[type, Any], _Route] = {}
        # type -> handlers subscribed to every key of that type
        self._wild: dict[type, _Route] = {}
        # events no one subscribed to, and the counts of routes a subscribe or unsubscribe rebuilt
        self._counted: dict[type, int] = {}
        self._wild_handlers: dict[type, tuple[Handler, ...]] = {}
        self._specific: dict[tuple[type, Any], tuple[Handler, ...]] = {}
        self._names: dict[Handler, str] = {}
        self._queues: list[QueuedSubscriber] = []
        self._inline_pending: list[asyncio.Task[Any]] = []

    # --- publishing (hot path) ----------------------------------------------------------------

    def publish(self, event: Any, key: Any = None) -> None:
        """Deliver `event` to the subscribers of (type(event), key) and of type(event)."""
        cls = event.__class__
        route = self._routes.get((cls, key))
        if route is None:
            route = self._wild.get(cls)
            if route is None:
                self._counted[cls] = self._counted.get(cls, 0) + 1
                return
        route.count += 1
        for handler in route.handlers:
            try:
                handler(event)
            except Exception as exc:  # a subscriber's failure never reaches the publisher
                self.handler_failed(self._names.get(handler, "?"), event, exc)

    # --- subscribing --------------------------------------------------------------------------

    def subscribe(
        self,
        types: type | Iterable[type],
        handler: Handler,
        *,
        keys: Iterable[Any] | None = None,
        name: str | None = None,
        may_await: bool = False,
    ) -> Subscription:
        """Call `handler(event)` inline for every event of `types` (and `keys`, or all keys).

        Direct handlers are synchronous. `may_await` (queued subscribers in inline mode) lets a
        handler return an awaitable, which `settle()` then waits for.
        """
        types = (types,) if isinstance(types, type) else tuple(types)
        name = name or str(getattr(handler, "__qualname__", repr(handler)))
        if self.inline and may_await:
            handler = self._inline_adapter(handler, name)
        self._names[handler] = name
        entries = [(cls, key, handler) for cls in types for key in ([ANY_KEY] if keys is None else list(keys))]
        self._add(entries)
        return Subscription(self, entries)

    def queued(
        self,
        name: str,
        handler: Callable[[Any], Awaitable[Any] | None],
        *,
        maxsize: int | None = None,
        on_error: Callable[[Any, BaseException], None] | None = None,
    ) -> QueuedSubscriber:
        """A subscriber with its own bounded queue and task; subscribe it with `.subscribe()`."""
        sub = QueuedSubscriber(self, name, handler, maxsize or self.default_maxsize, on_error)
        self._queues.append(sub)
        return sub

    @property
    def queued_subscribers(self) -> list[QueuedSubscriber]:
        return list(self._queues)

    def published_by_type(self) -> dict[str, int]:
        """Events published so far, by event type name (read when scraped: publish only counts)."""
        totals = dict(self._counted)
        for (cls, _), route in self._routes.items():
            totals[cls] = totals.get(cls, 0) + route.count
        for cls, route in self._wild.items():
            totals[cls] = totals.get(cls, 0) + route.count
        return {cls.__name__: n for cls, n in totals.items()}

    def _add(self, entries: list[tuple[type, Any, Handler]]) -> None:
        for cls, key, handler in entries:
            if key is ANY_KEY:
                self._wild_handlers[cls] = self._wild_handlers.get(cls, ()) + (handler,)
            else:
                self._specific[(cls, key)] = self._specific.get((cls, key), ()) + (handler,)
        self._rebuild_for(entries)

    def _remove(self, entries: list[tuple[type, Any, Handler]]) -> None:
        table: dict[Any, tuple[Handler, ...]]
        k: Any
        for cls, key, handler in entries:
            table, k = (self._wild_handlers, cls) if key is ANY_KEY else (self._specific, (cls, key))
            handlers = list(table.get(k, ()))
            if handler in handlers:
                handlers.remove(handler)
            if handlers:
                table[k] = tuple(handlers)
            else:
                table.pop(k, None)
        self._rebuild_for(entries)

    def _rebuild_for(self, entries: list[tuple[type, Any, Handler]]) -> None:
        """Rebuild the routes a (un)subscribe changed, once each: a strategy on 1,000 instruments
        is 1,000 routes rebuilt, not every route of the type 1,000 times."""
        keys: dict[type, set[Any]] = {}
        for cls, key, _ in entries:
            keys.setdefault(cls, set()).add(key)
        for cls, changed in keys.items():
            self._rebuild(cls, changed)

    def _rebuild(self, cls: type, keys: set[Any]) -> None:
        """The routes of `cls` for `keys` from the handler tables; all of them when the type's
        wildcard handlers changed (they are in every route). Each route keeps its count."""
        wild = self._wild_handlers.get(cls, ())
        if ANY_KEY in keys:
            old = self._wild.pop(cls, None)
            if wild:
                self._wild[cls] = self._route(wild, old)
            elif old is not None:
                self._counted[cls] = self._counted.get(cls, 0) + old.count
            keys = {k for c, k in self._specific if c is cls} | {k for c, k in self._routes if c is cls}
        for key in keys:
            old = self._routes.pop((cls, key), None)
            specific = self._specific.get((cls, key))
            if specific:
                self._routes[(cls, key)] = self._route(specific + wild, old)
            elif old is not None:
                self._counted[cls] = self._counted.get(cls, 0) + old.count

    @staticmethod
    def _route(handlers: tuple[Handler, ...], old: _Route | None) -> _Route:
        route = _Route(handlers)
        if old is not None:
            route.count = old.count
        return route

    # --- failures -----------------------------------------------------------------------------

    def handler_failed(self, subscriber: str, event: Any, exc: BaseException) -> None:
        self.stats.handler_errors += 1
        context: dict[str, Any] = {}
        if event is not None:
            # not `event=`: that is the log call's own first argument (the message)
            context["event_type"] = type(event).__name__
            order = getattr(event, "order", None)  # an OrderUpdate
            for source in (event, order):
                for name in ("instrument", "client_order_id"):
                    value = getattr(source, name, None)
                    if isinstance(value, str):
                        context[name] = value
        log.error("handler failed", subscriber=subscriber, error=repr(exc), exc_info=exc, **context)

    # --- inline (backtest) mode ---------------------------------------------------------------

    def _inline_adapter(self, handler: Handler, name: str) -> Handler:
        pending = self._inline_pending

        def run_inline(event: Any) -> None:
            result = handler(event)
            if _awaitable(result):
                task = asyncio.ensure_future(result)
                task.set_name(name)
                pending.append(task)

        run_inline.__qualname__ = name
        return run_inline

    async def settle(self) -> None:
        """Inline mode: wait for the async handlers the last publishes started."""
        while self._inline_pending:
            tasks, self._inline_pending[:] = list(self._inline_pending), []
            for task in tasks:
                try:
                    await task
                except Exception as exc:
                    self.handler_failed(task.get_name(), None, exc)

    @property
    def has_pending(self) -> bool:
        return bool(self._inline_pending)

    async def drain(self) -> None:
        """Wait until every queued subscriber has handled what is queued for it."""
        if self.inline:
            await self.settle()
            return
        for _ in range(1_000):  # a handler may publish to another queue: look again until all are idle
            if all(sub.idle or sub.stopped for sub in self._queues):
                return
            for sub in self._queues:
                await sub.wait_idle()


class _Slot:
    """A conflation slot in a subscriber's queue: the latest market data of one instrument."""

    __slots__ = ("instrument", "events")

    def __init__(self, instrument: str, events: dict[type, Any]) -> None:
        self.instrument = instrument
        self.events = events


class QueuedSubscriber:
    """A bounded queue drained in order; market data conflates under backpressure, the rest never drops.

    The queue is drained by a loop callback, not a task: while handlers are plain functions, a
    publish costs an append and, when the queue was empty, one `call_soon`. When a handler returns
    an awaitable, a task takes over, awaits it and drains the rest in order (awaiting as needed),
    then hands back to callbacks once the queue is empty.
    """

    def __init__(
        self,
        bus: Bus,
        name: str,
        handler: Callable[[Any], Awaitable[Any] | None],
        maxsize: int,
        on_error: Callable[[Any, BaseException], None] | None,
    ) -> None:
        self.bus = bus
        self.name = name
        self.maxsize = maxsize
        self.conflated_by_type: dict[type, int] = {}  # counted here, summed when read: a conflated put stays cheap
        self.handled = 0
        self._handler = handler
        self._on_error = on_error
        self._queue: deque[Any] = deque()
        # instrument -> {event type: latest event}, for the slot still waiting in the queue
        self._slots: dict[str, dict[type, Any]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduled = False  # a drain callback is pending
        self._task: asyncio.Task[None] | None = None  # draining through an awaitable handler
        self._subs: list[Subscription] = []
        self._stopped = False
        self._idle_waiters: list[asyncio.Future[None]] = []
        self._drain_now = self._drain  # bound once: a schedule per burst needs no new method object

    def subscribe(self, types: type | Iterable[type], *, keys: Iterable[Any] | None = None) -> None:
        target = self._guarded_inline if self.bus.inline else self.put
        self._subs.append(self.bus.subscribe(types, target, keys=keys, name=self.name))

    def _guarded_inline(self, event: Any) -> None:
        """Inline mode: handle `event` now; an awaitable the handler returns is left for `settle()`."""
        self.handled += 1
        try:
            result = self._handler(event)
        except Exception as exc:
            self._failed(event, exc)
            return
        if result is not None and hasattr(result, "__await__"):
            task = asyncio.ensure_future(self._guarded_async(event, result))
            task.set_name(self.name)
            self.bus._inline_pending.append(task)

    async def _guarded_async(self, event: Any, awaitable: Awaitable[Any]) -> None:
        try:
            await awaitable
        except Exception as exc:
            self._failed(event, exc)

    def start(self) -> None:
        if self._loop is None and not self.bus.inline:
            self._loop = asyncio.get_running_loop()
            if self._queue:
                self._schedule()

    def unsubscribe(self) -> None:
        for sub in self._subs:
            sub.cancel()
        self._subs = []

    def halt(self) -> int:
        """Stop at once, from anywhere (its own handler included): unsubscribe, drop what is
        queued, deliver nothing more. Returns how many queued entries were dropped."""
        self.unsubscribe()
        dropped = len(self._queue)
        self._queue.clear()
        self._slots.clear()
        self._stopped = True
        self._wake_idle_waiters()
        return dropped

    async def stop(self, *, drain: bool = True, drain_timeout_s: float = 10.0) -> None:
        """Unsubscribe; with `drain`, handle what is already queued first (for at most
        `drain_timeout_s`: a handler awaiting forever must not hold the engine's shutdown)."""
        self.unsubscribe()
        if drain:
            try:
                await asyncio.wait_for(self.wait_idle(), drain_timeout_s)
            except TimeoutError:
                log.warning("stopped before its queue drained", subscriber=self.name, left=len(self._queue))
        self._stopped = True
        self._wake_idle_waiters()
        task, self._task = self._task, None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    @property
    def depth(self) -> int:
        return len(self._queue)

    @property
    def conflated(self) -> int:
        return sum(self.conflated_by_type.values())

    @property
    def idle(self) -> bool:
        return not self._queue and self._task is None

    @property
    def stopped(self) -> bool:
        return self._stopped

    async def wait_idle(self) -> None:
        """Until the queue is empty and no handler is running (woken by the drain, no polling)."""
        if self.idle or self._stopped or self._loop is None:
            return
        waiter = self._loop.create_future()
        self._idle_waiters.append(waiter)
        await waiter

    def _wake_idle_waiters(self) -> None:
        waiters, self._idle_waiters = self._idle_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def deliver(self, event: Any) -> None:
        """Hand this subscriber an event that does not travel the bus (a timer tick)."""
        if self._stopped:
            return
        if self.bus.inline:
            self._guarded_inline(event)
        else:
            self.put(event)

    # --- producer side (runs inside Bus.publish) ----------------------------------------------

    def put(self, event: Any) -> None:
        queue = self._queue
        cls = event.__class__
        if cls in _MARKET_DATA:
            if len(queue) >= self.maxsize:
                # Full: one slot per instrument holds the latest event of each market-data type,
                # in the order those latest events arrived (publish order per instrument). Inline,
                # not a call: under a flood this runs once per event per strategy.
                slot = self._slots.get(event.instrument)
                if slot is None:
                    slot = self._slots[event.instrument] = {cls: event}
                    queue.append(_Slot(event.instrument, slot))
                else:
                    if cls in slot:
                        if len(slot) > 1:
                            del slot[cls]  # set again below, after the slot's other types
                        counts = self.conflated_by_type  # counted here, summed when read
                        counts[cls] = counts.get(cls, 0) + 1
                    slot[cls] = event
                return  # the queue is not empty: its drain is already scheduled or running
            if self._slots:
                # This event now sits behind the slots in the queue: a slot that took later
                # events would deliver them before it. Close the slot it must stay ahead of.
                self._slots.pop(event.instrument, None)
        elif self._slots:
            self._slots.clear()  # order updates and fills stay ahead of every later market event
        queue.append(event)
        if not self._scheduled and self._task is None and self._loop is not None:
            self._schedule()

    def _schedule(self) -> None:
        self._scheduled = True
        self._loop.call_soon(self._drain_now)  # type: ignore[union-attr]

    # --- consumer side ------------------------------------------------------------------------

    def _next(self) -> Any:
        event = self._queue.popleft()
        return self._open(event) if event.__class__ is _Slot else event

    def _open(self, slot: _Slot) -> Any:
        """A conflation slot at the head of the queue: its first event now, the others next."""
        if self._slots.get(slot.instrument) is slot.events:
            del self._slots[slot.instrument]
        latest = list(slot.events.values())
        if len(latest) > 1:
            self._queue.extendleft(reversed(latest[1:]))
        return latest[0]

    def _drain(self) -> None:
        """A loop callback: handle a slice of the queue; hand over to a task on an awaitable."""
        self._scheduled = False
        if self._stopped:
            return
        queue = self._queue
        handler = self._handler
        popleft = queue.popleft
        budget = _DRAIN_SLICE
        while queue and budget:  # a halt from a handler empties the queue
            budget -= 1
            event = popleft()
            if event.__class__ is _Slot:
                event = self._open(event)
            try:
                result = handler(event)
            except Exception as exc:
                self._failed(event, exc)
                result = None
            if result is not None and hasattr(result, "__await__"):
                self.handled += _DRAIN_SLICE - budget
                self._task = self._loop.create_task(self._drain_awaiting(event, result), name=self.name)  # type: ignore[union-attr]
                return
        self.handled += _DRAIN_SLICE - budget
        if queue and not self._stopped:
            self._schedule()  # let feeds and other subscribers run between slices
        elif self._idle_waiters:
            self._wake_idle_waiters()

    async def _drain_awaiting(self, event: Any, awaitable: Awaitable[Any]) -> None:
        """Await a handler's awaitable, then drain in order (awaiting as needed) until empty."""
        try:
            await awaitable
        except Exception as exc:
            self._failed(event, exc)
        queue = self._queue
        handler = self._handler
        budget = _DRAIN_SLICE
        try:
            while queue and not self._stopped:
                event = self._next()
                try:
                    result = handler(event)
                    if result is not None and _awaitable(result):
                        await result
                except Exception as exc:
                    self._failed(event, exc)
                self.handled += 1
                budget -= 1
                if not budget:
                    budget = _DRAIN_SLICE
                    await asyncio.sleep(0)
        finally:
            if self._task is asyncio.current_task():
                self._task = None
            if self._idle_waiters and (self.idle or self._stopped):
                self._wake_idle_waiters()

    def _failed(self, event: Any, exc: BaseException) -> None:
        self.bus.handler_failed(self.name, event, exc)
        if self._on_error is not None:
            try:
                self._on_error(event, exc)
            except Exception:  # the error policy itself must not kill the consumer
                log.exception("error policy failed", subscriber=self.name)


def _awaitable(result: Any) -> bool:
    """A handler's return value to wait for; anything else a callback returns is ignored."""
    return result is not None and hasattr(result, "__await__")
