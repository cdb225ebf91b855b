"""Journal -> restart -> rebuild -> reconcile.

The paper broker plays a venue that outlives the engine: one PaperBroker instance, on its own
"market" bus, reports through a forwarding sink whose target is manager A, then nobody (the
engine is down: reports are lost), then manager B built on the same journal file.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from adapters.paper.broker import PaperBroker
from engine.clock import SimulatedClock
from engine.data.bus import Bus
from engine.events import Order, OrderReport, OrderStatus, OrderType, Pending, Quote, Side
from engine.orders.ids import ClientOrderIds
from engine.orders.journal import Journal
from tests.engine._order_fixtures import (
    PAPER_INST,
    SIM_INST,
    START_NS,
    ForwardingSink,
    Parts,
    ScriptedVenue,
    bounded,
    build_parts,
    fill_for,
    journal_path,
    make_paper_broker,
    quote,
    report_for,
    settle,
    submit_limit,
)

S = OrderStatus
D = Decimal
NS = 1_000_000_000



def crash(journal: Journal) -> None:
    """The process dies: its connection goes, and with it whatever it had not committed."""
    journal._db.close()


def seed_journal(path: Path, order: Order) -> None:
    """What a crashed engine left behind: one committed snapshot of `order`."""
    journal = Journal(path)
    journal.write(START_NS, [("order", order.client_order_id, order)])
    journal.commit()


class World:
    """The venue side that survives a restart: a market bus, a clock, the broker and its sink."""

    def __init__(self, balances: dict[str, str]) -> None:
        self.market = Bus()
        self.clock = SimulatedClock(START_NS)
        self.sink = ForwardingSink()
        self.broker: PaperBroker = make_paper_broker(self.market, self.clock, self.sink, balances)

    def quote(self, bid: str, ask: str, bid_size: str = "5", ask_size: str = "5") -> None:
        self.clock.advance_to(self.clock.now_ns() + NS)
        q: Quote = quote(PAPER_INST.id, bid, ask, bid_size, ask_size, self.clock.now_ns())
        self.market.publish(q, q.instrument)

    def engine(self, path: Path, **kw: Any) -> Parts:
        """A fresh engine (new bus, journal connection, portfolio, risk, manager) on `path`."""
        return build_parts(
            {"paper": self.broker}, instrument=PAPER_INST, journal=Journal(path), clock=self.clock, **kw
        )


async def test_restart_rebuilds_open_orders_and_reconciles_what_happened_while_down(tmp_path: Path) -> None:
    path = journal_path(tmp_path)
    world = World({"KRW": "1000000", "BTC": "10"})
    broker = world.broker

    # --- engine A: trade, get a partial fill -------------------------------------------------
    a = world.engine(path)
    world.sink.target = a.manager
    await bounded(broker.connect())
    await bounded(a.manager.recover())
    world.quote("90", "105")
    buy = submit_limit(a, qty="2", price="101", instrument=PAPER_INST)
    sell = submit_limit(a, qty="1", price="110", side=Side.SELL, instrument=PAPER_INST)
    gone = submit_limit(a, qty="1", price="95", instrument=PAPER_INST)
    await settle(a)
    assert {a.manager.orders[o.client_order_id].status for o in (buy, sell, gone)} == {S.PLACED}
    world.quote("90", "101", ask_size="0.5")  # buy: 0.5 of 2 at 101
    assert a.manager.orders[buy.client_order_id].filled_qty == D("0.5")
    assert a.manager.orders[buy.client_order_id].status is S.UPDATED

    # --- crash: A is dropped without stop, its journal is not closed -------------------------
    world.sink.target = None
    del a
    # while down: more of the buy fills, the sell fills completely, another client cancels `gone`
    world.quote("90", "101", ask_size="0.7")
    world.quote("110", "111", bid_size="5")
    await bounded(broker.cancel(gone))
    assert world.sink.dropped >= 3  # the engine heard none of it

    # --- engine B: same journal file, same venue ---------------------------------------------
    b = world.engine(path)
    world.sink.target = b.manager
    assert b.manager.ready is False
    assert b.manager.orders == {}
    summary = await bounded(b.manager.recover())
    assert b.manager.ready is True
    assert summary["orders"] == 3 and summary["fills"] == 1

    manager = b.manager
    rebuilt = manager.orders[buy.client_order_id]
    assert rebuilt.status is S.UPDATED
    assert rebuilt.filled_qty == D("1.2")  # 0.5 from the journal + 0.7 found by fills_since
    assert rebuilt.avg_price == D(101)
    assert manager.open_orders() == [rebuilt]
    assert manager.orders[sell.client_order_id].status is S.COMPLETED
    assert manager.orders[sell.client_order_id].filled_qty == D(1)
    assert manager.orders[gone.client_order_id].status is S.CANCELLED
    assert manager.stats.duplicate_fills == 1  # the fill A already journalled came back once
    assert manager.stats.fills == 2

    # the portfolio B rebuilt matches what the venue's account holds
    position = b.portfolio.position(PAPER_INST.id)
    assert position.qty == D("0.2")
    assert broker.account.total("BTC") - D(10) == position.qty
    assert b.portfolio.balance("paper", "BTC").total == broker.account.total("BTC")  # type: ignore[union-attr]
    assert b.portfolio.balance("paper", "KRW").total == broker.account.total("KRW")  # type: ignore[union-attr]

    # the journal now holds B's view, and B keeps trading the rebuilt order
    world.quote("90", "101", ask_size="5")
    assert manager.orders[buy.client_order_id].status is S.COMPLETED
    assert manager.orders[buy.client_order_id].filled_qty == D(2)
    await asyncio.sleep(0)  # the turn ends: the journal commits what it wrote
    third = Journal(path)
    try:
        state = third.load()
        assert state.orders[buy.client_order_id] == manager.orders[buy.client_order_id]
        assert sorted(f.fill_id for f in state.fills) == sorted(f.fill_id for f in await broker.fills_since(0))
    finally:
        third.close()
    b.journal.close()


async def test_an_order_journalled_as_new_is_rejected_on_recover_and_never_sent(tmp_path: Path) -> None:
    path = journal_path(tmp_path)
    world = World({"KRW": "1000000"})
    never_sent = Order(
        client_order_id="tbnever001", strategy_id="s1", instrument=PAPER_INST.id, venue="paper",
        side=Side.BUY, type=OrderType.LIMIT, qty=D(1), price=D(100), created_ns=START_NS,
    )
    crashed = Journal(path)
    crashed.write(START_NS, [("order", never_sent.client_order_id, never_sent)])
    crashed.commit()
    b = world.engine(path)
    world.sink.target = b.manager
    await bounded(world.broker.connect())
    await bounded(b.manager.recover())
    current = b.manager.orders["tbnever001"]
    assert current.status is S.REJECTED
    assert current.reason is not None and "not sent" in current.reason
    assert await world.broker.order_status(never_sent) is None  # not sent during recovery either
    assert b.journal.load().orders["tbnever001"] == current
    assert [u.order.status for u in b.updates] == [S.REJECTED]


@pytest.mark.parametrize(
    ("journalled", "expected"),
    [(S.PLACED, S.CANCELLED), (S.UPDATED, S.CANCELLED), (S.SUBMITTED, S.REJECTED)],
    ids=["placed", "updated", "submitted"],
)
async def test_an_open_order_the_venue_no_longer_knows_is_closed_on_recover(
    tmp_path: Path, journalled: OrderStatus, expected: OrderStatus
) -> None:
    path = journal_path(tmp_path)
    world = World({"KRW": "1000000"})
    order = Order(
        client_order_id="tbghost001", strategy_id="s1", instrument=PAPER_INST.id, venue="paper",
        side=Side.BUY, type=OrderType.LIMIT, qty=D(2), price=D(100), status=journalled,
        venue_order_id=None if journalled is S.SUBMITTED else "tbghost001",
        filled_qty=D(1) if journalled is S.UPDATED else D(0),
    )
    seed_journal(path, order)
    b = world.engine(path)
    world.sink.target = b.manager
    await bounded(world.broker.connect())
    await bounded(b.manager.recover())
    current = b.manager.orders["tbghost001"]
    assert current.status is expected
    assert current.filled_qty == order.filled_qty
    assert current.reason is not None and "reconciliation" in current.reason
    assert b.manager.open_count == 0


async def test_a_submitted_order_the_venue_did_receive_is_adopted_on_recover(tmp_path: Path) -> None:
    path = journal_path(tmp_path)
    venue = ScriptedVenue()
    crashed = build_parts({venue.name: venue}, journal=Journal(path))
    await bounded(crashed.manager.recover())
    order = crashed.manager.submit(
        strategy_id="s1", instrument=SIM_INST.id, venue=SIM_INST.venue, side=Side.BUY,
        qty=D(1), type=OrderType.LIMIT, price=D(100),
    )
    # the crash comes after the order was journalled as submitted, before any answer
    submitted = msgspec.structs.replace(order, status=S.SUBMITTED)
    crashed.journal.write(START_NS, [("order", order.client_order_id, submitted)])
    crashed.journal.commit()
    crash(crashed.journal)
    crashed.manager.venues = {}  # the dead engine never talks to the venue again
    venue.open_result = [report_for(order, S.PLACED, venue_order_id="v-77")]
    venue.calls.clear()

    b = build_parts({venue.name: venue}, journal=Journal(path))
    summary = await bounded(b.manager.recover())
    current = b.manager.orders[order.client_order_id]
    assert current.status is S.PLACED
    assert current.venue_order_id == "v-77"
    assert venue.count("place") == 0  # never sent twice
    assert summary["sim_unknown_open"] == 0
    await settle(crashed)


async def test_an_open_order_listed_by_venue_id_only_is_not_unknown_when_its_lookup_matches_it(tmp_path: Path) -> None:
    """Samco lists open orders by its own order number; the journal has the order as submitted
    (the answer with that number was lost): the status lookup by client id matches them."""
    path = journal_path(tmp_path)
    venue = ScriptedVenue()
    crashed = build_parts({venue.name: venue}, journal=Journal(path))
    await bounded(crashed.manager.recover())
    order = crashed.manager.submit(
        strategy_id="s1", instrument=SIM_INST.id, venue=SIM_INST.venue, side=Side.BUY,
        qty=D(1), type=OrderType.LIMIT, price=D(100),
    )
    submitted = msgspec.structs.replace(order, status=S.SUBMITTED)
    crashed.journal.write(START_NS, [("order", order.client_order_id, submitted)])
    crashed.journal.commit()
    crash(crashed.journal)
    crashed.manager.venues = {}
    venue.open_result = [OrderReport(venue="sim", status=S.PLACED, venue_order_id="v-88")]
    venue.status_result = report_for(order, S.PLACED, venue_order_id="v-88")

    b = build_parts({venue.name: venue}, journal=Journal(path))
    summary = await bounded(b.manager.recover())
    assert summary["sim_unknown_open"] == 0
    current = b.manager.orders[order.client_order_id]
    assert current.status is S.PLACED and current.venue_order_id == "v-88"
    assert venue.count("place") == 0
    await settle(crashed)


async def test_recover_counts_open_orders_at_the_venue_the_journal_does_not_know(tmp_path: Path) -> None:
    venue = ScriptedVenue()
    venue.open_result = [
        OrderReport(venue="sim", status=S.PLACED, venue_order_id="x1"),
        OrderReport(venue="sim", status=S.UPDATED, venue_order_id="x2", client_order_id="tbother001"),
    ]
    b = build_parts({venue.name: venue}, journal=Journal(journal_path(tmp_path)))
    summary = await bounded(b.manager.recover())
    assert summary["sim_unknown_open"] == 2
    assert b.manager.orders == {}
    assert b.manager.ready is True


async def test_fills_since_asks_from_a_minute_before_the_last_journalled_fill(tmp_path: Path) -> None:
    path = journal_path(tmp_path)
    venue = ScriptedVenue()
    a = build_parts({venue.name: venue}, journal=Journal(path))
    await bounded(a.manager.recover())
    order = submit_limit(a, qty="2")
    await settle(a)
    a.manager.on_fill(fill_for(order, "f1", "1", ts_event=START_NS + 500 * NS))
    venue.fills_since_calls.clear()
    b = build_parts({venue.name: venue}, journal=Journal(path))
    await bounded(b.manager.recover())
    assert venue.fills_since_calls == [START_NS + 500 * NS - 60 * NS]
    assert b.manager.orders[order.client_order_id].filled_qty == D(1)
    assert b.portfolio.position(SIM_INST.id, "s1").qty == D(1)


async def test_a_cancel_pending_when_the_engine_stopped_is_sent_again_on_recover(tmp_path: Path) -> None:
    path = journal_path(tmp_path)
    world = World({"KRW": "1000000"})
    a = world.engine(path)
    world.sink.target = a.manager
    await bounded(world.broker.connect())
    await bounded(a.manager.recover())
    world.quote("90", "105")
    order = submit_limit(a, qty="1", price="100", instrument=PAPER_INST)
    await settle(a)
    placed = a.manager.orders[order.client_order_id]
    assert placed.status is S.PLACED
    # the strategy asked to cancel; the request was journalled, then the engine died
    flagged = msgspec.structs.replace(placed, pending=Pending.CANCEL)
    a.journal.write(world.clock.now_ns(), [("order", order.client_order_id, flagged)])
    a.journal.commit()
    crash(a.journal)
    world.sink.target = None

    b = world.engine(path)
    world.sink.target = b.manager
    await bounded(b.manager.recover())
    await settle(b)
    current = b.manager.orders[order.client_order_id]
    assert current.status is S.CANCELLED
    assert current.pending is None
    assert not list(world.broker.matching.open_orders())


async def test_a_modify_pending_when_the_engine_stopped_is_cleared_on_recover(tmp_path: Path) -> None:
    path = journal_path(tmp_path)
    venue = ScriptedVenue()
    order = Order(
        client_order_id="tbmod001", strategy_id="s1", instrument=SIM_INST.id, venue="sim",
        side=Side.BUY, type=OrderType.LIMIT, qty=D(1), price=D(100), status=S.PLACED,
        venue_order_id="v-1", pending=Pending.MODIFY,
    )
    seed_journal(path, order)
    venue.open_result = [report_for(order, S.PLACED, venue_order_id="v-1")]
    b = build_parts({venue.name: venue}, journal=Journal(path))
    await bounded(b.manager.recover())
    current = b.manager.orders["tbmod001"]
    assert current.status is S.PLACED
    assert current.pending is None
    # and the strategy can modify it again
    assert b.manager.modify("tbmod001", price=D(99)).pending is Pending.MODIFY  # type: ignore[union-attr]
    await settle(b)
    assert venue.count("modify") == 1


async def test_new_client_order_ids_after_a_restart_never_reuse_journalled_ones(tmp_path: Path) -> None:
    path = journal_path(tmp_path)
    venue = ScriptedVenue()
    venue.status_result = lambda o: report_for(o, S.PLACED)
    stamp = 1_700_000_000_000
    a = build_parts({venue.name: venue}, journal=Journal(path), ids=ClientOrderIds(start_ms=stamp))
    await bounded(a.manager.recover())
    first = [submit_limit(a).client_order_id for _ in range(3)]
    await settle(a)
    # a restart within the same millisecond (or after the wall clock stepped back)
    venue.open_result = [report_for(a.manager.orders[c], S.PLACED) for c in first]
    b = build_parts({venue.name: venue}, journal=Journal(path), ids=ClientOrderIds(start_ms=stamp))
    await bounded(b.manager.recover())
    later = [submit_limit(b).client_order_id for _ in range(3)]
    await settle(b)
    assert not set(first) & set(later)
    for coid in first:
        assert b.manager.orders[coid].status is S.PLACED
        assert b.manager.orders[coid].client_order_id == coid
    assert len(b.journal.load().orders) == 6


async def test_a_status_lookup_that_fails_during_recovery_leaves_the_order_as_it_was(tmp_path: Path) -> None:
    """A network error says nothing about the order: it must not be taken for 'gone'."""
    from engine.errors import VenueUnavailable

    path = journal_path(tmp_path)
    order = Order(
        client_order_id="tbworking01", strategy_id="s1", instrument=SIM_INST.id, venue=SIM_INST.venue,
        side=Side.BUY, type=OrderType.LIMIT, qty=D(1), price=D(100), status=S.PLACED, venue_order_id="v-1",
    )
    seed_journal(path, order)
    venue = ScriptedVenue()
    venue.status_result = VenueUnavailable("sim", "connection reset")
    b = build_parts({venue.name: venue}, journal=Journal(path))
    summary = await bounded(b.manager.recover())
    current = b.manager.orders["tbworking01"]
    assert current.status is S.PLACED and current.reason is None
    assert summary["sim_unresolved"] == 1
    assert b.manager.open_count == 1
    b.journal.close()
