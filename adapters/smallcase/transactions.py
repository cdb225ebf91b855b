"""The transactions a run follows, each one's engine orders (legs), and a basket being gathered.

`Book` is the venue-specific half of keeping in step with smallcase (the other half is the core,
engine/venue/sync.py, which it delivers through): one transaction carries several engine orders,
and a view of it (a poll, a postback) says what became of each, as cumulative totals. So the book
maps batch orders to legs, turns the growth of a leg's filledQuantity into a fill (id
`<venue order id>:<cumulative qty>`, priced by the growth of its notional), and decides where the
view puts each leg (parsing.target). A leg's marks (its cumulative fill, its status) move only once
the engine has taken the event: the book is the sink the core delivers to, and moves them as the
order manager returns.

A transaction is followed while an order of it is in the core's working set, and past that while
the venue shows the user began it and has not given its last word (COMPLETED with every order
settled, ERRORED, not found), and for `expiry_grace_s` after it expired here unused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import structlog

from adapters.smallcase import schemas as w
from adapters.smallcase.config import SmallcaseConfig
from adapters.smallcase.parsing import (
    LegState,
    Phase,
    StatusWords,
    TransactionView,
    known,
    leg_states,
    target,
    venue_order_id,
)
from engine.events import ZERO, Balance, Fill, Order, OrderReport, OrderStatus
from engine.venue.contract import ExecutionSink
from engine.venue.sync import Look, Questions, VenueSync

log = structlog.get_logger("tickbus.smallcase")
NS = w.NS
S = OrderStatus


@dataclass
class Leg:
    """One engine order inside a transaction, as last reported to the engine."""

    order: Order
    vid: str
    filled: Decimal = ZERO
    notional: Decimal = ZERO
    status: OrderStatus = OrderStatus.SUBMITTED
    reason: str | None = None


@dataclass
class Tracked:
    """A transaction this run follows, and its orders."""

    transaction_id: str
    deadline_ns: int
    legs: dict[tuple[str, str], Leg] = field(default_factory=dict)
    adopted: bool = False  # learned from a lookup (a restart), not created in this run
    final: bool = False  # the venue's last word came: COMPLETED (every order settled), ERRORED, not found
    begun: bool = False  # the venue showed the user's step begun (USED, PROCESSING, ACTION_REQUIRED, a result)
    expired_ns: int | None = None  # when it expired here, unused
    unlisted: int = 0  # COMPLETED views that did not list every open order
    unmatched: set[tuple[str, str]] = field(default_factory=set)  # batch orders of no leg, logged once

    @property
    def done(self) -> bool:
        return all(leg.status.is_terminal for leg in self.legs.values())

    def followed(self, working: Collection[str], now_ns: int, grace_ns: int) -> bool:
        """Whether it is still worth reading: while an order of it is working, until the venue's last
        word once the user has begun, and for `grace_ns` after it expired here unused."""
        if self.final:
            return False
        if self.begun or any(leg.vid in working for leg in self.legs.values()):
            return True
        return self.expired_ns is not None and now_ns < self.expired_ns + grace_ns


class Basket:
    """The orders of one transaction while it is being gathered."""

    def __init__(self) -> None:
        self.orders: dict[tuple[str, str], Order] = {}
        # every order's SUBMITTED ack, once the transaction exists
        self.created: asyncio.Future[dict[tuple[str, str], OrderReport]] = asyncio.get_running_loop().create_future()


class Book(ExecutionSink):
    """Every transaction this run follows; see the module docstring."""

    def __init__(
        self, venue: str, config: SmallcaseConfig, sink: ExecutionSink, *,
        questions: Questions, venue_now_ns: Callable[[], int], now_ns: Callable[[], int], read_again: Callable[[], None],
    ) -> None:
        self.venue = venue
        self.config = config
        self.sink = sink  # the order manager
        self.sync = VenueSync(venue, self, questions)  # what the book delivers through
        self.words = StatusWords(self.sync.unknown_status)
        self.transactions: dict[str, Tracked] = {}
        self._venue_now_ns = venue_now_ns
        self._now_ns = now_ns
        self._read_again = read_again  # poll soon (order details lag the status)
        self._legs: dict[str, Leg] = {}  # venue order id -> leg
        self._offered: dict[str, tuple[Leg, Decimal, Decimal]] = {}  # fill id -> the marks it moves the leg to

    # --- the working set ----------------------------------------------------------------------

    def new(self, transaction_id: str, orders: dict[tuple[str, str], Order]) -> dict[tuple[str, str], OrderReport]:
        """A transaction created for `orders`: the SUBMITTED ack of each, its order now working."""
        tracked = Tracked(transaction_id, self._venue_now_ns() + int(self.config.transaction_ttl_s * NS))
        for (ticker, side), order in orders.items():
            self._add(tracked, (ticker, side), Leg(order, venue_order_id(transaction_id, ticker, side)))
        self.transactions[transaction_id] = tracked
        acks = {key: self.sync.track(OrderReport(
            venue=self.venue, status=S.SUBMITTED, client_order_id=leg.order.client_order_id, venue_order_id=leg.vid,
            instrument=leg.order.instrument, side=leg.order.side, qty=leg.order.qty, ts_event=self._now_ns(),
        )) for key, leg in tracked.legs.items()}
        return acks

    def adopt(self, order: Order, transaction_id: str, key: tuple[str, str]) -> tuple[Tracked, Leg]:
        """A transaction and an order of it learned from a lookup (a restart), followed from now on."""
        tracked = self.transactions.get(transaction_id)
        if tracked is None:
            deadline = self._venue_now_ns() + int(self.config.transaction_ttl_s * NS)
            tracked = self.transactions[transaction_id] = Tracked(transaction_id, deadline, adopted=True)
        leg = tracked.legs.get(key)
        if leg is None:
            leg = self._add(tracked, key, Leg(
                order, venue_order_id(transaction_id, *key), filled=order.filled_qty,
                notional=order.filled_qty * (order.avg_price or ZERO),
                status=order.status if order.status is not S.NEW else S.SUBMITTED,
            ))
            self.sync.track(self.report(leg))
        return tracked, leg

    def _add(self, tracked: Tracked, key: tuple[str, str], leg: Leg) -> Leg:
        tracked.legs[key] = self._legs[leg.vid] = leg
        return leg

    def followed(self, working: Collection[str]) -> list[Tracked]:
        now, grace = self._venue_now_ns(), int(self.config.expiry_grace_s * NS)
        return [t for t in self.transactions.values() if t.followed(working, now, grace)]

    def open_reports(self, working: Collection[str]) -> list[OrderReport]:
        return [self.report(leg) for vid, leg in self._legs.items() if vid in working]

    # --- views -> events ----------------------------------------------------------------------

    def apply(self, view: TransactionView) -> None:
        """Deliver what the view says through the core; once it is taken, a last word ends the
        transaction's reading. Raises (nothing marked) if the engine does not take an event."""
        tracked = self.transactions.get(view.transaction_id)
        if tracked is None:
            return
        self.sync.deliver(self.look(tracked, view))
        if tracked.final:
            return
        if view.error is not None or view.status == "ERRORED" or (view.status == "COMPLETED" and tracked.done):
            tracked.final = True
            log.info("transaction finished", venue=self.venue, transaction_id=tracked.transaction_id,
                     status=view.status, error=view.error)

    def look(self, tracked: Tracked, view: TransactionView) -> Look:
        """Fills first (they move orders on by themselves), then the statuses the view implies."""
        if tracked.adopted and view.created_at:
            tracked.deadline_ns = w.iso_ns(view.created_at) + int(self.config.transaction_ttl_s * NS)
        if self.words.phase(view.status) in (Phase.IN_PROGRESS, Phase.FINAL):
            tracked.begun = True
        states, batch_word = leg_states(view.batches)
        self._log_unmatched(tracked, states)
        finalise_unlisted = self._finalise_unlisted(tracked, states, view)
        fills: list[Fill] = []
        reports: list[OrderReport] = []
        for key, leg in tracked.legs.items():
            state = states.get(key)
            filled, notional = leg.filled, leg.notional
            if state is not None and state.filled > leg.filled:
                if leg.status.is_terminal:
                    log.warning("fill for an order that already ended here (a late completion)", venue=self.venue,
                                transaction_id=tracked.transaction_id, venue_order_id=leg.vid, status=leg.status)
                fills.append(self._fill(leg, state))
                filled, notional = state.filled, state.notional
            if leg.status.is_terminal:
                continue
            moved = target(leg, state, batch_word, view, self.words, finalise_unlisted=finalise_unlisted)
            if moved is not None and moved[0] is not leg.status:
                if moved[0] is S.EXPIRED and view.error is None and tracked.expired_ns is None:
                    tracked.expired_ns = self._venue_now_ns()
                    log.info("transaction expired unused; still read a while in case the user began it late",
                             venue=self.venue, transaction_id=tracked.transaction_id, grace_s=self.config.expiry_grace_s)
                reports.append(self.report(leg, *moved, filled=filled, notional=notional))
        return Look(fills=fills, reports=reports)

    def _finalise_unlisted(self, tracked: Tracked, states: dict[tuple[str, str], LegState], view: TransactionView) -> bool:
        """A COMPLETED view that lists not every open order: whether to end those orders now (after
        `unlisted_polls` such views) rather than read the order details again."""
        if view.status != "COMPLETED" or view.error is not None:
            return True
        missing = [leg.vid for key, leg in tracked.legs.items()
                   if not leg.status.is_terminal and not known(states.get(key))]
        if not missing:
            return True
        tracked.unlisted += 1
        if tracked.unlisted < self.config.unlisted_polls:
            log.info("transaction completed but its batches do not list every order yet; reading again",
                     venue=self.venue, transaction_id=tracked.transaction_id, orders=missing, views=tracked.unlisted)
            self._read_again()
            return False
        log.warning("transaction completed without listing these orders; they end by the batch's status",
                    venue=self.venue, transaction_id=tracked.transaction_id, orders=missing)
        return True

    def _log_unmatched(self, tracked: Tracked, states: dict[tuple[str, str], LegState]) -> None:
        for key in states.keys() - tracked.legs.keys() - tracked.unmatched:
            tracked.unmatched.add(key)
            log.warning("a batch order matches no order of the transaction", venue=self.venue,
                        transaction_id=tracked.transaction_id, ticker=key[0], side=key[1])

    def _fill(self, leg: Leg, state: LegState) -> Fill:
        """The growth of a leg's cumulative fill since its mark, as one fill (the mark not moved)."""
        qty = state.filled - leg.filled
        price = (state.notional - leg.notional) / qty
        fill_id = f"{leg.vid}:{state.filled}"
        self._offered[fill_id] = (leg, state.filled, state.notional)
        o = leg.order
        return Fill(
            venue=self.venue, instrument=o.instrument, side=o.side, qty=qty, price=price,
            fill_id=fill_id, fee_asset="INR", client_order_id=o.client_order_id,
            venue_order_id=leg.vid, ts_event=self._now_ns(),
        )

    def report(
        self, leg: Leg, status: OrderStatus | None = None, reason: str | None = None, *,
        filled: Decimal | None = None, notional: Decimal | None = None,
    ) -> OrderReport:
        """The leg as its marks stand, or as `status` (with `reason`) and the totals given."""
        filled = leg.filled if filled is None else filled
        notional = leg.notional if notional is None else notional
        o = leg.order
        return OrderReport(
            venue=self.venue, status=leg.status if status is None else status, client_order_id=o.client_order_id,
            venue_order_id=leg.vid, filled_qty=filled, avg_price=notional / filled if filled else None,
            reason=leg.reason if status is None else reason, instrument=o.instrument, side=o.side, ts_event=self._now_ns(),
        )

    # --- the sink the core delivers to: marks move once the order manager took the event -------

    def on_fill(self, fill: Fill) -> None:
        self.sink.on_fill(fill)
        offered = self._offered.pop(fill.fill_id, None)
        if offered is not None:
            leg, filled, notional = offered
            if filled > leg.filled:
                leg.filled, leg.notional = filled, notional

    def on_order_report(self, report: OrderReport) -> None:
        self.sink.on_order_report(report)
        leg = self._legs.get(report.venue_order_id or "")
        if leg is not None:
            leg.status, leg.reason = report.status, report.reason

    def on_balance(self, balance: Balance) -> None:
        self.sink.on_balance(balance)

    # --- helpers ------------------------------------------------------------------------------

    def legs(self) -> Iterable[Leg]:
        return self._legs.values()
