"""The order manager: the façade strategies and the runner call, over the parts that own orders.

The manager's book (`engine.orders.book`) is the only writer of order state. Strategies ask the
manager to submit, cancel and modify; it checks them (risk, freeze-quantity slicing) and hands the
requests to its execution (`engine.orders.execution`). Venues tell it what happened (reports and
fills, through the `ExecutionSink` methods, which are the book's own). On a restart its recovery
(`engine.orders.recovery`) rebuilds the book from the journal and reconciles it with the venues.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

from engine.events import (
    Balance,
    Fill,
    Order,
    OrderReport,
    OrderStatus,
    OrderType,
    Pending,
    Side,
    TimeInForce,
)
from engine.orders.book import ManagerStats, OrderBook
from engine.orders.execution import AWAITING_ACK, Execution
from engine.orders.ids import ClientOrderIds
from engine.orders.recovery import Recovery
from engine.orders.slicing import freeze_slices

if TYPE_CHECKING:
    import asyncio

    from engine.account.portfolio import Portfolio
    from engine.account.risk import RiskEngine
    from engine.clock import Clock
    from engine.data.bus import Bus
    from engine.orders.journal import OrderJournal
    from engine.venue.contract import Venue

__all__ = ["ManagerStats", "OrderManager", "freeze_slices"]

S = OrderStatus


class OrderManager:
    # the execution sink's report and fill methods are the book's, bound in __init__: the hot
    # path pays no call for the façade
    on_order_report: Callable[[OrderReport], None]
    on_fill: Callable[[Fill], None]

    def __init__(
        self,
        *,
        bus: Bus,
        clock: Clock,
        journal: OrderJournal,
        portfolio: Portfolio,
        risk: RiskEngine,
        venues: Mapping[str, Venue],
        ids: ClientOrderIds | None = None,
        orphan_limit: int = 10_000,
        keep_finished: int = 10_000,
    ) -> None:
        self.bus = bus
        self.clock = clock
        self.journal = journal
        self.portfolio = portfolio
        self.risk = risk
        self._venues = dict(venues)
        self.ids = ids or ClientOrderIds()
        self._ids_reused: tuple[str, bool] | None = None  # (id prefix, journal holds ids with it): see _next_id
        self.stats = ManagerStats()
        self.ready = False
        # bound now: a filtered-out debug call is then a plain no-op method, not a proxy lookup
        self.log = structlog.get_logger("tickbus.orders").bind()
        self.book = OrderBook(
            bus=bus, clock=clock, journal=journal, portfolio=portfolio, risk=risk, stats=self.stats,
            log=self.log, orphan_limit=orphan_limit, keep_finished=keep_finished,
        )
        self.execution = Execution(book=self.book, clock=clock, venues=self._venues, log=self.log)
        self.recovery = Recovery(book=self.book, execution=self.execution, venues=self._venues, log=self.log)
        self.orders: dict[str, Order] = self.book.orders  # the book's own dict, never a copy
        self._tasks: set[asyncio.Task[Any]] = self.execution.tasks
        self.on_order_report = self.book.on_order_report
        self.on_fill = self.book.on_fill

    @property
    def venues(self) -> dict[str, Venue]:
        """The venues orders execute on (set once they are built); the execution and recovery
        use the same dict."""
        return self._venues

    @venues.setter
    def venues(self, venues: dict[str, Venue]) -> None:
        self._venues = self.execution.venues = self.recovery.venues = venues

    # --- queries ------------------------------------------------------------------------------

    def get(self, client_order_id: str) -> Order | None:
        """An order by client id, also one finished long ago (read back from the journal)."""
        return self.book.find(client_order_id)

    def open_orders(
        self, *, strategy_id: str | None = None, instrument: str | None = None
    ) -> list[Order]:
        return [
            o
            for o in self.book.open.values()
            if (strategy_id is None or o.strategy_id == strategy_id)
            and (instrument is None or o.instrument == instrument)
        ]

    @property
    def open_count(self) -> int:
        return len(self.book.open)

    def slices(self, parent_id: str) -> list[Order]:
        """Every slice of an order split at the freeze quantity (the first slice included) that
        is still in memory (a finished order leaves it once `keep_finished` newer ones finished)."""
        return [o for o in self.orders.values() if o.client_order_id == parent_id or o.parent_id == parent_id]

    def open_exposure(self, instrument: str) -> tuple[Decimal, Decimal]:
        """Remaining quantity of open buy and sell orders for `instrument`."""
        return self.book.open_exposure(instrument)

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
        client_order_id: str | None = None,
    ) -> Order:
        """Create an order, check it, journal it and send it; returns at once.

        `client_order_id` is given by a strategy host across the bridge (it made the id); an id
        this book already holds is that order sent again, and the order as it stands is returned.

        Above the instrument's freeze quantity the order is checked as a whole, then split into
        slices the exchange accepts, each an order of its own with `parent_id` naming the first;
        the first is returned. The slices count as one request against the order-rate limit.
        """
        if client_order_id is not None and (held := self.get(client_order_id)) is not None:
            self.stats.duplicate_submits += 1  # retired orders included: a late resend is still a resend
            return held
        now = self.clock.now_ns()
        whole = Order(
            client_order_id=client_order_id or self._next_id(), strategy_id=strategy_id, instrument=instrument, venue=venue,
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
        return self._submit_slices(whole, sizes, now)

    def _submit_slices(self, whole: Order, sizes: list[Decimal], now: int) -> Order:
        """Each slice checked (not against the rate: the whole counted once) and sent; the first."""
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
        ids = self.ids
        if self._ids_reused is None or self._ids_reused[0] != ids.prefix:
            # an earlier run with the same id prefix: a restart within the same millisecond, or a
            # clock step back. Asked of the journal once; without one, no id is looked up there.
            self._ids_reused = (ids.prefix, self.book.journal.holds_ids_from(ids.prefix))
        look_in_journal = self._ids_reused[1]
        orders = self.book.orders
        coid = ids.next()
        while coid in orders or (look_in_journal and self.book.find(coid) is not None):
            coid = ids.next()
        return coid

    def _accept(self, order: Order, now: int) -> None:
        # The request is queued first so that it runs before this turn's journal flush: its
        # commit before the request then covers this record too (one commit, not two).
        self.execution.place(order.client_order_id, order.venue)
        self.book.commit(now, [("order", order)], None, order)

    def _refuse_new(self, order: Order, reason: str, now: int) -> Order:
        self.stats.risk_rejected += 1
        self.risk.record_reject(now)
        rejected = msgspec.structs.replace(order, status=S.REJECTED, reason=reason)
        self.book.commit(now, [("order", order), ("order", rejected)], None, rejected)
        self.log.warning("order refused", client_order_id=order.client_order_id, reason=reason)
        return rejected

    def _refusal(self, order: Order, *, new_orders: int = 1, count_rate: bool = True) -> str | None:
        if not self.ready:
            return "engine not ready: reconciliation with the venues has not finished"
        if order.venue not in self.venues:
            return f"no venue {order.venue!r} to execute on"
        return self.risk.check(order, self.book, new_orders=new_orders, count_rate=count_rate)

    def cancel(self, client_order_id: str) -> Order | None:
        """Ask the venue to cancel; the pending flag is set until the venue answers."""
        order = self.orders.get(client_order_id)
        if order is None or not order.is_open or order.pending is Pending.CANCEL:
            return order
        now = self.clock.now_ns()
        flagged = msgspec.structs.replace(order, pending=Pending.CANCEL, updated_ns=now)
        self.book.commit(now, [("order", flagged)], order.status, flagged)
        if order.status not in AWAITING_ACK:  # otherwise it goes out once the placement is answered
            self.execution.cancel(client_order_id)
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
        reason = self.risk.check_modify(candidate, self.book, order)
        now = self.clock.now_ns()
        if reason is not None:
            refused = msgspec.structs.replace(order, reason=f"modify refused: {reason}", updated_ns=now)
            self.book.commit(now, [("order", refused)], order.status, refused)
            return refused
        flagged = msgspec.structs.replace(order, pending=Pending.MODIFY, updated_ns=now)
        self.book.modifications[client_order_id] = (qty, price, trigger_price)
        self.book.commit(now, [("order", flagged)], order.status, flagged)
        if order.status not in AWAITING_ACK:
            self.execution.modify(client_order_id)
        return flagged

    async def cancel_all(self, *, strategy_id: str | None = None) -> int:
        targets = [o.client_order_id for o in self.open_orders(strategy_id=strategy_id)]
        for coid in targets:
            self.cancel(coid)
        await self.settle()
        return len(targets)

    # --- the execution sink (reports and fills are the book's methods, bound above) -----------

    def on_balance(self, balance: Balance) -> None:
        self.portfolio.on_balance(balance)

    # --- restart: rebuild from the journal, then reconcile with the venues --------------------

    async def recover(self) -> dict[str, int]:
        summary = await self.recovery.recover()
        self.ready = True
        self.log.info("recovered", **summary)
        return summary

    # --- requests in flight -------------------------------------------------------------------

    async def settle(self) -> None:
        """Wait for every request in flight (submissions, cancels, modifies) to finish."""
        await self.execution.settle()

    @property
    def busy(self) -> bool:
        return self.execution.busy
