"""The order status table of design.md: every allowed and every refused transition, and a
hypothesis run of random venue reports and fills against one order's invariants."""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.events import Fill, OrderReport, OrderStatus
from engine.orders.table import TRANSITIONS, can_transition
from tests.engine._order_fixtures import ready_parts, settle, submit_limit

S = OrderStatus

# Written out from design.md's table, independently of engine.orders.table.TRANSITIONS.
DESIGN_TABLE: dict[str, set[str]] = {
    "new": {"submitted", "rejected"},
    "submitted": {"placed", "updated", "completed", "cancelled", "rejected", "expired"},
    "placed": {"updated", "completed", "cancelled", "rejected", "expired"},
    "updated": {"updated", "completed", "cancelled", "expired"},
    "completed": set(),
    "cancelled": set(),
    "rejected": set(),
    "expired": set(),
}
ALL_PAIRS = list(itertools.product(list(OrderStatus), repeat=2))
ALLOWED = [(a, b) for a, b in ALL_PAIRS if b.value in DESIGN_TABLE[a.value]]
REFUSED = [(a, b) for a, b in ALL_PAIRS if b.value not in DESIGN_TABLE[a.value]]


def test_design_table_names_every_status_the_engine_has() -> None:
    assert set(DESIGN_TABLE) == {s.value for s in OrderStatus}
    assert set(TRANSITIONS) == set(OrderStatus)
    assert len(ALLOWED) == 17
    assert len(ALLOWED) + len(REFUSED) == 64


@pytest.mark.parametrize(("current", "target"), ALLOWED, ids=[f"{a}->{b}" for a, b in ALLOWED])
def test_transition_allowed_by_the_design_table(current: OrderStatus, target: OrderStatus) -> None:
    assert can_transition(current, target) is True
    assert target in TRANSITIONS[current]


@pytest.mark.parametrize(("current", "target"), REFUSED, ids=[f"{a}->{b}" for a, b in REFUSED])
def test_transition_refused_by_the_design_table(current: OrderStatus, target: OrderStatus) -> None:
    assert can_transition(current, target) is False
    assert target not in TRANSITIONS[current]


@pytest.mark.parametrize("status", [s for s in OrderStatus if s.is_terminal])
def test_terminal_statuses_go_nowhere(status: OrderStatus) -> None:
    assert not TRANSITIONS[status]
    assert status.value in {"completed", "cancelled", "rejected", "expired"}


# --- hypothesis: random reports and fills against one order ----------------------------------

ORDER_QTY = Decimal(10)
# a fill id chosen from a small pool, so duplicates happen often
_fill = st.tuples(
    st.just("fill"),
    st.integers(min_value=0, max_value=7).map(lambda i: f"f{i}"),
    st.integers(min_value=1, max_value=40).map(lambda n: Decimal(n) / 10),  # 0.1 .. 4.0
    st.integers(min_value=90, max_value=110).map(Decimal),
)
_report = st.tuples(st.just("report"), st.sampled_from(list(OrderStatus)))
STEPS = st.lists(st.one_of(_fill, _report), min_size=1, max_size=25)


async def _drive(steps: list[tuple]) -> None:  # type: ignore[type-arg]
    parts, venue = await ready_parts()
    # the venue acknowledges nothing yet: hold the order as submitted while the steps run
    venue.place_gate = asyncio.Event()
    order = submit_limit(parts, qty=str(ORDER_QTY))
    for _ in range(100):  # let the send task move the order to submitted and reach the venue
        if venue.count("place"):
            break
        await asyncio.sleep(0)
    manager = parts.manager
    coid = order.client_order_id
    assert manager.orders[coid].status is S.SUBMITTED
    fill_sizes: dict[str, Decimal] = {}  # distinct fills applied: id -> qty (first one wins)
    fill_value: dict[str, Decimal] = {}  # distinct fills applied: id -> qty * price
    last = manager.orders[coid]
    for step in steps:
        if step[0] == "fill":
            _, fill_id, qty, price = step
            fill = Fill(
                venue=order.venue, instrument=order.instrument, side=order.side, qty=qty,
                price=price, fill_id=fill_id, client_order_id=coid,
            )
            fill_sizes.setdefault(fill_id, qty)
            fill_value.setdefault(fill_id, qty * price)
            manager.on_fill(fill)
        else:
            manager.on_order_report(
                OrderReport(venue=order.venue, client_order_id=coid, status=step[1])
            )
        now = manager.orders[coid]
        # status only moves along the table, or stays
        assert now.status is last.status or can_transition(last.status, now.status), (
            last.status, now.status,
        )
        # terminal statuses never change
        if last.status.is_terminal:
            assert now.status is last.status
        # filled_qty is monotone and is the sum of the distinct fills
        assert now.filled_qty >= last.filled_qty
        assert now.filled_qty == sum(fill_sizes.values(), Decimal(0))
        # avg_price is the quantity-weighted average of the distinct fills, in one division
        if fill_sizes:
            total_qty = sum(fill_sizes.values(), Decimal(0))
            assert now.avg_price == sum(fill_value.values(), Decimal(0)) / total_qty
        else:
            assert now.avg_price is None
        # fills move an open order to completed when they reach the quantity
        if now.filled_qty >= ORDER_QTY and last.status.is_open and step[0] == "fill":
            assert now.status is S.COMPLETED
        # the journal's last snapshot is the manager's order
        assert parts.journal.load().orders[coid] == now
        last = now
    venue.place_gate.set()
    await settle(parts)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(steps=STEPS)
def test_random_reports_and_fills_keep_the_order_invariants(steps: list[tuple]) -> None:  # type: ignore[type-arg]
    asyncio.run(asyncio.wait_for(_drive(steps), 10))
