"""The execution of requests: placements, cancels and modifies sent to the venues, and a placement
whose outcome is unknown resolved by asking the venue, never by sending it again.

A request to a venue outside the process runs as a task of its own. A request to a venue that
lives in the process (`Venue.in_process`: the paper account) waits in `ready` for the next turn of
the loop (or the backtest's next event) and is started there without a task; only one that has to
wait (a simulated latency) goes on as a task. Either way it runs after the code that asked for it
has returned, never inside it."""

from __future__ import annotations

import asyncio
import enum
import types
from collections.abc import Coroutine, Generator
from typing import TYPE_CHECKING, Any, Final

import msgspec

from engine.errors import OrderNotFound, VenueError
from engine.events import Order, OrderReport, OrderStatus, Pending

if TYPE_CHECKING:
    from engine.clock import Clock
    from engine.orders.book import OrderBook
    from engine.venue.contract import Venue

S = OrderStatus


class _Unreachable(enum.Enum):
    """The venue could not be asked (see `Execution.lookup`)."""

    UNREACHABLE = "UNREACHABLE"


UNREACHABLE: Final = _Unreachable.UNREACHABLE
AWAITING_ACK = frozenset({S.NEW, S.SUBMITTED})  # a cancel or modify waits for the placement's answer
_LOOKUP_ATTEMPTS = 6  # asking again after 0.5, 1, 2, 4 and 8 s of engine time
_LOOKUP_FIRST_DELAY_S = 0.5


