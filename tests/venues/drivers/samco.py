"""Samco under the conformance suite: NSE:SBIN on a Friday with the market open, limit orders priced
off the emulator's quote in SBIN's tick."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from adapters.india import IST
from tests.venues.drivers.base import Driver, OrderTerms

OPEN_FRIDAY = datetime(2026, 11, 20, 9, 20, tzinfo=IST)


class SamcoDriver(Driver):
    def _bid(self, emulator: Any) -> tuple[Decimal, Decimal]:
        quote = emulator.exchange.market(self.symbol).quote
        assert quote is not None, "the emulator has no quote yet"
        tick = Decimal(emulator.scrips[self.symbol].tick)
        return Decimal(repr(quote.bid)).quantize(tick), tick

    def resting(self, emulator: Any) -> OrderTerms:
        bid, tick = self._bid(emulator)
        return OrderTerms("buy", Decimal(5), bid - 40 * tick, "day")  # well inside the day's band

    def filling(self, emulator: Any, qty: Decimal | None = None) -> OrderTerms:
        bid, tick = self._bid(emulator)
        return OrderTerms("buy", qty or Decimal(1), bid + 200 * tick, "day")

    def lower(self, price: Decimal) -> Decimal:
        return price - Decimal("0.50")


POLLED = "Samco's stream carries market data only; orders are read from the order book on a budget"

DRIVER = SamcoDriver(
    venue="samco", place_route="POST /order/placeOrder", symbol="NSE:SBIN",
    streams=False,
    not_applicable={
        "out_of_order": POLLED + "; each look is a whole view of the order, there is no stream to reorder",
        "ws_drop": POLLED + "; a look that fails is followed by the next one",
    },
    config={
        "emulator_start": OPEN_FRIDAY.isoformat(), "symbols": ["NSE:SBIN"],
        "poll_fast_s": 0.05, "poll_slow_s": 0.1, "poll_idle_s": 0.2, "fast_window_s": 0.5,
        "session_check_s": 0.02, "stale_after_s": 5.0, "requests_per_s": 100,
    },
)
