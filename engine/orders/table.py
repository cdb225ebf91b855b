"""The order status table of the architecture, as data: which status may follow which."""

from __future__ import annotations

from collections.abc import Mapping

from engine.events import OrderStatus

S = OrderStatus

# The status table of design.md, as data: status -> statuses it may move to.
TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = {
    S.NEW: frozenset({S.SUBMITTED, S.REJECTED}),
    S.SUBMITTED: frozenset({S.PLACED, S.UPDATED, S.COMPLETED, S.CANCELLED, S.REJECTED, S.EXPIRED}),
    # placed -> rejected: Indian brokers acknowledge (PENDING), then the exchange or the RMS refuses
    S.PLACED: frozenset({S.UPDATED, S.COMPLETED, S.CANCELLED, S.REJECTED, S.EXPIRED}),
    S.UPDATED: frozenset({S.UPDATED, S.COMPLETED, S.CANCELLED, S.EXPIRED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    return target in TRANSITIONS[current]
