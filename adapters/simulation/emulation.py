"""Serving an emulator on loopback, and the fault knobs every emulator shares.

An emulator is an aiohttp.web application; `EmulatorServer` serves it on 127.0.0.1 (a random port
unless told otherwise), reports where it listens, and counts (and, serving alone, logs) every
request. `Faults` are knobs a test or a demo turns at run time: added latency, a random error rate,
a burst of 5xx answers, a websocket dropped after N messages, the answer to a write lost after the
write was carried out, pushes held back (then let go in order or reversed), duplicated, or every
socket dropped at once. Each emulator decides how a fault looks on its wire (its own error body).
`SocketWriter` is the outgoing side of one emulated websocket connection, shared by every
emulator's socket server. `EmulatorServer` also carries the test-control surface every emulator
inherits (the conformance suite, tests/venues, drives it): a fill on a resting order, the sessions
expired, and the requests answered per route.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web

from engine.events import Side
from engine.venue.contract import EmulatorInfo

if TYPE_CHECKING:
    from adapters.simulation.exchange import SimExchange

LOOPBACK = ("127.0.0.1", "localhost", "::1")
log = structlog.get_logger("tickbus.emulator")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Faults:
    """Mutable at run time: `emulator.faults.burst_5xx = 3` fails the next three calls."""

    def __init__(self, *, seed: int = 1) -> None:
        self.latency_ms = 0.0
        self.error_rate = 0.0
        self.error_status = 500
        self.burst_5xx = 0
        self.burst_status = 503
        self.ws_drop_after: int | None = None
        self.lose_write_responses = 0
        self.lost_answer_stall_s = 0.0  # a lost answer comes this late (past the client's timeout)
        self.hold_pushes = False  # pushed frames wait (see `release_pushes`) instead of going out
        # ...and a polled venue's emulator keeps new rows out of its books meanwhile (counted here)
        self.withheld: set[int] = set()  # the exchange's fill ids
        self.duplicate_pushes = 0  # the next N pushed frames go out twice
        self.rng = random.Random(seed)
        self.injected = 0
        self.sockets: weakref.WeakSet[SocketWriter] = weakref.WeakSet()  # the open connections

    def held(self) -> int:
        """How many pushed frames (and book rows) are being held back, over every connection."""
        return sum(len(writer.held) for writer in list(self.sockets)) + len(self.withheld)

    def release_pushes(self, *, reverse: bool = False) -> int:
        """Stop holding; send what was held on each connection, in order or `reverse`d."""
        self.hold_pushes = False
        rows, self.withheld = len(self.withheld), set()
        return rows + sum(writer.release(reverse=reverse) for writer in list(self.sockets))

    async def drop_sockets(self) -> int:
        """Close every open socket connection now (the client must reconnect and catch up)."""
        writers = [w for w in list(self.sockets) if not w.ws.closed]
        for writer in writers:
            writer.held.clear()
            await writer.ws.close()
        self.injected += len(writers)
        return len(writers)

    def next_error(self) -> int | None:
        """The status to fail this request with, or None to serve it."""
        if self.burst_5xx > 0:
            self.burst_5xx -= 1
            self.injected += 1
            return self.burst_status
        if self.error_rate > 0 and self.rng.random() < self.error_rate:
            self.injected += 1
            return self.error_status
        return None

    def lose_this_answer(self) -> bool:
        """Whether to drop the answer of a write that was carried out (the caller cannot know)."""
        if self.lose_write_responses > 0:
            self.lose_write_responses -= 1
            self.injected += 1
            return True
        return False


def fault_middleware(
    faults: Faults,
    error_response: Callable[[int], web.StreamResponse],
    *,
    exempt: Callable[[web.Request], bool] = lambda request: False,
    is_write: Callable[[web.Request], bool] = lambda request: False,
) -> Any:
    """aiohttp middleware applying `faults`; `error_response(status)` speaks the venue's error body.

    `is_write` tells which requests change state: their answer may be lost after the change was
    made (`faults.lose_write_responses`), the case clients must resolve without sending again.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if exempt(request):
            return await handler(request)
        if faults.latency_ms > 0:
            await asyncio.sleep(faults.latency_ms / 1000.0)
        status = faults.next_error()
        if status is not None:
            return error_response(status)
        response = await handler(request)
        if response.status < 400 and is_write(request) and faults.lose_this_answer():
            if faults.lost_answer_stall_s > 0:  # the caller times out first: the outcome is unknown
                await asyncio.sleep(faults.lost_answer_stall_s)
            return error_response(503)  # carried out, but the caller cannot know
        return response

    return middleware


