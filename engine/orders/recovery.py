"""Restart: rebuild the book from the journal, then reconcile it with each venue (its open
orders, its fills since the last one known, a look at every order it did not list, balances)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.events import OrderReport, OrderStatus, Pending
from engine.orders.execution import UNREACHABLE, with_client_id

if TYPE_CHECKING:
    from engine.orders.book import OrderBook
    from engine.orders.execution import Execution
    from engine.venue.contract import Venue

S = OrderStatus
_FILLS_OVERLAP_NS = 60 * 1_000_000_000  # fills are asked for from a minute before the last one known


class Recovery:
    def __init__(self, *, book: OrderBook, execution: Execution, venues: dict[str, Venue], log: Any) -> None:
        self.book = book
        self.execution = execution
        self.venues = venues
        self.log = log

    async def recover(self) -> dict[str, int]:
        """Load the journal into the book, then reconcile with every venue that executes."""
        state = self.load()
        for name, venue in self.venues.items():
            if venue.supports_execution:
                state.update(await self.reconcile(name, venue))
        return state

    def load(self) -> dict[str, int]:
        book = self.book
        state = book.journal.load()
        # oldest change first, so the finished orders kept in memory are the latest ones
        for order in sorted(state.orders.values(), key=lambda o: o.updated_ns):
            book.restore(order)
        for fill in state.fills:
            book.restore_fill(fill)
            book.portfolio.apply_fill(fill)
        book.retire()
        return {"orders": len(state.orders), "open": len(book.open), "fills": len(state.fills)}

    async def reconcile(self, name: str, venue: Venue) -> dict[str, int]:
        book = self.book
        now = book.clock.now_ns()
        for order in [o for o in book.open.values() if o.venue == name and o.status is S.NEW]:
            book.reject(order.client_order_id, "not sent before the engine stopped")
        seen, unmatched = await self._open_at_venue(name, venue)
        since = book.last_fill_ns.get(name, 0)
        for fill in await venue.fills_since(max(since - _FILLS_OVERLAP_NS, 0)):
            book.on_fill(fill)
        unresolved = await self._settle_unlisted(name, seen, now)
        unknown = self._still_unknown(name, unmatched)
        for balance in await venue.balances():
            book.portfolio.on_balance(balance)
        await self._requests_in_flight(name)
        return {f"{name}_unknown_open": unknown, f"{name}_unresolved": unresolved}

    async def _open_at_venue(self, name: str, venue: Venue) -> tuple[set[str], list[OrderReport]]:
        """Apply the venue's open orders; the ids it listed, and the reports not matched yet (an
        order whose venue id the journal never learned is matched by the lookups that follow)."""
        book = self.book
        seen: set[str] = set()
        unmatched: list[OrderReport] = []
        for report in await venue.open_orders():
            coid = book.resolve(name, report.client_order_id, report.venue_order_id)
            if coid is None:
                unmatched.append(report)
                continue
            seen.add(coid)
            book.on_order_report(with_client_id(report, coid))
        return seen, unmatched

    def _still_unknown(self, name: str, unmatched: list[OrderReport]) -> int:
        """Open venue orders no journal order matches after every lookup: counted and warned about."""
        book = self.book
        unknown = 0
        for report in unmatched:
            coid = book.resolve(name, report.client_order_id, report.venue_order_id)
            if coid is not None:  # a lookup taught its venue id meanwhile
                book.on_order_report(with_client_id(report, coid))
                continue
            unknown += 1
            self.log.warning("open order at the venue that the journal does not know", venue=name,
                             venue_order_id=report.venue_order_id)
        return unknown

    async def _settle_unlisted(self, name: str, seen: set[str], now: int) -> int:
        """Ask about every open order the venue did not list; how many could not be asked."""
        book = self.book
        unresolved = 0
        for order in [o for o in book.open.values() if o.venue == name and o.client_order_id not in seen]:
            found = await self.execution.lookup(order)
            current = book.orders[order.client_order_id]
            if found is UNREACHABLE:
                unresolved += 1  # as it was: a lookup that failed proves nothing
            elif found is not None:
                book.on_order_report(with_client_id(found, order.client_order_id))
            elif current.status is S.SUBMITTED:
                book.reject(order.client_order_id, "not received by the venue (reconciliation)")
            elif current.is_open:
                gone = OrderReport(
                    venue=name,
                    client_order_id=order.client_order_id,
                    status=S.CANCELLED,
                    reason="no longer at the venue (reconciliation)",
                    ts_event=now,
                )
                book.on_order_report(gone)
        return unresolved

    async def _requests_in_flight(self, name: str) -> None:
        """Requests in flight when the engine stopped: a cancel is asked again (it is safe to
        repeat); a modify's parameters were not kept, so its flag is cleared with a reason."""
        book = self.book
        for order in [o for o in book.open.values() if o.venue == name and o.pending is not None]:
            coid = order.client_order_id
            if order.pending is Pending.CANCEL:
                await self.execution.send_cancel(coid)
            else:
                book.clear_pending(
                    coid, "modify outcome unknown: the engine restarted", only=Pending.MODIFY
                )
