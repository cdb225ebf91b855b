"""GOPAX under the conformance suite: ETH-KRW, limit orders priced off the emulator's book."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.venues.drivers.base import Driver, OrderTerms

TICK = Decimal(1000)  # ETH-KRW's tick in its price band (millions of KRW)


def on_tick(price: Decimal) -> Decimal:
    return (price // TICK) * TICK


class GopaxDriver(Driver):
    def _touch(self, emulator: Any, bids: bool) -> Decimal:
        return Decimal(repr(emulator.books[self.symbol].side(bids, 1)[0].price))

    def resting(self, emulator: Any) -> OrderTerms:
        far = on_tick(self._touch(emulator, True) * Decimal("0.8"))
        return OrderTerms("buy", Decimal("0.5"), far)

    def filling(self, emulator: Any, qty: Decimal | None = None) -> OrderTerms:
        through = on_tick(self._touch(emulator, False) * Decimal("1.05"))
        return OrderTerms("buy", qty or Decimal("0.01"), through)


DRIVER = GopaxDriver(
    venue="gopax", place_route="POST /orders", symbol="ETH-KRW",
    not_applicable={
        "modify": "GOPAX has no order amendment (cancel and place again); the venue refuses modify",
        "session_expiry": "GOPAX has no session or token: every request is signed with the API secret",
    },
)
