"""The order book of record: every order's state, changed only by applying reports, fills and
the engine's own transitions (by `engine.orders.table`), each journalled first, then stored, then
announced on the bus as an `OrderUpdate` (and a `Fill`) routed by strategy id.

Memory stays bounded in a long run: once more than `keep_finished` orders (and a sixteenth more)
have finished, the oldest finished ones leave memory in one batch (they are journalled and
announced by then; the journal keeps them and an index of them, `Journal.retire`). A late report or fill of such an order brings it back from
the journal (`recall`), so fills after a cancel and duplicates are handled as for any order."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter, deque
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec

from engine.events import (
    ZERO,
    Fill,
    Order,
    OrderReport,
    OrderStatus,
    OrderUpdate,
    Pending,
    Side,
)
from engine.orders.journal import Retired
from engine.orders.table import can_transition

if TYPE_CHECKING:
    from engine.account.portfolio import Portfolio
    from engine.account.risk import RiskEngine
    from engine.clock import Clock
    from engine.data.bus import Bus
    from engine.orders.journal import OrderJournal

S = OrderStatus


class ManagerStats(msgspec.Struct):
    submitted: int = 0
    risk_rejected: int = 0
    refused_transitions: int = 0
    duplicate_fills: int = 0
    overfills: int = 0
    orphans: int = 0
    stale_reports: int = 0
    fills: int = 0
    bad_fills: int = 0
    retired: int = 0  # finished orders that left memory (the journal keeps them)
    recalled: int = 0  # retired orders brought back by a late report or fill
    duplicate_submits: int = 0  # a strategy host's order sent again across the bridge


class OrderBook:
    """The one writer of order state; the manager, its execution and its recovery change orders
    only through it."""

    def __init__(
        self,
        *,
        bus: Bus,
        clock: Clock,
        journal: OrderJournal,
        portfolio: Portfolio,
        risk: RiskEngine,
        stats: ManagerStats,
        log: Any,
        orphan_limit: int = 10_000,
        keep_finished: int = 10_000,
    ) -> None:
        self.bus = bus
        self.clock = clock
        self.journal = journal
        self.portfolio = portfolio
        self.risk = risk
        self.stats = stats
        self.log = log
        self.orders: dict[str, Order] = {}
        self.open: dict[str, Order] = {}
        self.by_venue_id: dict[tuple[str, str], str] = {}
        self.fill_ids: set[tuple[str, str]] = set()
        self._orphans: dict[tuple[str, str], list[OrderReport | Fill]] = {}
        self._orphan_order: deque[tuple[str, str]] = deque()
        self._orphan_limit = orphan_limit
        # what a modify asked for, kept until its request leaves (see `Execution.modify`)
        self.modifications: dict[str, tuple[Decimal | None, Decimal | None, Decimal | None]] = {}
        self._flush_scheduled = False
        # False in backtests: rows are committed before each request and when the driver calls
        # `flush()` (see engine.app.backtest), not at the end of every loop turn
        self.flush_each_turn = True
        self.last_fill_ns: dict[str, int] = {}
        # quote value (sum of price * qty) of every order's fills: avg_price is one exact division
        self.notional: dict[str, Decimal] = {}
        self.keep_finished = keep_finished
        self._finished: dict[str, None] = {}  # finished orders in memory, oldest first
        self._fills_of: dict[str, list[str]] = {}  # venue fill ids applied, per order in memory
        self.retired_counts: Counter[tuple[str, str]] = Counter()  # (status, venue) of retired orders
        self.pinned: Counter[str] = Counter()  # orders a request in flight still reads

    # --- queries ------------------------------------------------------------------------------

    @property
    def open_count(self) -> int:
        return len(self.open)

    def status_counts(self) -> Counter[tuple[str, str]]:
        """(status, venue) -> orders, those in memory and those retired to the journal."""
        counts = Counter((o.status.value, o.venue) for o in self.orders.values())
        counts.update(self.retired_counts)
        return +counts

    def counts_by_status(self) -> Counter[str]:
        by_status: Counter[str] = Counter()
        for (status, _venue), n in self.status_counts().items():
            by_status[status] += n
        return by_status

    def find(self, coid: str) -> Order | None:
        """An order by client id, from memory or (read only) from the journal's retired orders."""
        order = self.orders.get(coid)
        if order is None and self.stats.retired:
            retired = self.journal.recall("", coid, None)
            return None if retired is None else retired.order
        return order

    def open_exposure(self, instrument: str) -> tuple[Decimal, Decimal]:
        """Remaining quantity of open buy and sell orders for `instrument`."""
        buys = sells = ZERO
        for o in self.open.values():
            if o.instrument == instrument:
                if o.side is Side.BUY:
                    buys += o.remaining
                else:
                    sells += o.remaining
        return buys, sells

    # --- what venues report -------------------------------------------------------------------

    def on_order_report(self, report: OrderReport) -> None:
        coid = self.resolve(report.venue, report.client_order_id, report.venue_order_id)
        if coid is None:
            self._park(report.venue, report.venue_order_id, report)
            return
        order = self.orders[coid]
        now = self.clock.now_ns()
        changes: dict[str, Any] = {"updated_ns": now}
        if report.venue_order_id and report.venue_order_id != order.venue_order_id:
            changes["venue_order_id"] = report.venue_order_id
        for name in ("qty", "price", "trigger_price", "stop_pending", "after_market"):
            value = getattr(report, name)
            if value is not None and value != getattr(order, name):
                changes[name] = value
        if report.reason:
            changes["reason"] = report.reason
        if order.status.is_terminal:  # a finished order only learns ids from late reports
            changes = {k: v for k, v in changes.items() if k in ("updated_ns", "venue_order_id")}
        target = report.status
        if target is not order.status:
            if _is_stale(order.status, target):
                # A lagging report (a placement ack after fills, a poll older than a cancel):
                # learn its ids, keep the status the facts already gave us.
                self.stats.stale_reports += 1
            elif not can_transition(order.status, target):
                self._refuse(order, target, report)
                return
            else:
                changes["status"] = target
                if target.is_terminal:
                    changes["pending"] = None
        if len(changes) == 1:  # only the timestamp: a repeat of what we know (e.g. a poll)
            return
        updated = msgspec.structs.replace(order, **changes)
        self.commit(now, [("report", report), ("order", updated)], order.status, updated)
        if "venue_order_id" in changes:
            self._learn_venue_id(updated)

    def on_fill(self, fill: Fill) -> None:
        key = (fill.venue, fill.fill_id)
        if key in self.fill_ids:
            self.stats.duplicate_fills += 1
            return
        if fill.qty <= 0:  # not a trade: applying it would shrink filled_qty or fake progress
            self.stats.bad_fills += 1
            self.log.error(
                "fill without a positive quantity ignored", venue=fill.venue, fill_id=fill.fill_id,
                qty=str(fill.qty),
            )
            return
        coid = self.resolve(fill.venue, fill.client_order_id, fill.venue_order_id)
        if coid is None:
            self._park(fill.venue, fill.venue_order_id, fill)
            return
        if key in self.fill_ids:  # a duplicate of a fill of an order just recalled
            self.stats.duplicate_fills += 1
            return
        self._apply_fill(key, coid, fill)

    def _apply_fill(self, key: tuple[str, str], coid: str, fill: Fill) -> None:
        """Apply a new fill of a known order: journal, store, then announce it."""
        order = self.orders[coid]
        now = self.clock.now_ns()
        fill = msgspec.structs.replace(
            fill,
            client_order_id=coid,
            strategy_id=order.strategy_id,
            venue_order_id=fill.venue_order_id or order.venue_order_id,
            ts_recv=fill.ts_recv or now,
        )
        filled = order.filled_qty + fill.qty
        notional = self.notional.get(coid)
        if notional is None:  # no fills seen for it in this run or in the journal
            notional = order.avg_price * order.filled_qty if order.avg_price is not None else ZERO
        notional += fill.price * fill.qty
        avg = notional / filled  # one division of exact sums: no drift from re-averaging
        status = order.status
        if status in (S.SUBMITTED, S.PLACED, S.UPDATED):
            status = S.COMPLETED if filled >= order.qty else S.UPDATED
        reason = order.reason
        if filled > order.qty:
            self.stats.overfills += 1
            reason = f"overfilled: {filled} of {order.qty}"
            self.log.error("overfill", client_order_id=coid, filled=str(filled), qty=str(order.qty))
        updated = msgspec.structs.replace(
            order,
            filled_qty=filled,
            avg_price=avg,
            fees=order.fees + fill.fee,
            status=status,
            reason=reason,
            pending=None if status.is_terminal else order.pending,
            stop_pending=False,  # a stop that fills was triggered, whatever report is still to come
            updated_ns=now,
        )
        self.journal_rows(now, [("fill", coid, fill), ("order", coid, updated)])
        # only once it is journalled is the fill known: a failed write leaves it to be redelivered
        self.fill_ids.add(key)
        self._fills_of.setdefault(coid, []).append(fill.fill_id)
        self.notional[coid] = notional
        self.stats.fills += 1
        self.last_fill_ns[fill.venue] = max(self.last_fill_ns.get(fill.venue, 0), fill.ts_event)
        # the state first, then the announcements: a handler that runs inside publish (backtests)
        # sees the filled order, and what it does to the order is not overwritten afterwards
        self.store(updated)
        self.portfolio.apply_fill(fill)
        self.bus.publish(fill, order.strategy_id)
        self._announce(order.status, self.orders[coid], now)
        self.log.info(
            "fill",
            client_order_id=coid,
            strategy=order.strategy_id,
            instrument=fill.instrument,
            side=fill.side,
            qty=str(fill.qty),
            price=str(fill.price),
            status=status,
        )

    # --- venue ids and reports that arrive before them ----------------------------------------

    def resolve(self, venue: str, coid: str | None, venue_order_id: str | None) -> str | None:
        if coid is not None and coid in self.orders:
            return coid
        if venue_order_id is not None:
            found = self.by_venue_id.get((venue, venue_order_id))
            if found is not None:
                return found
        return self._recall(venue, coid, venue_order_id) if self.stats.retired else None

    def _park(self, venue: str, venue_order_id: str | None, item: OrderReport | Fill) -> None:
        """Hold a report or fill for an order whose venue id we have not learned yet."""
        self.stats.orphans += 1
        if venue_order_id is None:
            self.log.warning("report for an unknown order dropped", venue=venue, item=repr(item))
            return
        key = (venue, venue_order_id)
        if key not in self._orphans:
            self._orphan_order.append(key)
            if len(self._orphan_order) > self._orphan_limit:
                self._orphans.pop(self._orphan_order.popleft(), None)
        self._orphans.setdefault(key, []).append(item)

    def _learn_venue_id(self, order: Order) -> None:
        assert order.venue_order_id is not None
        key = (order.venue, order.venue_order_id)
        self.by_venue_id[key] = order.client_order_id
        for item in self._orphans.pop(key, ()):
            if isinstance(item, Fill):
                self.on_fill(item)
            else:
                self.on_order_report(item)

    # --- the engine's own changes -------------------------------------------------------------

    def transition(self, coid: str, target: OrderStatus, reason: str | None = None) -> Order | None:
        """Move an order to `target` by the engine's own decision (refused if the table forbids)."""
        order = self.orders[coid]
        if not can_transition(order.status, target):
            self._refuse(order, target, None)
            return None
        now = self.clock.now_ns()
        updated = msgspec.structs.replace(
            order,
            status=target,
            reason=reason or order.reason,
            pending=None if target.is_terminal else order.pending,
            updated_ns=now,
        )
        self.commit(now, [("order", updated)], order.status, updated)
        return updated

    def reject(self, coid: str, reason: str) -> None:
        if self.transition(coid, S.REJECTED, reason) is not None:
            self.risk.record_reject(self.clock.now_ns())
            self.log.warning("order rejected", client_order_id=coid, reason=reason)

    def clear_pending(self, coid: str, reason: str | None, *, only: Pending | None = None) -> None:
        """Clear the pending flag (only if it is `only`, when given). When it stays, a working
        order still records `reason`: a refused modify must not clear a cancel asked meanwhile,
        but the strategy hears of the refusal."""
        order = self.orders[coid]
        clear = order.pending is not None and (only is None or order.pending is only)
        if not clear and (reason is None or reason == order.reason or not order.is_open):
            return
        now = self.clock.now_ns()
        updated = msgspec.structs.replace(
            order,
            pending=None if clear else order.pending,
            reason=reason or order.reason,
            updated_ns=now,
        )
        self.commit(now, [("order", updated)], order.status, updated)
        if reason:
            self.log.warning("request refused", client_order_id=coid, reason=reason)

    def _refuse(self, order: Order, target: OrderStatus, report: OrderReport | None) -> None:
        self.stats.refused_transitions += 1
        self.log.warning(
            "transition refused",
            client_order_id=order.client_order_id,
            current=order.status,
            target=target,
            source="venue" if report is not None else "engine",
        )

    # --- journal, store, announce -------------------------------------------------------------

    def commit(
        self,
        now: int,
        records: Iterable[tuple[str, Any]],
        previous: OrderStatus | None,
        updated: Order,
    ) -> None:
        coid = updated.client_order_id
        self.journal_rows(now, [(kind, coid, body) for kind, body in records])
        self._store_and_announce(previous, updated, now)

    def _store_and_announce(self, previous: OrderStatus | None, updated: Order, now: int) -> None:
        self.store(updated)
        self._announce(previous, updated, now)

    def store(self, updated: Order) -> None:
        coid = updated.client_order_id
        self.orders[coid] = updated
        if updated.is_open:
            self.open[coid] = updated
        else:
            self.open.pop(coid, None)
            self.modifications.pop(coid, None)
            self._finished.setdefault(coid)

    # --- finished orders out of memory, and back ----------------------------------------------

    def restore(self, order: Order) -> None:
        """Take an order from the journal at restart (no journal write, no announcement)."""
        self.store(order)
        if order.venue_order_id:
            self.by_venue_id[(order.venue, order.venue_order_id)] = order.client_order_id

    def restore_fill(self, fill: Fill) -> None:
        """Take a fill from the journal at restart: known from now on, its order's sums updated."""
        self.fill_ids.add((fill.venue, fill.fill_id))
        coid = fill.client_order_id
        if coid is not None:
            self.notional[coid] = self.notional.get(coid, ZERO) + fill.price * fill.qty
            self._fills_of.setdefault(coid, []).append(fill.fill_id)
        self.last_fill_ns[fill.venue] = max(self.last_fill_ns.get(fill.venue, 0), fill.ts_event)


    def retire(self, keep: int | None = None) -> int:
        """Let the oldest finished orders beyond `keep` (default `keep_finished`) leave memory.

        Called after a journal commit, so each has been journalled and announced. Orders a request
        in flight still reads stay. Returns how many left."""
        keep = self.keep_finished if keep is None else keep
        excess = len(self._finished) - keep
        if excess <= 0:
            return 0
        leaving: list[Retired] = []
        for coid in list(itertools.islice(self._finished, excess)):
            order = self.orders.get(coid)
            if order is not None and not self.pinned[coid] and order.status.is_terminal:
                leaving.append(self._retired(order))
        self.journal.retire(leaving)  # first: if it fails, everything stays in memory
        for record in leaving:
            self._forget(record.order)
        self.stats.retired += len(leaving)
        return len(leaving)

    def _retired(self, order: Order) -> Retired:
        coid = order.client_order_id
        return Retired(order=order, fill_ids=self._fills_of.get(coid, []), notional=self.notional.get(coid))

    def _forget(self, order: Order) -> None:
        coid = order.client_order_id
        del self.orders[coid]
        self._finished.pop(coid, None)
        self.notional.pop(coid, None)
        for fill_id in self._fills_of.pop(coid, ()):
            self.fill_ids.discard((order.venue, fill_id))
        if order.venue_order_id is not None:
            self.by_venue_id.pop((order.venue, order.venue_order_id), None)
        self.retired_counts[(order.status.value, order.venue)] += 1

    def _recall(self, venue: str, coid: str | None, venue_order_id: str | None) -> str | None:
        """Bring a retired order back into memory for a late report or fill of it."""
        record = self.journal.recall(venue, coid, venue_order_id)
        if record is None or record.order.venue != venue:
            return None
        order = record.order
        coid = order.client_order_id
        self.orders[coid] = order
        self._finished[coid] = None
        self.retired_counts[(order.status.value, order.venue)] -= 1
        if order.venue_order_id is not None:
            self.by_venue_id[(order.venue, order.venue_order_id)] = coid
        if record.notional is not None:
            self.notional[coid] = record.notional
        self._fills_of[coid] = list(record.fill_ids)
        self.fill_ids.update((order.venue, fill_id) for fill_id in record.fill_ids)
        self.stats.recalled += 1
        return coid

    def _announce(self, previous: OrderStatus | None, updated: Order, now: int) -> None:
        coid = updated.client_order_id
        self.bus.publish(OrderUpdate(updated, previous, now), updated.strategy_id)
        self.log.debug(
            "order",
            client_order_id=coid,
            status=updated.status,
            previous=previous,
        )

    def journal_rows(self, now: int, rows: list[tuple[str, str | None, Any]]) -> None:
        """Write to the journal's open transaction; it is committed at the end of this loop turn
        at the latest (unless `flush_each_turn` is off), and before any request leaves for a
        venue (see `durable`)."""
        self.journal.write(now, rows)
        if not self._flush_scheduled and self.flush_each_turn:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a synchronous caller): commit now
                self._flush()
                return
            self._flush_scheduled = True
            loop.call_soon(self._flush)

    def flush(self) -> None:
        """Commit what is written and let finished orders beyond the limit leave memory."""
        self._flush()

    def _flush(self) -> None:
        self._flush_scheduled = False
        try:
            self.journal.commit()
        except Exception as exc:
            self.risk.halt(f"journal commit failed: {exc!r}")
            self.log.error("journal commit failed: new orders halted", error=repr(exc), exc_info=exc)
            return
        # in batches: one journal transaction per order retired was an eighth of a dense backtest
        if len(self._finished) > self.keep_finished + self.keep_finished // 16:
            try:
                self.retire()
            except Exception as exc:  # memory grows until the journal takes them; nothing is lost
                self.log.error("finished orders could not be retired to the journal", error=repr(exc))

    def durable(self, coid: str) -> bool:
        """Commit the journal before a request leaves for a venue; False (order refused) if it can't."""
        try:
            self.journal.commit()
            return True
        except Exception as exc:
            self.risk.halt(f"journal commit failed: {exc!r}")
            self.log.error("journal commit failed: request not sent", client_order_id=coid, error=repr(exc))
            return False


_PROGRESS = {S.NEW: 0, S.SUBMITTED: 1, S.PLACED: 2, S.UPDATED: 3, S.COMPLETED: 4}


def _is_stale(current: OrderStatus, target: OrderStatus) -> bool:
    """True when `target` is behind where the order already is (not a contradiction)."""
    if target.is_open:
        return current.is_terminal or _PROGRESS[target] < _PROGRESS[current]
    return False
