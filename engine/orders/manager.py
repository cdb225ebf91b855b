"""The order manager: the one owner of every order's state.

The manager is the only writer of order state. Strategies ask it to submit, cancel and modify;
venues tell it what happened (reports and fills, through the `ExecutionSink` methods). Each change
is written to the journal first, then applied, then announced on the bus as an `OrderUpdate` (and a
`Fill`) routed by strategy id.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Coroutine, Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

import msgspec
import structlog

from engine.errors import OrderNotFound, VenueError
from engine.events import (
    ZERO,
    Balance,
    Fill,
    Order,
    OrderReport,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Pending,
    Side,
    TimeInForce,
)

if TYPE_CHECKING:
    from engine.account.portfolio import Portfolio
    from engine.account.risk import RiskEngine
    from engine.clock import Clock
    from engine.data.bus import Bus
    from engine.orders.journal import Journal
    from engine.venue.contract import Venue

from engine.orders.ids import ClientOrderIds
from engine.orders.table import can_transition

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


class OrderManager:
    def __init__(
        self,
        *,
        bus: Bus,
        clock: Clock,
        journal: Journal,
        portfolio: Portfolio,
        risk: RiskEngine,
        venues: Mapping[str, Venue],
        ids: ClientOrderIds | None = None,
        orphan_limit: int = 10_000,
    ) -> None:
        self.bus = bus
        self.clock = clock
        self.journal = journal
        self.portfolio = portfolio
        self.risk = risk
        self.venues = dict(venues)
        self.ids = ids or ClientOrderIds()
        self.stats = ManagerStats()
        self.ready = False
        self.orders: dict[str, Order] = {}
        self._open: dict[str, Order] = {}
        self._by_venue_id: dict[tuple[str, str], str] = {}
        self._fill_ids: set[tuple[str, str]] = set()
        self._orphans: dict[tuple[str, str], list[OrderReport | Fill]] = {}
        self._orphan_order: deque[tuple[str, str]] = deque()
        self._orphan_limit = orphan_limit
        self._modifications: dict[str, tuple[Decimal | None, Decimal | None, Decimal | None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._flush_scheduled = False
        self._last_fill_ns: dict[str, int] = {}
        # quote value (sum of price * qty) of every order's fills: avg_price is one exact division
        self._notional: dict[str, Decimal] = {}
        # bound now: a filtered-out debug call is then a plain no-op method, not a proxy lookup
        self.log = structlog.get_logger("tickbus.orders").bind()

    # --- queries ------------------------------------------------------------------------------

    def get(self, client_order_id: str) -> Order | None:
        return self.orders.get(client_order_id)

    def open_orders(
        self, *, strategy_id: str | None = None, instrument: str | None = None
    ) -> list[Order]:
        return [
            o
            for o in self._open.values()
            if (strategy_id is None or o.strategy_id == strategy_id)
            and (instrument is None or o.instrument == instrument)
        ]

    @property
    def open_count(self) -> int:
        return len(self._open)

    def slices(self, parent_id: str) -> list[Order]:
        """Every slice of an order split at the freeze quantity (the first slice included)."""
        return [o for o in self.orders.values() if o.client_order_id == parent_id or o.parent_id == parent_id]

    def open_exposure(self, instrument: str) -> tuple[Decimal, Decimal]:
        """Remaining quantity of open buy and sell orders for `instrument`."""
        buys = sells = ZERO
        for o in self._open.values():
            if o.instrument == instrument:
                if o.side is Side.BUY:
                    buys += o.remaining
                else:
                    sells += o.remaining
        return buys, sells

    # --- commands from strategies -------------------------------------------------------------

    def submit(
        self,
        *,
        strategy_id: str,
        instrument: str,
        venue: str,
        side: Side,
        qty: Decimal,
        type: OrderType = OrderType.MARKET,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
        tif: TimeInForce = TimeInForce.GTC,
        after_market: bool = False,
        options: Mapping[str, str] | None = None,
    ) -> Order:
        """Create an order, check it, journal it and send it; returns at once.

        Above the instrument's freeze quantity the order is checked as a whole, then split into
        slices the exchange accepts, each an order of its own with `parent_id` naming the first;
        the first is returned. The slices count as one request against the order-rate limit.
        """
        now = self.clock.now_ns()
        whole = Order(
            client_order_id=self._next_id(), strategy_id=strategy_id, instrument=instrument, venue=venue,
            side=side, type=type, qty=qty, price=price, trigger_price=trigger_price, tif=tif,
            after_market=after_market, options=dict(options or {}), created_ns=now, updated_ns=now,
        )
        inst = self.portfolio.instruments.get(instrument)
        sizes = [qty]
        if inst is not None and inst.freeze_qty and qty > inst.freeze_qty:
            sizes = freeze_slices(qty, inst.freeze_qty, inst.lot_size)
        reason = self._refusal(whole, new_orders=len(sizes))
        self.stats.submitted += 1
        if reason is not None:
            return self._refuse_new(whole, reason, now)
        self.risk.record_submit(venue, now)
        if len(sizes) == 1:
            self._accept(whole, now)
            return whole
        first: Order | None = None
        for size in sizes:
            piece = msgspec.structs.replace(
                whole,
                client_order_id=whole.client_order_id if first is None else self._next_id(),
                qty=size, parent_id=None if first is None else first.client_order_id,
            )
            reason = self._refusal(piece, count_rate=False)
            if reason is None:
                self._accept(piece, now)
            else:
                piece = self._refuse_new(piece, reason, now)
            first = first or piece
        assert first is not None
        return first

    def _next_id(self) -> str:
        coid = self.ids.next()
        while coid in self.orders:  # a restart within the same millisecond, or a clock step back
            coid = self.ids.next()
        return coid

    def _accept(self, order: Order, now: int) -> None:
        # The send task is created first so that it runs before this turn's journal flush: its
        # commit before the request then covers this record too (one commit, not two).
        self._spawn(self._send(order.client_order_id))
        self._commit(now, [("order", order)], None, order)

    def _refuse_new(self, order: Order, reason: str, now: int) -> Order:
        self.stats.risk_rejected += 1
        self.risk.record_reject(now)
        rejected = msgspec.structs.replace(order, status=S.REJECTED, reason=reason)
        self._commit(now, [("order", order), ("order", rejected)], None, rejected)
        self.log.warning("order refused", client_order_id=order.client_order_id, reason=reason)
        return rejected

    def _refusal(self, order: Order, *, new_orders: int = 1, count_rate: bool = True) -> str | None:
        if not self.ready:
            return "engine not ready: reconciliation with the venues has not finished"
        if order.venue not in self.venues:
            return f"no venue {order.venue!r} to execute on"
        return self.risk.check(order, self, new_orders=new_orders, count_rate=count_rate)

    def cancel(self, client_order_id: str) -> Order | None:
        """Ask the venue to cancel; the pending flag is set until the venue answers."""
        order = self.orders.get(client_order_id)
        if order is None or not order.is_open or order.pending is Pending.CANCEL:
            return order
        now = self.clock.now_ns()
        flagged = msgspec.structs.replace(order, pending=Pending.CANCEL, updated_ns=now)
        self._commit(now, [("order", flagged)], order.status, flagged)
        if order.status not in _AWAITING_ACK:  # otherwise it goes out once the placement is answered
            self._spawn(self._send_cancel(client_order_id))
        return flagged

    def modify(
        self,
        client_order_id: str,
        *,
        qty: Decimal | None = None,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
    ) -> Order | None:
        order = self.orders.get(client_order_id)
        if order is None or not order.is_open or order.pending is not None:
            return order
        candidate = msgspec.structs.replace(
            order,
            qty=qty if qty is not None else order.qty,
            price=price if price is not None else order.price,
            trigger_price=trigger_price if trigger_price is not None else order.trigger_price,
        )
        reason = self.risk.check_modify(candidate, self, order)
        now = self.clock.now_ns()
        if reason is not None:
            refused = msgspec.structs.replace(order, reason=f"modify refused: {reason}", updated_ns=now)
            self._commit(now, [("order", refused)], order.status, refused)
            return refused
        flagged = msgspec.structs.replace(order, pending=Pending.MODIFY, updated_ns=now)
        self._modifications[client_order_id] = (qty, price, trigger_price)
        self._commit(now, [("order", flagged)], order.status, flagged)
        if order.status not in _AWAITING_ACK:
            self._spawn(self._send_modify(client_order_id))
        return flagged

    async def cancel_all(self, *, strategy_id: str | None = None) -> int:
        targets = [o.client_order_id for o in self.open_orders(strategy_id=strategy_id)]
        for coid in targets:
            self.cancel(coid)
        await self.settle()
        return len(targets)

    # --- talking to venues --------------------------------------------------------------------

    async def _send(self, coid: str) -> None:
        order = self._transition_local(coid, S.SUBMITTED)
        if order is None:
            return
        venue = self.venues[order.venue]
        if not self._durable(coid):
            self._reject(coid, "not sent: the journal cannot be written")
            return
        try:
            ack = await venue.place(order)
        except VenueError as exc:
            if exc.retryable:
                await self._resolve_unknown(coid, exc)
            else:
                self._reject(coid, _venue_reason(exc))
            return
        except Exception as exc:  # broken connection, timeout, or an adapter bug: outcome unknown
            if not isinstance(exc, (OSError, asyncio.TimeoutError)):
                self.log.error("venue place failed unexpectedly", client_order_id=coid, error=repr(exc), exc_info=exc)
            await self._resolve_unknown(coid, exc)
            return
        self.on_order_report(_with_client_id(ack, coid))
        self._after_ack(coid)

    def _after_ack(self, coid: str) -> None:
        order = self.orders.get(coid)
        if order is None or not order.is_open:
            return
        if order.pending is Pending.CANCEL:
            self._spawn(self._send_cancel(coid))
        elif order.pending is Pending.MODIFY:
            self._spawn(self._send_modify(coid))

    async def _resolve_unknown(self, coid: str, exc: BaseException) -> None:
        """A placement whose outcome is unknown: ask the venue, never blindly send it again.

        While the venue cannot be asked, ask again with backoff; after that the order stays
        submitted (it counts as open) and the next reconciliation settles it.
        """
        self.log.warning("placement outcome unknown", client_order_id=coid, error=repr(exc))
        delay = _LOOKUP_FIRST_DELAY_S
        report = await self._lookup(self.orders[coid])
        for _ in range(_LOOKUP_ATTEMPTS - 1):
            if report is not UNREACHABLE:
                break
            await self.clock.sleep(delay)
            delay *= 2
            report = await self._lookup(self.orders[coid])
        if report is UNREACHABLE:
            self.log.error("placement outcome still unknown: left submitted until reconciliation", client_order_id=coid)
            return
        if self.orders[coid].status is not S.SUBMITTED:  # a report or a fill settled it meanwhile
            self._after_ack(coid)
            return
        if report is None:
            self._reject(coid, f"not received by the venue ({exc!r})")
        else:
            self.on_order_report(_with_client_id(report, coid))
            self._after_ack(coid)

    async def _send_cancel(self, coid: str) -> None:
        order = self.orders[coid]
        venue = self.venues[order.venue]
        if not self._durable(coid):
            self._clear_pending(coid, "cancel not sent: the journal cannot be written", only=Pending.CANCEL)
            return
        report: OrderReport | None | _Unreachable
        try:
            report = await venue.cancel(order)
        except OrderNotFound:
            report = await self._lookup(order)
            if report is UNREACHABLE:
                self._clear_pending(coid, "cancel outcome unknown: the venue cannot be asked", only=Pending.CANCEL)
                return
            if report is None and self.orders[coid].status is not S.SUBMITTED:
                # nothing to cancel at the venue: free the flag so the strategy may ask again
                # (a submitted order keeps it: the cancel goes out once the placement is acked)
                self._clear_pending(
                    coid, "cancel failed: the venue does not know the order", only=Pending.CANCEL
                )
                return
        except Exception as exc:
            self._request_failed(coid, Pending.CANCEL, exc)
            return
        if report is not None:
            self.on_order_report(_with_client_id(report, coid))
        current = self.orders[coid]
        if current.pending is Pending.CANCEL and current.is_open and report is not None:
            if report.status.is_open:  # the venue still shows it working
                self._clear_pending(coid, "cancel not confirmed by the venue")

    async def _send_modify(self, coid: str) -> None:
        order = self.orders[coid]
        qty, price, trigger = self._modifications.pop(coid, (None, None, None))
        if not self._durable(coid):
            self._clear_pending(coid, "modify not sent: the journal cannot be written", only=Pending.MODIFY)
            return
        try:
            report = await self.venues[order.venue].modify(
                order, qty=qty, price=price, trigger_price=trigger
            )
        except Exception as exc:
            self._request_failed(coid, Pending.MODIFY, exc)
            return
        if report is not None:
            self.on_order_report(_with_client_id(report, coid))
        self._clear_pending(coid, None, only=Pending.MODIFY)

    def _request_failed(self, coid: str, request: Pending, exc: Exception) -> None:
        """A cancel or modify that failed: its flag goes, with the venue's refusal or the error
        that left the outcome unknown (an adapter bug is logged with its traceback too)."""
        if isinstance(exc, VenueError):
            reason = f"{request.value} refused: {_venue_reason(exc)}"
        else:
            if not isinstance(exc, (OSError, asyncio.TimeoutError)):
                self.log.error(f"venue {request.value} failed unexpectedly", client_order_id=coid, error=repr(exc), exc_info=exc)
            reason = f"{request.value} outcome unknown: {exc!r}"
        self._clear_pending(coid, reason, only=request)

    async def _lookup(self, order: Order) -> OrderReport | None | _Unreachable:
        """The venue's report of `order`; None when it does not know the order; UNREACHABLE when
        it could not be asked (a failed lookup says nothing about the order)."""
        try:
            return await self.venues[order.venue].order_status(order)
        except OrderNotFound:
            return None
        except Exception as exc:
            self.log.warning("order status lookup failed", client_order_id=order.client_order_id, error=repr(exc))
            return UNREACHABLE

    # --- the execution sink: what venues report -----------------------------------------------

    def on_order_report(self, report: OrderReport) -> None:
        coid = self._resolve(report.venue, report.client_order_id, report.venue_order_id)
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
        self._commit(now, [("report", report), ("order", updated)], order.status, updated)
        if "venue_order_id" in changes:
            self._learn_venue_id(updated)

    def on_fill(self, fill: Fill) -> None:
        key = (fill.venue, fill.fill_id)
        if key in self._fill_ids:
            self.stats.duplicate_fills += 1
            return
        if fill.qty <= 0:  # not a trade: applying it would shrink filled_qty or fake progress
            self.stats.bad_fills += 1
            self.log.error(
                "fill without a positive quantity ignored", venue=fill.venue, fill_id=fill.fill_id,
                qty=str(fill.qty),
            )
            return
        coid = self._resolve(fill.venue, fill.client_order_id, fill.venue_order_id)
        if coid is None:
            self._park(fill.venue, fill.venue_order_id, fill)
            return
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
        notional = self._notional.get(coid)
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
            updated_ns=now,
        )
        self._journal(now, [("fill", coid, fill), ("order", coid, updated)])
        # only once it is journalled is the fill known: a failed write leaves it to be redelivered
        self._fill_ids.add(key)
        self._notional[coid] = notional
        self.stats.fills += 1
        self._last_fill_ns[fill.venue] = max(self._last_fill_ns.get(fill.venue, 0), fill.ts_event)
        # the state first, then the announcements: a handler that runs inside publish (backtests)
        # sees the filled order, and what it does to the order is not overwritten afterwards
        self._store(updated)
        self.portfolio.apply_fill(fill)
        self.bus.publish(fill, order.strategy_id)
        self._announce(order.status, self.orders[coid], now)
        self.log.info(
            "fill",
            client_order_id=coid,
            side=fill.side,
            qty=str(fill.qty),
            price=str(fill.price),
            status=status,
        )

    def on_balance(self, balance: Balance) -> None:
        self.portfolio.on_balance(balance)

    # --- restart: rebuild from the journal, then reconcile with the venues --------------------

    async def recover(self) -> dict[str, int]:
        state = self.journal.load()
        for order in state.orders.values():
            self.orders[order.client_order_id] = order
            if order.is_open:
                self._open[order.client_order_id] = order
            if order.venue_order_id:
                self._by_venue_id[(order.venue, order.venue_order_id)] = order.client_order_id
        for fill in state.fills:
            self._fill_ids.add((fill.venue, fill.fill_id))
            if fill.client_order_id is not None:
                coid = fill.client_order_id
                self._notional[coid] = self._notional.get(coid, ZERO) + fill.price * fill.qty
            self.portfolio.apply_fill(fill)
            self._last_fill_ns[fill.venue] = max(self._last_fill_ns.get(fill.venue, 0), fill.ts_event)
        summary = {"orders": len(state.orders), "open": len(self._open), "fills": len(state.fills)}
        for name, venue in self.venues.items():
            if venue.supports_execution:
                summary.update(await self._reconcile(name, venue))
        self.ready = True
        self.log.info("recovered", **summary)
        return summary

    async def _reconcile(self, name: str, venue: Venue) -> dict[str, int]:
        now = self.clock.now_ns()
        for order in [o for o in self._open.values() if o.venue == name and o.status is S.NEW]:
            self._reject(order.client_order_id, "not sent before the engine stopped")
        seen: set[str] = set()
        unknown = 0
        for report in await venue.open_orders():
            coid = self._resolve(name, report.client_order_id, report.venue_order_id)
            if coid is None:
                unknown += 1
                self.log.warning(
                    "open order at the venue that the journal does not know",
                    venue=name,
                    venue_order_id=report.venue_order_id,
                )
                continue
            seen.add(coid)
            self.on_order_report(_with_client_id(report, coid))
        since = self._last_fill_ns.get(name, 0)
        for fill in await venue.fills_since(max(since - 60 * 1_000_000_000, 0)):
            self.on_fill(fill)
        unresolved = 0
        for order in [o for o in self._open.values() if o.venue == name and o.client_order_id not in seen]:
            found = await self._lookup(order)
            current = self.orders[order.client_order_id]
            if found is UNREACHABLE:
                unresolved += 1  # as it was: a lookup that failed proves nothing
            elif found is not None:
                self.on_order_report(_with_client_id(found, order.client_order_id))
            elif current.status is S.SUBMITTED:
                self._reject(order.client_order_id, "not received by the venue (reconciliation)")
            elif current.is_open:
                gone = OrderReport(
                    venue=name,
                    client_order_id=order.client_order_id,
                    status=S.CANCELLED,
                    reason="no longer at the venue (reconciliation)",
                    ts_event=now,
                )
                self.on_order_report(gone)
        for balance in await venue.balances():
            self.portfolio.on_balance(balance)
        # requests in flight when the engine stopped: a cancel is asked again (it is safe to
        # repeat); a modify's parameters were not kept, so its flag is cleared with a reason
        for order in [o for o in self._open.values() if o.venue == name and o.pending is not None]:
            coid = order.client_order_id
            if order.pending is Pending.CANCEL:
                await self._send_cancel(coid)
            else:
                self._clear_pending(
                    coid, "modify outcome unknown: the engine restarted", only=Pending.MODIFY
                )
        return {f"{name}_unknown_open": unknown, f"{name}_unresolved": unresolved}

    # --- internals ----------------------------------------------------------------------------

    def _resolve(self, venue: str, coid: str | None, venue_order_id: str | None) -> str | None:
        if coid is not None and coid in self.orders:
            return coid
        if venue_order_id is not None:
            return self._by_venue_id.get((venue, venue_order_id))
        return None

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
        self._by_venue_id[key] = order.client_order_id
        for item in self._orphans.pop(key, ()):
            if isinstance(item, Fill):
                self.on_fill(item)
            else:
                self.on_order_report(item)

    def _transition_local(self, coid: str, target: OrderStatus, reason: str | None = None) -> Order | None:
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
        self._commit(now, [("order", updated)], order.status, updated)
        return updated

    def _reject(self, coid: str, reason: str) -> None:
        if self._transition_local(coid, S.REJECTED, reason) is not None:
            self.risk.record_reject(self.clock.now_ns())
            self.log.warning("order rejected", client_order_id=coid, reason=reason)

    def _clear_pending(self, coid: str, reason: str | None, *, only: Pending | None = None) -> None:
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
        self._commit(now, [("order", updated)], order.status, updated)
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

    def _commit(
        self,
        now: int,
        records: Iterable[tuple[str, Any]],
        previous: OrderStatus | None,
        updated: Order,
    ) -> None:
        coid = updated.client_order_id
        self._journal(now, [(kind, coid, body) for kind, body in records])
        self._apply(previous, updated, now)

    def _apply(self, previous: OrderStatus | None, updated: Order, now: int) -> None:
        self._store(updated)
        self._announce(previous, updated, now)

    def _store(self, updated: Order) -> None:
        coid = updated.client_order_id
        self.orders[coid] = updated
        if updated.is_open:
            self._open[coid] = updated
        else:
            self._open.pop(coid, None)
            self._modifications.pop(coid, None)

    def _announce(self, previous: OrderStatus | None, updated: Order, now: int) -> None:
        coid = updated.client_order_id
        self.bus.publish(OrderUpdate(updated, previous, now), updated.strategy_id)
        self.log.debug(
            "order",
            client_order_id=coid,
            status=updated.status,
            previous=previous,
        )

    def _journal(self, now: int, rows: list[tuple[str, str | None, Any]]) -> None:
        """Write to the journal's open transaction; it is committed at the end of this loop turn
        at the latest, and before any request leaves for a venue (see `_durable`)."""
        self.journal.write(now, rows)
        if not self._flush_scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a synchronous caller): commit now
                self._flush()
                return
            self._flush_scheduled = True
            loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        try:
            self.journal.commit()
        except Exception as exc:
            self.risk.halt(f"journal commit failed: {exc!r}")
            self.log.error("journal commit failed: new orders halted", error=repr(exc), exc_info=exc)

    def _durable(self, coid: str) -> bool:
        """Commit the journal before a request leaves for a venue; False (order refused) if it can't."""
        try:
            self.journal.commit()
            return True
        except Exception as exc:
            self.risk.halt(f"journal commit failed: {exc!r}")
            self.log.error("journal commit failed: request not sent", client_order_id=coid, error=repr(exc))
            return False

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("order task failed", error=repr(task.exception()), exc_info=task.exception())

    async def settle(self) -> None:
        """Wait for every request in flight (submissions, cancels, modifies) to finish."""
        for _ in range(1_000):
            if not self._tasks:
                return
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    @property
    def busy(self) -> bool:
        return bool(self._tasks)


