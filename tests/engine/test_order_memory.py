"""Bounded memory: finished orders leave the order book once `keep_finished` newer ones finished,
the journal keeps them, and a late report or fill of one brings it back."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.events import Order, OrderStatus
from engine.orders.journal import Journal
from tests.engine._order_fixtures import (
    SIM_INST,
    Parts,
    ScriptedVenue,
    build_parts,
    fill_for,
    journal_path,
    ready_parts,
    report_for,
    settle,
    submit_limit,
)

S = OrderStatus
D = Decimal


async def turn() -> None:
    """Let the end-of-turn journal flush (and the retirement after it) run."""
    for _ in range(3):
        await asyncio.sleep(0)


async def cancelled_orders(parts: Parts, n: int) -> list[Order]:
    """`n` limit buys, placed by the scripted venue, then cancelled by the venue, oldest first."""
    orders = [submit_limit(parts) for _ in range(n)]
    await settle(parts)
    manager = parts.manager
    for order in orders:
        manager.on_order_report(report_for(manager.orders[order.client_order_id], S.CANCELLED))
    await turn()
    return orders


async def test_finished_orders_beyond_the_limit_leave_memory_and_are_still_counted_and_found() -> None:
    parts, _ = await ready_parts(keep_finished=3)
    orders = await cancelled_orders(parts, 10)
    manager = parts.manager
    assert [coid for coid in manager.orders] == [o.client_order_id for o in orders[-3:]]
    assert manager.stats.retired == 7
    assert manager.book.counts_by_status() == {"cancelled": 10}
    oldest = manager.get(orders[0].client_order_id)
    assert oldest is not None and oldest.status is S.CANCELLED
    assert orders[0].client_order_id not in manager.orders  # read back, not brought back
    assert len(parts.journal.load().orders) == 10  # the journal lost nothing


async def test_finished_orders_leave_in_batches_of_a_sixteenth_of_the_limit() -> None:
    parts, _ = await ready_parts(keep_finished=32)
    await cancelled_orders(parts, 34)  # 32 + 32 // 16: not yet beyond the batch
    assert parts.manager.stats.retired == 0 and len(parts.manager.orders) == 34
    await cancelled_orders(parts, 1)
    assert parts.manager.stats.retired == 3 and len(parts.manager.orders) == 32  # back to the limit at once


async def test_open_orders_never_leave_memory() -> None:
    parts, _ = await ready_parts(keep_finished=0)
    open_order = submit_limit(parts)
    await settle(parts)
    await cancelled_orders(parts, 4)
    manager = parts.manager
    assert list(manager.orders) == [open_order.client_order_id]
    assert manager.orders[open_order.client_order_id].status is S.PLACED
    assert manager.stats.retired == 4


async def test_a_fill_after_a_cancel_of_a_retired_order_brings_it_back_and_is_applied() -> None:
    parts, _ = await ready_parts(keep_finished=1)
    orders = await cancelled_orders(parts, 1)
    manager = parts.manager
    first = manager.orders[orders[0].client_order_id]
    manager.on_fill(fill_for(first, "f1", "0.5", price="101"))
    await cancelled_orders(parts, 3)
    assert first.client_order_id not in manager.orders
    # the venue names the order by its own id only, as most venues do in their trade feeds
    manager.on_fill(fill_for(first, "f2", "0.5", price="103", by_client_id=False, venue_order_id=first.venue_order_id))
    back = manager.orders[first.client_order_id]
    assert back.status is S.CANCELLED
    assert back.filled_qty == D(1)
    assert back.avg_price == D(102)  # the sum of the retired fills came back exactly
    assert manager.stats.recalled == 1
    assert parts.portfolio.position(SIM_INST.id).qty == D(1)
    assert [f.fill_id for f in parts.fills] == ["f1", "f2"]


async def test_a_duplicate_of_a_retired_orders_fill_is_recognised() -> None:
    parts, _ = await ready_parts(keep_finished=1)
    orders = await cancelled_orders(parts, 1)
    manager = parts.manager
    first = manager.orders[orders[0].client_order_id]
    fill = fill_for(first, "f1", "1")
    manager.on_fill(fill)
    await cancelled_orders(parts, 3)
    assert first.client_order_id not in manager.orders
    manager.on_fill(fill)
    assert manager.stats.duplicate_fills == 1
    assert manager.orders[first.client_order_id].filled_qty == D(1)
    assert parts.portfolio.position(SIM_INST.id).qty == D(1)


async def test_an_order_a_request_in_flight_still_reads_stays_in_memory() -> None:
    venue = ScriptedVenue()
    parts, _ = await ready_parts(venue, keep_finished=0)
    venue.place_gate = asyncio.Event()
    order = submit_limit(parts)
    for _ in range(100):  # bounded: the send task needs a couple of loop turns
        if venue.count("place"):
            break
        await asyncio.sleep(0)
    manager = parts.manager
    # the venue's stream reports it filled before the placement request has returned
    manager.on_fill(fill_for(order, "f1", "1", by_client_id=True))
    await turn()
    assert manager.orders[order.client_order_id].status is S.COMPLETED
    assert manager.stats.retired == 0
    venue.place_gate.set()
    await settle(parts)
    await cancelled_orders(parts, 1)  # a later flush retires it once the request is done
    assert order.client_order_id not in manager.orders
    assert manager.stats.retired == 2


async def test_a_restart_keeps_only_the_latest_finished_orders_in_memory(tmp_path: Path) -> None:
    path = journal_path(tmp_path)
    parts, _ = await ready_parts(journal=Journal(path))
    orders = await cancelled_orders(parts, 6)
    first = parts.manager.orders[orders[0].client_order_id]
    parts.manager.on_fill(fill_for(first, "f1", "1"))
    await turn()
    parts.journal.close()

    venue = ScriptedVenue()
    again = build_parts({venue.name: venue}, journal=Journal(path), keep_finished=2)
    await asyncio.wait_for(again.manager.recover(), 10)
    manager = again.manager
    assert len(manager.orders) == 2
    assert manager.book.counts_by_status() == {"cancelled": 6}
    manager.on_fill(fill_for(first, "f1", "1", by_client_id=False, venue_order_id=first.venue_order_id))
    assert manager.stats.duplicate_fills == 1  # known from the journal, not applied twice
    assert again.portfolio.position(SIM_INST.id).qty == D(1)
    again.journal.close()


async def test_a_journal_that_cannot_take_retired_orders_keeps_them_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    parts, _ = await ready_parts(keep_finished=1)

    def refuse(records: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(parts.journal, "retire", refuse)
    await cancelled_orders(parts, 4)
    assert len(parts.manager.orders) == 4
    assert parts.manager.stats.retired == 0


async def test_ids_of_a_restart_in_the_same_millisecond_skip_the_retired_orders_of_the_run_before(tmp_path: Path) -> None:
    from engine.orders.ids import ClientOrderIds

    path = journal_path(tmp_path)
    stamp = 1_700_000_000_000
    venue = ScriptedVenue()
    a = build_parts({venue.name: venue}, journal=Journal(path), ids=ClientOrderIds(start_ms=stamp), keep_finished=0)
    await asyncio.wait_for(a.manager.recover(), 10)
    first = [o.client_order_id for o in await cancelled_orders(a, 3)]
    assert not a.manager.orders and a.manager.stats.retired == 3  # only the journal has them now
    a.journal.close()
    b = build_parts({venue.name: venue}, journal=Journal(path), ids=ClientOrderIds(start_ms=stamp), keep_finished=0)
    await asyncio.wait_for(b.manager.recover(), 10)
    later = [submit_limit(b).client_order_id for _ in range(3)]
    await settle(b)
    assert not set(first) & set(later)
    assert later[0] > first[-1]  # the sequence went on past the ids the journal holds


async def test_a_book_that_does_not_flush_each_turn_commits_on_flush_and_before_a_request(tmp_path: Path) -> None:
    parts, venue = await ready_parts(journal=Journal(journal_path(tmp_path)))
    book = parts.manager.book
    book.flush_each_turn = False  # as a backtest has it
    first = submit_limit(parts)
    await settle(parts)
    assert venue.count("place") == 1
    assert parts.journal.commits >= 1  # the placement was committed before it left
    parts.manager.on_order_report(report_for(parts.manager.orders[first.client_order_id], S.CANCELLED))
    await turn()
    assert parts.journal.uncommitted  # the cancel waits: no commit at the end of the turn
    book.flush()
    assert not parts.journal.uncommitted
