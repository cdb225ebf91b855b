"""Firstock under the conformance suite: NSE:SBIN on a Friday with the market open, limit orders
priced off the emulator's quote in SBIN's tick; order updates pushed over the V2 socket."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from adapters.india import IST
from tests.venues.drivers.base import Driver, OrderTerms

OPEN_FRIDAY = datetime(2026, 11, 20, 9, 20, tzinfo=IST)


class FirstockDriver(Driver):
    def _bid(self, emulator: Any) -> tuple[Decimal, Decimal]:
        quote = emulator.exchange.market(self.symbol).quote
        assert quote is not None, "the emulator has no quote yet"
        tick = Decimal(emulator.scrips[self.symbol].tick)
        return Decimal(repr(quote.bid)).quantize(tick), tick

    def resting(self, emulator: Any) -> OrderTerms:
        bid, tick = self._bid(emulator)
        return OrderTerms("buy", Decimal(20), bid - 40 * tick, "day")  # in whole shares: 20 / 4 and 20 / 5

    def filling(self, emulator: Any, qty: Decimal | None = None) -> OrderTerms:
        bid, tick = self._bid(emulator)
        return OrderTerms("buy", qty or Decimal(1), bid + 200 * tick, "day")

    def lower(self, price: Decimal) -> Decimal:
        return price - Decimal("0.50")


DRIVER = FirstockDriver(
    venue="firstock", place_route="POST /V1/placeOrder", symbol="NSE:SBIN",
    config={
        "emulator_start": OPEN_FRIDAY.isoformat(), "symbols": ["NSE:SBIN"], "poll_s": 0.5,
        "stale_after_s": 5.0, "requests_per_s": 100, "login_retry_s": 0.2,
    },
)