class _Unreachable(enum.Enum):
    """The venue could not be asked (see `OrderManager._lookup`)."""

    UNREACHABLE = "UNREACHABLE"


UNREACHABLE: Final = _Unreachable.UNREACHABLE
_AWAITING_ACK = frozenset({S.NEW, S.SUBMITTED})
_LOOKUP_ATTEMPTS = 6  # asking again after 0.5, 1, 2, 4 and 8 s of engine time
_LOOKUP_FIRST_DELAY_S = 0.5


def freeze_slices(qty: Decimal, freeze_qty: Decimal, lot: Decimal) -> list[Decimal]:
    """`qty` as slices of at most the freeze quantity (rounded down to whole lots), largest first."""
    step = (freeze_qty // lot) * lot if lot > 0 else freeze_qty
    if step <= 0:
        return [qty]
    full, rest = divmod(qty, step)
    return [step] * int(full) + ([rest] if rest else [])


_PROGRESS = {S.NEW: 0, S.SUBMITTED: 1, S.PLACED: 2, S.UPDATED: 3, S.COMPLETED: 4}


def _is_stale(current: OrderStatus, target: OrderStatus) -> bool:
    """True when `target` is behind where the order already is (not a contradiction)."""
    if target.is_open:
        return current.is_terminal or _PROGRESS[target] < _PROGRESS[current]
    return False


def _with_client_id(report: OrderReport, coid: str) -> OrderReport:
    if report.client_order_id == coid:
        return report
    return msgspec.structs.replace(report, client_order_id=coid)


def _venue_reason(exc: VenueError) -> str:
    code = f" [{exc.code}]" if exc.code is not None else ""
    return f"{exc.venue}{code}: {exc.text}"