class SocketWriter:
    """The outgoing side of one emulated websocket connection: a queue drained by a writer task.

    The exchange notifies synchronously, so pushes never wait on a socket: `push` queues the text
    and the writer sends it in order. `faults.ws_drop_after` closes the connection once that many
    frames were sent on it (counted in `faults.injected`); `faults.hold_pushes` and
    `faults.duplicate_pushes` hold frames back and send them twice.
    """

    def __init__(self, ws: web.WebSocketResponse, faults: Faults) -> None:
        self.ws = ws
        self.faults = faults
        self.sent = 0
        self.held: list[str] = []
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        faults.sockets.add(self)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._write())

    def push(self, text: str) -> None:
        if self.faults.hold_pushes:
            self.held.append(text)
            return
        self._queue.put_nowait(text)
        if self.faults.duplicate_pushes > 0:
            self.faults.duplicate_pushes -= 1
            self.faults.injected += 1
            self._queue.put_nowait(text)

    def release(self, *, reverse: bool = False) -> int:
        """Queue the held frames (in order, or newest first); how many there were."""
        held, self.held = self.held, []
        for text in reversed(held) if reverse else held:
            self._queue.put_nowait(text)
        return len(held)

    async def close(self, timeout_s: float = 2.0) -> None:
        """Stop after what is queued (the connection's reader has ended)."""
        self._queue.put_nowait(None)
        if self._task is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._task, timeout_s)

    async def _write(self) -> None:
        while (text := await self._queue.get()) is not None and not self.ws.closed:
            await self.ws.send_str(text)
            self.sent += 1
            drop_after = self.faults.ws_drop_after
            if drop_after is not None and self.sent >= drop_after:
                self.faults.injected += 1
                await self.ws.close()
                return


class EmulatorServer:
    """Serves one emulator app on loopback; subclasses build the app and the demo credentials."""

    venue = "emulator"
    ws_path: str | None = None

    def __init__(self, *, log_requests: bool = False) -> None:
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.ws_url: str | None = None
        self.log_requests = log_requests  # `run.py emulate` logs every request; tests count them
        self.requests: Counter[str] = Counter()  # "METHOD /route" -> requests answered

    @web.middleware
    async def log_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Count every request by route; log it when serving alone. Put it first in the chain."""
        started = time.perf_counter()
        response = await handler(request)
        route = request.match_info.route.resource
        self.requests[f"{request.method} {route.canonical if route is not None else request.path}"] += 1
        if self.log_requests:
            log.info("request", venue=self.venue, method=request.method, path=request.path,
                     status=response.status, ms=round((time.perf_counter() - started) * 1000, 2))
        return response

    def build_app(self) -> web.Application:
        raise NotImplementedError

    # --- test control (tests/venues drives every emulator through these) -----------------------

    def sim_exchange(self) -> SimExchange | None:
        """The simulated exchange behind this emulator, if it has one."""
        return getattr(self, "exchange", None)

    def sim_order_id(self, venue_order_id: str) -> str:
        """The exchange's id of the order the venue calls `venue_order_id` (the same, unless told)."""
        return venue_order_id

    def fill_resting(self, venue_order_id: str, qty: Decimal) -> None:
        """Fill `qty` of one of our resting limit orders at its own price (a public trade through it)."""
        exchange = self.sim_exchange()
        if exchange is None:
            raise NotImplementedError(f"{self.venue}: no simulated exchange to fill on")
        order = exchange.matching.orders[self.sim_order_id(venue_order_id)]
        assert order.price is not None, "only a resting limit order can be filled this way"
        tick = exchange.market(order.instrument).instrument.tick_size
        through = order.price - tick if order.side is Side.BUY else order.price + tick
        exchange.print_trade(order.instrument, through, qty)

    def expire_sessions(self) -> bool:
        """End every session or token issued so far, as the venue does when they lapse; False when
        the venue has no sessions (it signs each request instead)."""
        return False

    def answered(self, route: str) -> int:
        """How many requests to `route` ("POST /orders") were answered, faults included."""
        return self.requests[route]

    def credentials(self) -> dict[str, str]:
        return {}

    async def on_start(self) -> None:
        """Start background work (the price process) once the server is up."""

    async def on_stop(self) -> None:
        """Stop background work."""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> EmulatorInfo:
        if host not in LOOPBACK:
            raise ValueError(f"emulators serve on loopback only, not {host!r}")
        runner = web.AppRunner(self.build_app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound = runner.addresses[0]
        self.url = f"http://{bound[0]}:{bound[1]}"
        if self.ws_path is not None:
            self.ws_url = f"ws://{bound[0]}:{bound[1]}{self.ws_path}"
        await self.on_start()
        return self.info()

    def info(self) -> EmulatorInfo:
        """Where the running emulator listens and its demo account's credentials."""
        return EmulatorInfo(venue=self.venue, url=self.url, ws_url=self.ws_url, credentials=self.credentials())

    async def stop(self) -> None:
        await self.on_stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
