"""The transactions a run follows: each one's engine orders (legs), and a basket being gathered.

A transaction is followed until the venue's last word on it (COMPLETED with every order settled,
ERRORED, not found); one that expired here unused is still read `expiry_grace_s` longer, and for as
long as the venue shows the user began it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal

from engine.events import ZERO, Order, OrderStatus


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

    def followed(self, now_ns: int, grace_ns: int) -> bool:
        """Whether it is still worth reading: until the venue's last word, and for a transaction
        that expired here unused, for `grace_ns` more (longer if the user turns out to have begun)."""
        if self.final:
            return False
        if not self.done or self.begun:
            return True
        return self.expired_ns is not None and now_ns < self.expired_ns + grace_ns


class Basket:
    """The orders of one transaction while it is being gathered."""

    def __init__(self) -> None:
        self.orders: dict[tuple[str, str], Order] = {}
        self.created: asyncio.Future[str] = asyncio.get_running_loop().create_future()
