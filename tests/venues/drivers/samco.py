"""Samco under the conformance suite."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.venues.drivers.base import SCENARIOS, Driver, OrderTerms

REWORK = "samco emulator being reworked; wire after merge"


class SamcoDriver(Driver):
    def resting(self, emulator: Any) -> OrderTerms:
        raise NotImplementedError(REWORK)

    def filling(self, emulator: Any, qty: Decimal | None = None) -> OrderTerms:
        raise NotImplementedError(REWORK)


DRIVER = SamcoDriver(venue="samco", place_route="POST /order/placeOrder", symbol="NSE:SBIN", xfail=dict.fromkeys(SCENARIOS, REWORK))