class Execution:
    """Sends the manager's requests to the venues and applies their answers to the book."""

    def __init__(self, *, book: OrderBook, clock: Clock, venues: dict[str, Venue], log: Any) -> None:
        self.book = book
        self.clock = clock
        self.venues = venues
        self.log = log
        self.tasks: set[asyncio.Task[Any]] = set()
        # requests to in-process venues, to start at the next turn; mutated in place (a backtest holds it)
        self.ready: list[tuple[str, Coroutine[Any, Any, None]]] = []
        self._ready_scheduled = False

    # --- requests -------------------------------------------------------------------------------

    def place(self, coid: str, venue: str) -> None:
        self._spawn(coid, venue, self._send(coid))

    def cancel(self, coid: str) -> None:
        self._spawn(coid, self.book.orders[coid].venue, self.send_cancel(coid))

    def modify(self, coid: str) -> None:
        self._spawn(coid, self.book.orders[coid].venue, self._send_modify(coid))

    async def _send(self, coid: str) -> None:
        book = self.book
        order = book.transition(coid, S.SUBMITTED)
        if order is None:
            return
        venue = self.venues[order.venue]
        # journal before acting: what leaves the process is committed first; an in-process venue's
        # account dies with the process, so its requests ride the next group commit
        if not venue.in_process and not book.durable(coid):
            book.reject(coid, "not sent: the journal cannot be written")
            return
        try:
            ack = await venue.place(order)
        except VenueError as exc:
            if exc.retryable:
                await self._resolve_unknown(coid, exc)
            else:
                book.reject(coid, venue_reason(exc))
            return
        except Exception as exc:  # broken connection, timeout, or an adapter bug: outcome unknown
            if not isinstance(exc, (OSError, asyncio.TimeoutError)):
                self.log.error("venue place failed unexpectedly", client_order_id=coid, error=repr(exc), exc_info=exc)
            await self._resolve_unknown(coid, exc)
            return
        book.on_order_report(with_client_id(ack, coid))
        self._after_ack(coid)

    def _after_ack(self, coid: str) -> None:
        order = self.book.orders.get(coid)
        if order is None or not order.is_open:
            return
        if order.pending is Pending.CANCEL:
            self.cancel(coid)
        elif order.pending is Pending.MODIFY:
            self.modify(coid)

    async def _resolve_unknown(self, coid: str, exc: BaseException) -> None:
        """A placement whose outcome is unknown: ask the venue, never blindly send it again.

        While the venue cannot be asked, ask again with backoff; after that the order stays
        submitted (it counts as open) and the next reconciliation settles it.
        """
        book = self.book
        self.log.warning("placement outcome unknown", client_order_id=coid, error=repr(exc))
        delay = _LOOKUP_FIRST_DELAY_S
        report = await self.lookup(book.orders[coid])
        for _ in range(_LOOKUP_ATTEMPTS - 1):
            if report is not UNREACHABLE:
                break
            await self.clock.sleep(delay)
            delay *= 2
            report = await self.lookup(book.orders[coid])
        if report is UNREACHABLE:
            self.log.error("placement outcome still unknown: left submitted until reconciliation", client_order_id=coid)
            return
        if book.orders[coid].status is not S.SUBMITTED:  # a report or a fill settled it meanwhile
            self._after_ack(coid)
            return
        if report is None:
            book.reject(coid, f"not received by the venue ({exc!r})")
        else:
            book.on_order_report(with_client_id(report, coid))
            self._after_ack(coid)

    async def send_cancel(self, coid: str) -> None:
        book = self.book
        order = book.orders[coid]
        venue = self.venues[order.venue]
        if not venue.in_process and not book.durable(coid):
            book.clear_pending(coid, "cancel not sent: the journal cannot be written", only=Pending.CANCEL)
            return
        report: OrderReport | None | _Unreachable
        try:
            report = await venue.cancel(order)
        except OrderNotFound:
            report = await self.lookup(order)
            if report is UNREACHABLE:
                book.clear_pending(coid, "cancel outcome unknown: the venue cannot be asked", only=Pending.CANCEL)
                return
            if report is None and book.orders[coid].status is not S.SUBMITTED:
                # nothing to cancel at the venue: free the flag so the strategy may ask again
                # (a submitted order keeps it: the cancel goes out once the placement is acked)
                book.clear_pending(
                    coid, "cancel failed: the venue does not know the order", only=Pending.CANCEL
                )
                return
        except Exception as exc:
            self._request_failed(coid, Pending.CANCEL, exc)
            return
        if report is not None:
            book.on_order_report(with_client_id(report, coid))
        current = book.orders[coid]
        if current.pending is Pending.CANCEL and current.is_open and report is not None:
            if report.status.is_open:  # the venue still shows it working
                book.clear_pending(coid, "cancel not confirmed by the venue")

    async def _send_modify(self, coid: str) -> None:
        book = self.book
        order = book.orders[coid]
        qty, price, trigger = book.modifications.pop(coid, (None, None, None))
        if not self.venues[order.venue].in_process and not book.durable(coid):
            book.clear_pending(coid, "modify not sent: the journal cannot be written", only=Pending.MODIFY)
            return
        try:
            report = await self.venues[order.venue].modify(
                order, qty=qty, price=price, trigger_price=trigger
            )
        except Exception as exc:
            self._request_failed(coid, Pending.MODIFY, exc)
            return
        if report is not None:
            book.on_order_report(with_client_id(report, coid))
        book.clear_pending(coid, None, only=Pending.MODIFY)

    def _request_failed(self, coid: str, request: Pending, exc: Exception) -> None:
        """A cancel or modify that failed: its flag goes, with the venue's refusal or the error
        that left the outcome unknown (an adapter bug is logged with its traceback too)."""
        if isinstance(exc, VenueError):
            reason = f"{request.value} refused: {venue_reason(exc)}"
        else:
            if not isinstance(exc, (OSError, asyncio.TimeoutError)):
                self.log.error(f"venue {request.value} failed unexpectedly", client_order_id=coid, error=repr(exc), exc_info=exc)
            reason = f"{request.value} outcome unknown: {exc!r}"
        self.book.clear_pending(coid, reason, only=request)

    async def lookup(self, order: Order) -> OrderReport | None | _Unreachable:
        """The venue's report of `order`; None when it does not know the order; UNREACHABLE when
        it could not be asked (a failed lookup says nothing about the order)."""
        try:
            return await self.venues[order.venue].order_status(order)
        except OrderNotFound:
            return None
        except Exception as exc:
            self.log.warning("order status lookup failed", client_order_id=order.client_order_id, error=repr(exc))
            return UNREACHABLE

    # --- tasks in flight ----------------------------------------------------------------------

    def _spawn(self, coid: str, venue_name: str, coro: Coroutine[Any, Any, None]) -> None:
        self.book.pinned[coid] += 1  # the request reads its order until it ends: it stays in memory
        venue = self.venues.get(venue_name)
        if venue is not None and venue.in_process:
            self.ready.append((coid, coro))
            self._schedule_ready()
            return
        self._as_task(coid, coro)

    def run_ready(self) -> None:
        """Start the requests waiting in `ready`; those asked for meanwhile wait for the next turn."""
        self._ready_scheduled = False
        ready = self.ready
        if not ready:
            return
        batch = ready[:]
        ready.clear()
        for coid, coro in batch:
            try:
                waiting_on = coro.send(None)
            except StopIteration:
                self._ended(coid, None)
                continue
            except Exception as exc:
                self._ended(coid, exc)
                continue
            self._as_task(coid, _go_on(coro, waiting_on))
        if ready:
            self._schedule_ready()

    def _schedule_ready(self) -> None:
        if not self._ready_scheduled:
            self._ready_scheduled = True
            asyncio.get_running_loop().call_soon(self.run_ready)

    def _as_task(self, coid: str, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(lambda done: self._task_done(coid, done))

    def _task_done(self, coid: str, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        self._ended(coid, None if task.cancelled() else task.exception())

    def _ended(self, coid: str, exc: BaseException | None) -> None:
        pinned = self.book.pinned
        pinned[coid] -= 1
        if pinned[coid] <= 0:
            del pinned[coid]
        if exc is not None:
            self.log.error("order task failed", error=repr(exc), exc_info=exc)

    @property
    def busy(self) -> bool:
        return bool(self.tasks) or bool(self.ready)

    async def settle(self) -> None:
        """Wait for every request in flight (submissions, cancels, modifies) to finish."""
        for _ in range(1_000):
            self.run_ready()
            if not self.tasks:
                if not self.ready:
                    return
                continue
            await asyncio.gather(*list(self.tasks), return_exceptions=True)


async def _go_on(coro: Coroutine[Any, Any, None], waiting_on: Any) -> None:
    """A request started outside a task, now waiting on `waiting_on`, as a task's coroutine."""
    await _resumed(coro, waiting_on)


@types.coroutine
def _resumed(coro: Coroutine[Any, Any, None], waiting_on: Any) -> Generator[Any, Any, None]:
    """Hand the task what `coro` waits on, and `coro` what the task sends or throws (a cancel)."""
    while True:
        try:
            sent = yield waiting_on
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:
            try:
                waiting_on = coro.throw(exc)
            except StopIteration:
                return
        else:
            try:
                waiting_on = coro.send(sent)
            except StopIteration:
                return


def with_client_id(report: OrderReport, coid: str) -> OrderReport:
    if report.client_order_id == coid:
        return report
    return msgspec.structs.replace(report, client_order_id=coid)


def venue_reason(exc: VenueError) -> str:
    code = f" [{exc.code}]" if exc.code is not None else ""
    return f"{exc.venue}{code}: {exc.text}"
