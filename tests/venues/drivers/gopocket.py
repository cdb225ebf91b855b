"""GoPocket under the conformance suite: NSE:SBIN on a Monday with the market open, limit orders
priced off the emulator's quote in SBIN's tick; order updates pushed over the Noren socket (`om`)
with the order book polled behind it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from adapters.india import IST
from tests.venues.drivers.base import Driver, OrderTerms

OPEN_MONDAY = datetime(2026, 12, 7, 10, 0, tzinfo=IST)


class GopocketDriver(Driver):
    def _bid(self, emulator: Any) -> tuple[Decimal, Decimal]:
        quote = emulator.exchange.market(self.symbol).quote
        assert quote is not None, "the emulator has no quote yet"
        tick = Decimal(emulator.by_key[self.symbol].tick)
        return Decimal(repr(quote.bid)).quantize(tick), tick

    def resting(self, emulator: Any) -> OrderTerms:
        bid, tick = self._bid(emulator)
        return OrderTerms("buy", Decimal(20), bid - 40 * tick, "day")  # a fifth and a quarter of it whole

    def filling(self, emulator: Any, qty: Decimal | None = None) -> OrderTerms:
        bid, tick = self._bid(emulator)
        return OrderTerms("buy", qty or Decimal(1), bid + 200 * tick, "day")

    def lower(self, price: Decimal) -> Decimal:
        return price - Decimal("0.50")


DRIVER = GopocketDriver(
    venue="gopocket", place_route="POST /open-api/order/v1/orders/placeorder", symbol="NSE:SBIN",
    config={
        "emulator_start": OPEN_MONDAY.isoformat(), "symbols": ["NSE:SBIN"],
        "poll_fast_s": 0.05, "poll_slow_s": 0.1, "poll_idle_s": 0.2, "fast_window_s": 0.5, "stale_after_s": 5.0,
        "rate_limits": [{"calls": 100, "per_s": 1.0}],
    },
)
